"""ISO 20022 ``camt.053`` (Bank-to-Customer Statement), any version ``camt.053.001.xx``.

Each ``Stmt/Ntry`` (entry) is one booking on the merchant's account. What counts:

- ``Amt`` with its ``Ccy``, and ``CdtDbtInd``: only credits (``CRDT``) can pay;
- ``RvslInd`` true: the entry reverses an earlier one (a credit reversal is booked as a
  debit, a debit reversal as a credit); never a payment. So is a transaction that
  carries return information (``TxDtls/RtrInf``);
- ``Sts``: ``BOOK`` is booked; ``PDNG`` (pending), ``INFO`` and ``FUTR`` are not final
  and are reported, never applied (``<Sts>BOOK</Sts>`` in .001.02, ``<Sts><Cd>BOOK</Cd></Sts>``
  from .001.08);
- ``NtryDtls/TxDtls``: a batch-booked entry holds several transactions, each with its
  own amount (``Amt``, or ``AmtDtls/TxAmt/Amt`` in older versions), references and
  remittance information; each becomes its own line. A batch without transaction
  details stays one line (with the batch total, which matches no single payment);
- references: structured creditor references (``RmtInf/Strd/CdtrRefInf/Ref``) are
  searched first, then unstructured remittance (``RmtInf/Ustrd``), the end-to-end id
  and the additional information texts.

A line's identity (for idempotent re-imports) is the bank's own reference
(``TxDtls/Refs/AcctSvcrRef``, else the entry's ``AcctSvcrRef`` plus the transaction's
position, else statement id + ``NtryRef``), with the account it was booked on.

Documents with a DOCTYPE are refused: statements never need one, and entities are
how XML bombs and external-entity reads are made.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from payreq.kit import money
from payreq.method.statements.model import (
    Direction,
    Statement,
    StatementLine,
    StatementUnreadable,
    content_identity,
    minor_units,
)

FORMAT = "camt.053"
NAMESPACE = re.compile(r"\{(urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.[0-9]{2})\}Document")
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_TRUE = {"true", "1"}


class _Tree:
    """Child lookups by local name within the document's one namespace."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def path(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def all(self, node: ET.Element, path: str) -> list[ET.Element]:
        return node.findall(self.path(path))

    def one(self, node: ET.Element, path: str) -> ET.Element | None:
        return node.find(self.path(path))

    def text(self, node: ET.Element | None, *paths: str) -> str | None:
        """The stripped text of the first of ``paths`` that has some."""
        if node is None:
            return None
        for path in paths:
            found = node.find(self.path(path))
            if found is not None and found.text and found.text.strip():
                return found.text.strip()
        return None

    def texts(self, node: ET.Element, path: str) -> list[str]:
        return [e.text.strip() for e in node.findall(self.path(path)) if e.text and e.text.strip()]


def parse(data: bytes) -> Statement:
    if _DOCTYPE.search(data):
        raise StatementUnreadable("The camt.053 statement has a DOCTYPE or entity declarations; refused.")
    try:
        root = ET.fromstring(data)  # noqa: S314 (no DOCTYPE, so no entities)
    except ET.ParseError as exc:
        raise StatementUnreadable(f"The camt.053 statement is not well-formed XML: {exc}.") from None
    match = NAMESPACE.fullmatch(root.tag)
    if match is None:
        raise StatementUnreadable(
            "The XML is not an ISO 20022 camt.053 document "
            '(expected <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.xx">).'
        )
    tree = _Tree(match.group(1))
    statements = tree.all(root, "BkToCstmrStmt/Stmt")
    if not statements:
        raise StatementUnreadable("The camt.053 document holds no statement (BkToCstmrStmt/Stmt).")
    lines: list[StatementLine] = []
    for stmt in statements:
        lines.extend(_statement(tree, stmt, first_number=len(lines) + 1))
    return Statement(format=FORMAT, lines=lines)


def _statement(tree: _Tree, stmt: ET.Element, *, first_number: int) -> Iterator[StatementLine]:
    account = tree.text(stmt, "Acct/Id/IBAN", "Acct/Id/Othr/Id") or ""
    statement_id = tree.text(stmt, "Id") or ""
    number = first_number
    for entry in tree.all(stmt, "Ntry"):
        for line in _entry(tree, entry, account=account, statement_id=statement_id, number=number):
            yield line
            number += 1


def _entry(
    tree: _Tree, entry: ET.Element, *, account: str, statement_id: str, number: int
) -> Iterator[StatementLine]:
    status = (tree.text(entry, "Sts/Cd", "Sts") or "").upper()
    reversal = (tree.text(entry, "RvslInd") or "").lower() in _TRUE
    indicator = tree.text(entry, "CdtDbtInd")
    booking_date = (tree.text(entry, "BookgDt/Dt", "BookgDt/DtTm") or "")[:10] or None
    servicer_ref = tree.text(entry, "AcctSvcrRef")
    entry_ref = tree.text(entry, "NtryRef")
    amount_node = tree.one(entry, "Amt")
    entry_info = tree.texts(entry, "AddtlNtryInf")
    transactions = tree.all(entry, "NtryDtls/TxDtls")

    if servicer_ref:
        entry_identity = f"camt|{account}|{servicer_ref}|{indicator}|{reversal}"
    elif entry_ref:
        entry_identity = f"camt|{account}|{statement_id}|{entry_ref}|{indicator}|{reversal}"
    else:
        entry_identity = content_identity(
            "camt", account, booking_date, _amount_text(amount_node), indicator, reversal, *entry_info
        )
    shown_ref = servicer_ref or entry_ref

    if not transactions:
        yield _line(
            tree,
            None,
            number=number,
            identity=entry_identity,
            amount_node=amount_node,
            indicator=indicator,
            status=status,
            reversal=reversal,
            booking_date=booking_date,
            bank_reference=shown_ref,
            extra_texts=entry_info,
        )
        return
    for index, tx in enumerate(transactions):
        tx_ref = tree.text(tx, "Refs/AcctSvcrRef")
        several = len(transactions) > 1
        if tx_ref and (several or not servicer_ref):
            identity = f"camt|{account}|tx|{tx_ref}|{reversal}"
        else:
            identity = f"{entry_identity}#{index + 1}" if several else entry_identity
        tx_amount = tree.one(tx, "Amt")
        if tx_amount is None:
            tx_amount = tree.one(tx, "AmtDtls/TxAmt/Amt")
        if tx_amount is None and not several:
            tx_amount = amount_node
        yield _line(
            tree,
            tx,
            number=number + index,
            identity=identity,
            amount_node=tx_amount,
            indicator=tree.text(tx, "CdtDbtInd") or indicator,
            status=status,
            reversal=reversal or tree.one(tx, "RtrInf") is not None,
            booking_date=booking_date,
            bank_reference=tx_ref or (f"{shown_ref}#{index + 1}" if several and shown_ref else shown_ref),
            extra_texts=entry_info,
            missing_amount="a batch transaction without its own amount" if tx_amount is None else None,
        )


def _line(
    tree: _Tree,
    tx: ET.Element | None,
    *,
    number: int,
    identity: str,
    amount_node: ET.Element | None,
    indicator: str | None,
    status: str,
    reversal: bool,
    booking_date: str | None,
    bank_reference: str | None,
    extra_texts: list[str],
    missing_amount: str | None = None,
) -> StatementLine:
    texts: list[str] = []
    payer = None
    if tx is not None:
        texts += tree.texts(tx, "RmtInf/Strd/CdtrRefInf/Ref")
        texts += tree.texts(tx, "RmtInf/Ustrd")
        end_to_end = tree.text(tx, "Refs/EndToEndId")
        if end_to_end and end_to_end.upper() != "NOTPROVIDED":
            texts.append(end_to_end)
        texts += tree.texts(tx, "AddtlTxInf")
        payer = tree.text(tx, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm")
    texts += extra_texts
    raw_currency = amount_node.get("Ccy") if amount_node is not None else None
    currency = money.normalise_currency(raw_currency) if raw_currency else None
    amount: int | None = None
    problem = missing_amount
    if problem is None:
        if amount_node is None or not raw_currency:
            problem = "an entry without an amount and currency (Amt Ccy=...)"
        elif currency is None:
            problem = f"currency {raw_currency!r} is not an ISO 4217 code"
        else:
            try:
                amount = minor_units(_amount_text(amount_node), currency)
            except ValueError as exc:
                problem = str(exc)
    if problem is None and indicator not in ("CRDT", "DBIT"):
        problem = f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT"
    return StatementLine(
        number=number,
        identity=identity,
        amount=amount if problem is None else None,
        currency=currency if problem is None else None,
        direction=(Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT) if problem is None else None,
        booked=status == "BOOK",
        reversal=reversal,
        booking_date=booking_date,
        bank_reference=bank_reference,
        texts=tuple(texts),
        payer=payer,
        problem=problem,
    )


def _amount_text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""
