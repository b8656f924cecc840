"""Reconciliation: what one statement line does to the payments of one tenant.

A booked credit line whose transfer reference, amount and currency match a payment
marks it paid, through the payment core's race-safe ``settle`` (which writes the
``payment.paid`` event in the same transaction), when the payment is pending, or
when it has expired but the bank booked the transfer on or before the day it
expired (booking date, else value date, in the account's time zone): the payer paid
in time. Every other line is reported and changes nothing. Each booked line is
remembered by its identity in the same unit of work as its effect, so a line is
applied at most once however often it is imported, even by two imports at the same
time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from payreq.audit.models import Actor, ActorKind
from payreq.auth.subject import Tenant
from payreq.db import Connection, Row
from payreq.method import creditor_reference, repository
from payreq.method.bank_transfer import plain_amount
from payreq.method.statements.model import REMEMBERED, Direction, Outcome, StatementLine, shown_date
from payreq.method.statements.report import LineReport
from payreq.payment import repository as payments_repository
from payreq.payment.lifecycle import Cause, InvalidTransition, Status
from payreq.payment.models import Payment
from payreq.payment.service import PaymentService


@dataclass(frozen=True, slots=True)
class Applied:
    report: LineReport
    statement_line_id: uuid.UUID | None
    """The remembered line this report line is (or repeats, for a duplicate)."""


class Reconciler:
    def __init__(self, payments: PaymentService) -> None:
        self.payments = payments

    async def apply(
        self, conn: Connection, tenant: Tenant, import_id: uuid.UUID, line: StatementLine, *, zone: ZoneInfo
    ) -> Applied:
        made = _reporter(line, zone)

        def report(*args: object, **kwargs: object) -> Applied:
            return Applied(made(*args, **kwargs), None)

        if line.problem is not None:
            return report(Outcome.INVALID, f"Cannot read this line: {line.problem}.")
        if not line.booked:
            return report(Outcome.PENDING, "Not booked yet; it is applied when a statement books it.")
        if line.reversal:
            first = Outcome.REVERSAL, "A reversal or return of an earlier booking; never a payment."
        elif line.direction is Direction.DEBIT:
            first = Outcome.DEBIT, "Money going out; never a payment."
        else:
            first = Outcome.UNMATCHED, ""
        if line.entry_key is not None:  # a camt line with its entry's reference: one of two keys
            earlier = await self._earlier(conn, tenant, line)
            if earlier is not None:
                return await self._duplicate(conn, tenant, line, made, earlier)
        line_id = uuid.uuid4()
        claimed = await repository.claim_line(
            conn,
            id=line_id,
            import_id=import_id,
            tenant=tenant,
            line_key=line.key,
            entry_key=line.entry_key,
            line_number=line.number,
            outcome=first[0].value,
            amount=line.amount,
            currency=line.currency,
            booking_date=shown_date(line.booking_date, zone),
            bank_reference=(line.bank_reference or "")[:255] or None,
            at=self.payments.clock(),
        )
        if not claimed:
            return await self._duplicate(
                conn, tenant, line, made, await repository.remembered_line(conn, tenant, line.key)
            )
        if first[0] is not Outcome.UNMATCHED:
            return Applied(made(*first), line_id)
        outcome, message, payment, reference = await self._match(conn, tenant, line, zone, line_id)
        assert outcome in REMEMBERED
        if outcome is not Outcome.UNMATCHED or reference is not None:
            await repository.record_outcome(
                conn,
                line_id,
                outcome=outcome.value,
                payment_id=payment.id if payment else None,
                reference=reference,
            )
        return Applied(made(outcome, message, payment=payment, reference=reference), line_id)

    async def _match(
        self, conn: Connection, tenant: Tenant, line: StatementLine, zone: ZoneInfo, line_id: uuid.UUID
    ) -> tuple[Outcome, str, Payment | None, str | None]:
        candidates: list[str] = []
        for text in line.texts:
            candidates += [c for c in creditor_reference.find_references(text) if c not in candidates]
        if not candidates:
            return Outcome.UNMATCHED, "No transfer reference found in the line.", None, None
        found = dict(await payments_repository.by_transfer_references(conn, tenant, candidates))
        known = [c for c in candidates if c in found]
        if not known:
            shown = ", ".join(creditor_reference.display_form(c) for c in candidates)
            return Outcome.UNMATCHED, f"No payment of this account has the reference {shown}.", None, None
        if len({found[c].id for c in known}) > 1:
            shown = ", ".join(creditor_reference.display_form(c) for c in known)
            return Outcome.UNMATCHED, f"The line names several payments ({shown}); none applied.", None, None
        reference = known[0]
        return await self._settle(conn, tenant, line, found[reference], reference, zone, line_id)

    async def _settle(
        self,
        conn: Connection,
        tenant: Tenant,
        line: StatementLine,
        payment: Payment,
        reference: str,
        zone: ZoneInfo,
        line_id: uuid.UUID,
    ) -> tuple[Outcome, str, Payment | None, str | None]:
        assert line.amount is not None and line.currency is not None
        due = plain_amount(payment.amount, payment.currency)
        if line.currency != payment.currency:
            return (
                Outcome.WRONG_CURRENCY,
                f"The payment is due in {payment.currency}, not {line.currency}.",
                payment,
                reference,
            )
        seen = payment.as_seen(self.payments.clock())
        cause = Cause.ORDINARY
        if seen.status is Status.EXPIRED:
            expiry_day = seen.expires_at.astimezone(zone).date()
            booked_on = line.booked_on(zone)
            if booked_on is None or booked_on > expiry_day:
                when = f"booked {booked_on.isoformat()}" if booked_on else "without a booking date"
                return (
                    Outcome.LATE,
                    f"The payment expired on {expiry_day.isoformat()} ({zone.key}); this transfer was {when}."
                    f"{_difference(line.amount, payment)} Accept it or mark it for refund.",
                    seen,
                    reference,
                )
            cause = Cause.BOOKED_IN_TIME
        elif seen.status is not Status.PENDING:
            return (
                Outcome.LATE,
                f"The payment is already {seen.status.value}.{_difference(line.amount, payment)} "
                "Accept it or mark it for refund.",
                seen,
                reference,
            )
        if line.amount < payment.amount:
            return Outcome.PARTIAL, f"Less than the {due} due; not applied.", seen, reference
        if line.amount > payment.amount:
            return Outcome.OVERPAID, f"More than the {due} due; not applied.", seen, reference
        try:
            actor = Actor(ActorKind.STATEMENT_LINE, str(line_id), f"statement line {line.number}")
            paid = await self.payments.settle(
                conn,
                tenant,
                payment.id,
                Status.PAID,
                cause=cause,
                actor=actor,
                changes={"reference": reference},
                read=payment,
            )
        except InvalidTransition:
            now = await payments_repository.get(conn, tenant, payment.id)
            current = now.as_seen(self.payments.clock()) if now else payment
            return (
                Outcome.LATE,
                f"The payment became {current.status.value} first; refund or follow up.",
                current,
                reference,
            )
        if cause is Cause.BOOKED_IN_TIME:
            return (
                Outcome.MATCHED,
                "The payment is now paid: it had expired, but the bank booked the transfer in time.",
                paid,
                reference,
            )
        return Outcome.MATCHED, "The payment is now paid.", paid, reference

    async def _earlier(self, conn: Connection, tenant: Tenant, line: StatementLine) -> Row | None:
        """The remembered line a camt line with its entry's reference E is, if any: the
        one with its identity (its transaction's T, or E when it has no T); else, for a
        line with a T, one known by E alone (which then learns T: it has a T now); else,
        for a line with E alone, one with E beside a T. A line with T and one with
        another T are never one line, whatever E they share (one batch entry's)."""
        key, entry = line.key, line.entry_key
        assert entry is not None
        rows = await repository.lines_by_keys(conn, tenant, key, entry)
        for row in rows:
            if row["line_key"] == key:
                if row["entry_key"] is None:  # known by T before: now by E too
                    await repository.add_line_identity(conn, row["id"], line_key=key, entry_key=entry)
                return row
        for row in rows:
            if entry != key and row["line_key"] == entry:  # known by E alone: now by T
                await repository.add_line_identity(conn, row["id"], line_key=key, entry_key=entry)
                return row
            if entry == key and row["entry_key"] == entry:
                return row
        return None

    async def _duplicate(
        self,
        conn: Connection,
        tenant: Tenant,
        line: StatementLine,
        report: Callable[..., LineReport],
        first: Row | None,
    ) -> Applied:
        if first is None:  # pragma: no cover (the claim just saw it)
            return Applied(report(Outcome.DUPLICATE, "Imported before."), None)
        payment = None
        if first["payment_id"] is not None:
            payment = await payments_repository.get(conn, tenant, first["payment_id"])
        return Applied(
            report(
                Outcome.DUPLICATE,
                f"Imported before (as {first['outcome']}); nothing changed.",
                payment=payment.as_seen(self.payments.clock()) if payment else None,
                reference=first["reference"],
            ),
            first["id"],
        )


def _reporter(line: StatementLine, zone: ZoneInfo) -> Callable[..., LineReport]:
    def report(
        outcome: Outcome, message: str, *, payment: Payment | None = None, reference: str | None = None
    ) -> LineReport:
        return LineReport(
            line=line.number,
            outcome=outcome.value,
            message=message,
            amount=line.amount,
            currency_code=line.currency,
            direction=line.direction.value if line.direction else None,
            booking_date=shown_date(line.booking_date or line.value_date, zone),
            bank_reference=(line.bank_reference or "")[:255] or None,
            payer=(line.payer or "")[:140] or None,
            transfer_reference=reference,
            payment_id=str(payment.id) if payment else None,
            payment_status=payment.status.value if payment else None,
        )

    return report


def _difference(amount: int, payment: Payment) -> str:
    """For a late line, what its amount is against the one due (a late line has one
    outcome, ``late``; the merchant who accepts it must still see that it is short or
    over, SPEC §1: such money is reported, never applied silently)."""
    due = plain_amount(payment.amount, payment.currency)
    if amount < payment.amount:
        return f" It is {plain_amount(payment.amount - amount, payment.currency)} less than the {due} due."
    if amount > payment.amount:
        return f" It is {plain_amount(amount - payment.amount, payment.currency)} more than the {due} due."
    return ""
