"""The ``bank_transfer`` method: the payer sends the amount to the merchant's account
quoting a transfer reference; a bank statement line settles it when imported.

Each payment gets its own ISO 11649 creditor reference (``creditor_reference``), issued
the first time anyone looks at the instructions (the checkout page or the API) and
kept for good. Reconciliation (``payreq.method.statements``) finds it in the
statement's remittance information.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from uuid import UUID

from segno import QRCode
from segno import helpers as qr_helpers
from stdnum import iban as stdnum_iban

from payreq.application.models import Application, BankDetails
from payreq.auth.subject import Tenant
from payreq.db import Connection
from payreq.kit import money
from payreq.kit.clock import Clock, utc_now
from payreq.kit.jsonbody import INVISIBLE_CATEGORIES
from payreq.method import creditor_reference, repository
from payreq.method.base import Detail, Instructions, MethodContext, PaymentMethod, Settlement

ATTEMPTS = 8


class ReferenceSpaceExhausted(RuntimeError):
    """Eight random references in a row were taken: never expected in practice."""


async def issue_reference(
    conn: Connection, *, payment_id: UUID, tenant: Tenant, clock: Clock = utc_now
) -> str:
    """The payment's transfer reference, issued now if it has none (in one write)."""
    existing = await repository.transfer_reference(conn, payment_id)
    if existing is not None:
        return existing
    await conn.begin()
    for _ in range(ATTEMPTS):
        if await repository.insert_transfer_reference(
            conn,
            payment_id=payment_id,
            tenant=tenant,
            reference=creditor_reference.new_reference(),
            at=clock(),
        ):
            break
        # either a concurrent request issued one for this payment, or the random
        # reference is another payment's: read, and try again only in the second case
        existing = await repository.transfer_reference(conn, payment_id)
        if existing is not None:
            return existing
    else:
        raise ReferenceSpaceExhausted()
    issued = await repository.transfer_reference(conn, payment_id)
    assert issued is not None
    return issued


def plain_amount(amount: int, currency: str) -> str:
    """``12500, "EUR"`` -> ``125.00 EUR``: the ISO 4217 minor unit, no locale."""
    return f"{money.major_units(amount, currency)} {currency}"


EPC_NAME = 70
"""EPC069-12's beneficiary name: at most 70 characters (SEPA's own limit for it)."""
EPC_REFERENCE = 35
"""The structured remittance field (an ISO 11649 RF reference): at most 35 characters."""
EPC_MAX_AMOUNT = Decimal("999999999.99")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}")
_BIC = re.compile(r"[A-Z0-9]{8}(?:[A-Z0-9]{3})?")
_RF = re.compile(r"RF[0-9]{2}[A-Z0-9]{1,21}")


def _one_line(value: str) -> bool:
    """No character that could end the line (the payload is one field per line, and a
    banking app may split on U+2028, NEL or a lone CR as well as LF) or hide text."""
    return not any(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in value)


def epc_qr(details: BankDetails, amount: int, currency: str, reference: str) -> QRCode | None:
    """The EPC QR code (EPC069-12 version 002, "GiroCode") of a euro transfer: BCD,
    002, UTF-8, SCT, BIC, name, IBAN, ``EUR`` amount, the RF reference in the structured
    remittance field. None wherever a field cannot be carried exactly as the written
    instructions give it: another currency, no IBAN, a beneficiary name over 70
    characters or with a line-breaking, control or format character (a name cut short
    could fail the payer's name check, and a line break would shift every later
    field), an amount over EPC's EUR 999,999,999.99, a payload over 331 bytes. The page
    then shows the written instructions alone."""
    if currency != "EUR" or not details.iban:
        return None
    name, iban, bic = details.account_holder.strip(), details.iban, details.bic
    euros = Decimal(amount).scaleb(-money.minor_unit_digits(currency))
    if not (
        0 < len(name) <= EPC_NAME
        and _one_line(name)
        and _IBAN.fullmatch(iban)
        and (bic is None or _BIC.fullmatch(bic))
        and len(reference) <= EPC_REFERENCE
        and _RF.fullmatch(reference)
        and Decimal("0.01") <= euros <= EPC_MAX_AMOUNT
    ):
        return None
    try:
        return qr_helpers.make_epc_qr(
            name=name, iban=iban, amount=euros, reference=reference, bic=bic, encoding="utf-8"
        )
    except ValueError:  # segno's own checks, the 331-byte payload among them
        return None


def epc_qr_svg(details: BankDetails, amount: int, currency: str, reference: str) -> str | None:
    """``epc_qr`` as an inline SVG labelled by the page's caption, or None."""
    code = epc_qr(details, amount, currency, reference)
    if code is None:
        return None
    svg: str = code.svg_inline(
        scale=4, border=4, dark="#000", light="#fff", omitsize=True, svgclass="epc-qr-code", lineclass=None
    )
    return svg.replace("<svg ", '<svg role="img" aria-labelledby="epc-qr-caption" ', 1)


def print_iban(iban: str) -> str:
    """The IBAN's print format (ISO 13616: groups of four, ``DE89 3704 0044 0532 0130 00``)
    for people to read and type; the stored, electronic format has no spaces and is what
    a copy button, the EPC QR code and the API carry."""
    return str(stdnum_iban.format(iban))


def format_account(details: BankDetails) -> list[Detail]:
    shown = [Detail("Account holder", details.account_holder)]
    if details.iban:
        shown.append(Detail("IBAN", print_iban(details.iban), copy=True, code=True, copy_value=details.iban))
    if details.account_number:
        shown.append(Detail("Account number", details.account_number, copy=True, code=True))
    if details.bic:
        shown.append(Detail("BIC (SWIFT)", details.bic, copy=True, code=True))
    if details.routing_number:
        shown.append(Detail("Routing number", details.routing_number, copy=True, code=True))
    shown.append(Detail("Bank", details.bank_name))
    return shown


class BankTransferMethod(PaymentMethod):
    name = "bank_transfer"
    label = "Bank transfer"
    settlement = Settlement.RECONCILIATION

    def unavailable(self, application: Application) -> str | None:
        if application.bank_details is None:
            return "The application has no bank details."
        return None

    async def instructions(self, conn: Connection, ctx: MethodContext) -> Instructions:
        details = ctx.application.bank_details
        assert details is not None, "offered only with bank details (see unavailable)"
        tenant = Tenant(ctx.payment.account_id, ctx.payment.environment)
        reference = await issue_reference(
            conn, payment_id=ctx.payment.id, tenant=tenant, clock=lambda: ctx.now
        )
        shown = creditor_reference.display_form(reference)
        account = print_iban(details.iban) if details.iban else details.account_number
        return Instructions(
            title="Pay by bank transfer",
            steps=[
                f"Send exactly {plain_amount(ctx.payment.amount, ctx.payment.currency)} "
                f"to {details.account_holder}, "
                f"{'IBAN' if details.iban else 'account'} {account}.",
                f"Quote the transfer reference {shown} exactly; it is how the payment is recognised. "
                "Use your bank's structured (creditor) reference field if it has one, else the "
                "payment description.",
                "The payment is marked paid when the merchant's bank statement shows the transfer, "
                "usually within one to two business days.",
            ],
            details=[
                Detail(
                    "Amount", plain_amount(ctx.payment.amount, ctx.payment.currency), copy=True, code=True
                ),
                *format_account(details),
                Detail("Transfer reference", shown, copy=True, code=True, copy_value=reference),
            ],
            transfer_reference=reference,
            bank_details=details,
            qr_svg=epc_qr_svg(details, ctx.payment.amount, ctx.payment.currency, reference),
            qr_caption="Scan with your banking app: it fills in the account, amount and reference.",
        )
