"""ISO 20022 ``camt.053`` (Bank-to-Customer Statement) and ``camt.054`` (Debit/Credit
Notification), any version ``.001.xx``: the two carry the same entries (``Ntry``),
in ``BkToCstmrStmt/Stmt`` and ``BkToCstmrDbtCdtNtfctn/Ntfctn`` respectively.

Each entry is one booking on the merchant's account. What counts:

- ``Amt`` with its ``Ccy``, and ``CdtDbtInd``: only credits (``CRDT``) can pay;
- ``RvslInd`` true: the entry reverses an earlier one (a credit reversal is booked as a
  debit, a debit reversal as a credit); never a payment. So is a transaction that
  carries return information (``TxDtls/RtrInf``);
- ``Sts``: ``BOOK`` is booked; ``PDNG`` (pending), ``INFO`` and ``FUTR`` are not final
  and are reported, never applied (``<Sts>BOOK</Sts>`` in .001.02, ``<Sts><Cd>BOOK</Cd></Sts>``
  from .001.08);
- ``BookgDt`` (else ``ValDt``): the day the bank booked the money, which decides
  whether a transfer to an expired request was made in time. A ``DtTm`` with an
  offset is converted to the account's time zone; one without an offset is local
  time, read as the account's (its date as written);
- ``NtryDtls/TxDtls``: a batch-booked entry holds several transactions, each with its
  own amount (``Amt``, or ``AmtDtls/TxAmt/Amt`` in older versions), references and
  remittance information; each becomes its own line. A batch without transaction
  details stays one line (with the batch total, which matches no single payment);
- references: structured creditor references (``RmtInf/Strd/CdtrRefInf/Ref``) are
  searched first, then unstructured remittance (``RmtInf/Ustrd``), the end-to-end id
  and the additional information texts.

A line's identity (for "imported before") is the bank's own reference: the
transaction's ``Refs/AcctSvcrRef``, else the entry's ``AcctSvcrRef`` (with the
transaction's position in a batch, where the entry's reference names the batch, not
the transaction). Either level gives the same identity for the same reference, so
a file that carries it only on the entry and one that carries it only in the
transaction details agree. An entry with one transaction may carry two references,
the entry's (E) and the transaction's (T): such a line also keeps E
(``StatementLine.entry_identity``), so that a camt.054 with only E and the day's
camt.053 with E and T are one line; two lines that both carry a T are the same line
only if their Ts are, so the transactions of one batch entry (each with its own T,
sharing E) stay several lines. Without one, it is the transaction's content:
its references (EndToEndId, TxId, UETR, InstrId), remittance information and
counterparty, with the account, day, amount and direction. Two payers who send the
same amount on the same day are two lines; the same transfer reported by a camt.054
and again by the day's camt.053 is one line (nothing statement-specific, such as the
statement id or ``NtryRef``, is part of it).

Parsed with defusedxml, which refuses any DOCTYPE (in whatever encoding: UTF-16
included), entity declaration or external reference: statements never need them, and
they are how XML bombs and external-entity reads are made. The document is read as
a stream (``iterparse``): each entry is dropped once its lines are made.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from payreq.kit import money
from payreq.method.statements.model import (
    Direction,
    StatementLine,
    StatementUnreadable,
    content_identity,
    minor_units,
)

FORMATS = {"BkToCstmrStmt": ("camt.053", "Stmt"), "BkToCstmrDbtCdtNtfctn": ("camt.054", "Ntfctn")}
NAMESPACE = re.compile(r"\{(urn:iso:std:iso:20022:tech:xsd:camt\.05[34]\.001\.[0-9]{2})\}Document")
_TRUE = {"true", "1"}


class _Tree:
    """Child lookups by local name within the document's one namespace."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self._paths: dict[str, str] = {}

    def path(self, path: str) -> str:
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))
        return found

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


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def document_format(data: bytes) -> str:
    """``camt.053`` or ``camt.054``, from the document's first two elements."""
    return next(_guarded(data, formats_only=True)).identity


def parse(data: bytes) -> Iterator[StatementLine]:
    """The document's lines, read as a stream. Raises StatementUnreadable for what is
    not a camt.053 or camt.054 document (as soon as that is known; a document that
    breaks off later raises when the reader gets there)."""
    return _guarded(data, formats_only=False)


def _guarded(data: bytes, *, formats_only: bool) -> Iterator[StatementLine]:
    try:
        yield from _walk(_events(data), formats_only=formats_only)
    except DefusedXmlException:
        raise StatementUnreadable(
            "The XML statement declares a DOCTYPE, entities or external references; "
            "statements never need them, so it is refused."
        ) from None
    except ET.ParseError as exc:
        raise StatementUnreadable(f"The XML statement is not well-formed: {exc}.") from None


def _events(data: bytes) -> Iterator[tuple[str, ET.Element]]:
    """The parser's events. Expat reads UTF-8, UTF-16 and single-byte encodings; for
    any other declared encoding (Shift_JIS, Big5, UTF-32, UTF-7, an unknown name) it
    raises LookupError or ValueError rather than a ParseError: only what the parser
    raises is caught here, never an error of the code that walks the events."""
    events = iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True)
    while True:
        try:
            event = next(events)
        except StopIteration:
            return
        except DefusedXmlException:  # a ValueError too: refused as such by _guarded
            raise
        except (LookupError, ValueError) as exc:
            raise StatementUnreadable(
                f"The XML statement cannot be read in the encoding it declares ({str(exc)[:120]}); "
                "statements are read in UTF-8, UTF-16 or a single-byte encoding such as ISO-8859-1."
            ) from None
        yield event


def _walk(events: Iterator[tuple[str, ET.Element]], *, formats_only: bool) -> Iterator[StatementLine]:
    depth = 0
    tree: _Tree | None = None
    container_name = ""
    container: ET.Element | None = None
    account = ""
    containers = 0
    number = 1
    for event, elem in events:
        if event == "start":
            depth += 1
            if depth == 1:
                match = NAMESPACE.fullmatch(elem.tag)
                if match is None:
                    raise StatementUnreadable(
                        "The XML is not an ISO 20022 camt.053 or camt.054 document (expected "
                        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.xx"> or camt.054).'
                    )
                tree = _Tree(match.group(1))
            elif depth == 2:
                known = FORMATS.get(_local(elem.tag))
                if known is None:
                    raise StatementUnreadable(
                        "The document holds neither a statement (BkToCstmrStmt) nor a notification "
                        "(BkToCstmrDbtCdtNtfctn)."
                    )
                if formats_only:  # the format's name, carried as a line: see document_format
                    yield StatementLine(
                        number=0, identity=known[0], amount=None, currency=None, direction=None
                    )
                    return
                container_name = known[1]
            elif depth == 3 and _local(elem.tag) == container_name:
                container, account = elem, ""
                containers += 1
            continue
        depth -= 1
        if depth == 3 and container is not None and tree is not None:
            name = _local(elem.tag)
            if name == "Acct":
                account = tree.text(elem, "Id/IBAN", "Id/Othr/Id") or ""
            elif name == "Ntry":
                for line in _entry(tree, elem, account=account, number=number):
                    yield line
                    number += 1
                container.remove(elem)
        elif depth == 2 and container is not None and elem is container:
            container.clear()
            container = None
    if containers == 0:
        raise StatementUnreadable(
            "The document holds no statement or notification (BkToCstmrStmt/Stmt or "
            "BkToCstmrDbtCdtNtfctn/Ntfctn)."
        )


def _date(tree: _Tree, node: ET.Element, path: str) -> str | None:
    """``Dt`` or ``DtTm`` as given (a date and time keeps its time and offset: which day
    it is depends on the account's time zone, see ``model.account_day``)."""
    return (tree.text(node, f"{path}/Dt", f"{path}/DtTm") or "")[:64] or None


def _entry(tree: _Tree, entry: ET.Element, *, account: str, number: int) -> Iterator[StatementLine]:
    status = (tree.text(entry, "Sts/Cd", "Sts") or "").upper()
    reversal = (tree.text(entry, "RvslInd") or "").lower() in _TRUE
    indicator = tree.text(entry, "CdtDbtInd")
    booking_date = _date(tree, entry, "BookgDt")
    value_date = _date(tree, entry, "ValDt")
    servicer_ref = tree.text(entry, "AcctSvcrRef")
    amount_node = tree.one(entry, "Amt")
    entry_info = tree.texts(entry, "AddtlNtryInf")
    transactions = tree.all(entry, "NtryDtls/TxDtls")
    common = {
        "status": status,
        "booking_date": booking_date,
        "value_date": value_date,
        "extra_texts": entry_info,
    }
    # the identity keeps the date as the bank wrote it (a DtTm's date part), whatever the
    # account's zone: the same transfer as Dt in one file and as DtTm in another is one line
    day = (booking_date or value_date or "")[:10] or None

    if not transactions:
        identity = (
            _bank_identity(account, servicer_ref, indicator, reversal)
            if servicer_ref
            else content_identity(
                "camt",
                account,
                day,
                _amount_text(amount_node),
                _currency(amount_node),
                indicator,
                reversal,
                *entry_info,
            )
        )
        yield _line(
            tree,
            None,
            number=number,
            identity=identity,
            entry_identity=identity if servicer_ref else None,
            amount_node=amount_node,
            indicator=indicator,
            reversal=reversal,
            bank_reference=servicer_ref,
            **common,  # type: ignore[arg-type]
        )
        return
    several = len(transactions) > 1
    for index, tx in enumerate(transactions):
        tx_ref = tree.text(tx, "Refs/AcctSvcrRef")
        tx_amount = tree.one(tx, "Amt")
        if tx_amount is None:
            tx_amount = tree.one(tx, "AmtDtls/TxAmt/Amt")
        if tx_amount is None and not several:
            tx_amount = amount_node
        tx_indicator = tree.text(tx, "CdtDbtInd") or indicator
        tx_reversal = reversal or tree.one(tx, "RtrInf") is not None
        if tx_ref:  # the transaction's own reference, whether or not the entry has one
            identity = _bank_identity(account, tx_ref, indicator, reversal)
        elif servicer_ref:  # in a batch, the entry's reference names the batch: add the position
            identity = _bank_identity(account, servicer_ref, indicator, reversal)
            identity += f"#{index + 1}" if several else ""
        else:
            identity = content_identity(
                "camt", account, day, _amount_text(tx_amount), _currency(tx_amount), tx_indicator, tx_reversal
            )
            identity += "|" + "|".join(_transaction_content(tree, tx))
        # the entry's reference names this transaction only when it is the entry's only one
        entry_identity = (
            _bank_identity(account, servicer_ref, indicator, reversal)
            if servicer_ref and not several
            else None
        )
        shown_ref = tx_ref or (f"{servicer_ref}#{index + 1}" if several and servicer_ref else servicer_ref)
        yield _line(
            tree,
            tx,
            number=number + index,
            identity=identity,
            entry_identity=entry_identity,
            amount_node=tx_amount,
            indicator=tx_indicator,
            reversal=tx_reversal,
            bank_reference=shown_ref,
            missing_amount="a batch transaction without its own amount" if tx_amount is None else None,
            **common,  # type: ignore[arg-type]
        )


def _bank_identity(account: str, reference: str, indicator: str | None, reversal: bool) -> str:
    """A line's identity from the bank's ``AcctSvcrRef``: one form at both levels, so a
    transfer is the same line whether a file gives the reference on the entry or in
    its transaction details (a camt.054 often has only one of them, the camt.053 both)."""
    return f"camt|{account}|{reference}|{indicator}|{reversal}"


def _transaction_content(tree: _Tree, tx: ET.Element) -> list[str]:
    """What tells one transfer from another when the bank gave it no reference."""
    refs = [
        f"{name}={tree.text(tx, f'Refs/{name}') or ''}" for name in ("EndToEndId", "TxId", "UETR", "InstrId")
    ]
    return [
        *refs,
        *tree.texts(tx, "RmtInf/Strd/CdtrRefInf/Ref"),
        *tree.texts(tx, "RmtInf/Ustrd"),
        f"dbtr={tree.text(tx, 'RltdPties/Dbtr/Nm', 'RltdPties/Dbtr/Pty/Nm') or ''}",
        f"dbtracct={tree.text(tx, 'RltdPties/DbtrAcct/Id/IBAN', 'RltdPties/DbtrAcct/Id/Othr/Id') or ''}",
    ]


def _line(
    tree: _Tree,
    tx: ET.Element | None,
    *,
    number: int,
    identity: str,
    entry_identity: str | None = None,
    amount_node: ET.Element | None,
    indicator: str | None,
    status: str,
    reversal: bool,
    booking_date: str | None,
    value_date: str | None,
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
    raw_currency = _currency(amount_node)
    currency = money.normalise_currency(raw_currency) if raw_currency else None
    amount: int | None = None
    problem = missing_amount
    if problem is None:
        if amount_node is None or not raw_currency:
            problem = "an entry without an amount and currency (Amt Ccy=...)"
        elif currency is None:
            problem = f"currency {raw_currency[:8]!r} is not an ISO 4217 code"
        else:
            try:
                amount = minor_units(_amount_text(amount_node), currency)
            except ValueError as exc:
                problem = str(exc)
    if problem is None and indicator not in ("CRDT", "DBIT"):
        problem = f"CdtDbtInd {(indicator or '')[:8]!r} is neither CRDT nor DBIT"
    return StatementLine(
        number=number,
        identity=identity,
        entry_identity=entry_identity,
        amount=amount if problem is None else None,
        currency=currency if problem is None else None,
        direction=(Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT) if problem is None else None,
        booked=status == "BOOK",
        reversal=reversal,
        booking_date=booking_date,
        value_date=value_date,
        bank_reference=bank_reference,
        texts=tuple(texts),
        payer=payer,
        problem=problem,
    )


def _currency(node: ET.Element | None) -> str | None:
    return node.get("Ccy") if node is not None else None


def _amount_text(node: ET.Element | None) -> str:
    return (node.text or "").strip()[:64] if node is not None else ""
