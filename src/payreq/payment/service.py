"""The payment rules, shared by both contracts: create, read, list, settle, expire.

Services never commit: the caller (a request handler or the worker) passes the
connection of its unit of work, and every status change writes its event in that
same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

import msgspec

from payreq import metrics
from payreq.application import repository as applications
from payreq.audit.models import Actor
from payreq.audit.service import AuditService
from payreq.auth.roles import Permission
from payreq.auth.subject import AuthSubject, Tenant
from payreq.db import Connection, Row
from payreq.db.base import Parts, Statement
from payreq.errors import Forbidden, NotFound, ValidationFailed
from payreq.kit import money
from payreq.kit.clock import Clock, instant, utc_now
from payreq.kit.ids import new_ordered_uuid, new_uuid
from payreq.kit.jsonbody import check_display_text, check_text
from payreq.kit.pagination import clamp_limit
from payreq.kit.urls import normalise_url, redirect_url_problem
from payreq.payment import repository
from payreq.payment import rollup_repository as rollup
from payreq.payment.lifecycle import EVENT_TYPE, Cause, InvalidTransition, Status, transition
from payreq.payment.models import Page, Payment, PaymentDraft, PaymentQuery
from payreq.payment.schemas_b import change_data
from payreq.webhook import outbox
from payreq.webhook.repository import NewEvent

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 30 * 24 * 3600


class PaymentNotFound(NotFound):
    default_message = "No such payment request."


def parse_id(value: str) -> uuid.UUID:
    """A payment id from a URL; anything malformed is simply not found."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PaymentNotFound() from None


class PaymentService:
    def __init__(
        self,
        *,
        base_url: str,
        default_expires_in: int = 86400,
        clock: Clock = utc_now,
        audit: AuditService | None = None,
    ) -> None:
        self.base_url = base_url
        self.default_expires_in = default_expires_in
        self.clock = clock
        self.audit = audit or AuditService(clock=clock)

    # -- create -----------------------------------------------------------------

    async def create(self, conn: Connection, subject: AuthSubject, draft: PaymentDraft) -> Payment:
        """Its first read is ``application_read(subject, draft)``: a unit opened with it
        (``transaction(first=...)``) may have read it already (an idempotency claim)."""
        application = await self._application(conn, subject, draft)
        now = self.clock()
        payment = Payment(
            id=new_uuid(),
            account_id=subject.tenant.account_id,
            environment=subject.tenant.environment,
            application_id=application["id"],
            application_client_id=application["client_id"],
            status=Status.PENDING,
            amount=self._amount(draft),
            currency=self._currency(draft, application),
            redirect_url=self._redirect_url(draft, application, sandbox=subject.sandbox),
            reference_id=self._text(draft, "reference_id", draft.reference_id),
            reference_label=self._text(draft, "reference_label", draft.reference_label, shown=True),
            metadata=self._metadata(draft),
            created_at=now,
            expires_at=now + timedelta(seconds=self._expires_in(draft, application)),
        )
        # the payment, its rollup, its event and its delivery: one statement on PostgreSQL
        await self._record(conn, payment, Status.PENDING, now, along=repository.creation(payment))
        return payment

    @staticmethod
    def application_read(subject: AuthSubject, draft: PaymentDraft) -> Statement:
        """The read ``create`` begins with: the application the payment is for."""
        if subject.application_id is not None:
            return applications.application_by_id_read(subject.tenant, subject.application_id)
        if draft.application_client_id is not None:
            return applications.application_by_client_id_read(subject.tenant, draft.application_client_id)
        return applications.default_application_read(subject.tenant)

    async def _application(self, conn: Connection, subject: AuthSubject, draft: PaymentDraft) -> Row:
        client_id = draft.application_client_id
        row = await conn.read_first(self.application_read(subject, draft))
        if subject.application_id is not None:
            if row is None or (client_id is not None and row["client_id"] != client_id):
                raise Forbidden(code="application_mismatch")
        elif row is None and client_id is not None:
            raise NotFound("No such payment application.", param="clientId")
        elif row is None:
            raise NotFound("This account has no default payment application.")
        if row["archived_at"] is not None:
            raise NotFound("No such payment application.")
        return row

    def _amount(self, draft: PaymentDraft) -> int:
        amount = money.parse_amount(draft.amount)
        if amount is None:
            raise ValidationFailed(
                f"amount must be a positive integer in the currency's minor unit, "
                f"from {money.MIN_AMOUNT} to {money.MAX_AMOUNT}.",
                code="invalid_amount",
                param=draft.param("amount"),
            )
        return amount

    def _currency(self, draft: PaymentDraft, application: Row) -> str:
        code = money.normalise_currency(draft.currency)
        if code is None:
            raise ValidationFailed(
                f"{draft.param('currency')} must be an active ISO 4217 currency code.",
                code="unsupported_currency",
                param=draft.param("currency"),
            )
        allowed = msgspec.json.decode(application["currencies"]) if application["currencies"] else None
        if allowed and code not in allowed:
            raise ValidationFailed(
                f"This payment application does not accept {code}.",
                code="unsupported_currency",
                param=draft.param("currency"),
            )
        return code

    def _redirect_url(self, draft: PaymentDraft, application: Row, *, sandbox: bool) -> str:
        url = draft.redirect_url or application["default_redirect_url"]
        param = draft.param("redirect_url")
        if not url:
            raise ValidationFailed(
                f"{param} is required when the application has no default redirect URL.",
                code="missing_redirect_url",
                param=param,
            )
        check_text(url, param)
        problem = redirect_url_problem(url, sandbox=sandbox)
        if problem:
            raise ValidationFailed(f"{param} {problem}.", code="invalid_redirect_url", param=param)
        return normalise_url(url)  # IDNA host, percent-encoded: ASCII for the payer's Location

    def _text(self, draft: PaymentDraft, name: str, value: str | None, *, shown: bool = False) -> str | None:
        """``shown``: the checkout shows it to the payer (display text: no control, format
        or line-break characters, ``check_display_text``)."""
        if value is not None:
            (check_display_text if shown else check_text)(value, draft.param(name))
        return value

    def _metadata(self, draft: PaymentDraft) -> dict[str, str] | None:
        """As sent: absent stays null, ``{}`` stays ``{}`` (returned unchanged)."""
        if draft.metadata is None:
            return None
        for key, value in draft.metadata.items():
            check_text(key, "metadata")
            check_text(value, f"metadata.{key}")
        return draft.metadata

    def _expires_in(self, draft: PaymentDraft, application: Row) -> int:
        seconds = draft.expires_in or application["default_expires_in"] or self.default_expires_in
        if not MIN_EXPIRES_IN <= seconds <= MAX_EXPIRES_IN:
            raise ValidationFailed(
                f"expires_in must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds.",
                param=draft.param("expires_in"),
            )
        return int(seconds)

    # -- read -------------------------------------------------------------------

    async def get(self, conn: Connection, subject: AuthSubject, payment_id: str) -> Payment:
        """The payment as it stands now; one found overdue is persisted as expired.

        Call it in a ``read()`` unit: it begins a write transaction only in that case.
        """
        payment = await self._load(conn, subject.tenant, parse_id(payment_id))
        now = self.clock()
        if payment.overdue(now):
            await conn.begin()
            return (await self._expire(conn, payment, now))[0]
        return payment

    async def get_shown(self, conn: Connection, subject: AuthSubject, payment_id: str) -> Row | None:
        """What contract A shows of the payment (``repository.get_shown``) when reading
        it changes nothing; None when it is overdue: ``get`` then persists it as expired.
        Not found as ``get``."""
        row = await repository.get_shown(conn, subject.tenant, parse_id(payment_id))
        if row is None:
            raise PaymentNotFound()
        if row["status"] == Status.PENDING and instant(row["expires_at"]) <= self.clock():
            return None
        return row

    async def list(self, conn: Connection, subject: AuthSubject, query: PaymentQuery) -> Page:
        query = self.checked_query(query)
        after = None
        if query.starting_after is not None:
            try:
                after = await repository.cursor(conn, subject.tenant, uuid.UUID(query.starting_after))
            except ValueError:
                after = None
            if after is None:
                raise ValidationFailed(
                    f"{query.param('starting_after')} must be the id of a payment request in this account.",
                    code="invalid_cursor",
                    param=query.param("starting_after"),
                )
        limit = clamp_limit(query.limit)
        now = self.clock()
        rows = await repository.page(conn, subject.tenant, replace(query, limit=limit), now=now, after=after)
        return Page(items=[p.as_seen(now) for p in rows[:limit]], has_more=len(rows) > limit)

    def checked_query(self, query: PaymentQuery) -> PaymentQuery:
        """The filters' rules, for the list and the export alike; the currency upper-cased."""
        for name, value in (
            ("reference_id", query.reference_id),
            ("application_client_id", query.application_client_id),
            ("search", query.search),
        ):
            if value is not None:
                check_text(value, query.param(name))
        if query.currency is not None:
            code = money.normalise_currency(query.currency)
            if code is None:
                raise ValidationFailed(
                    "currency must be an active ISO 4217 currency code.",
                    code="unsupported_currency",
                    param=query.param("currency"),
                )
            query = replace(query, currency=code)
        if (
            query.amount_gte is not None
            and query.amount_lte is not None
            and query.amount_gte > query.amount_lte
        ):
            raise ValidationFailed(
                "The lower amount bound is above the upper one.", param=query.param("amount_gte")
            )
        return query

    # -- change -----------------------------------------------------------------

    async def cancel(self, conn: Connection, subject: AuthSubject, payment_id: str) -> Payment:
        if subject.actor is not None:  # a dashboard user: viewers change nothing
            subject.actor.require(Permission.DEVELOP)
        return await self.settle(
            conn, subject.tenant, parse_id(payment_id), Status.CANCELLED, actor=Actor.of(subject)
        )

    @asynccontextmanager
    async def changing_many(self, conn: Connection) -> AsyncIterator[None]:
        """For a unit that moves many payments (a statement import's batch): their
        rollups and audit entries are written at the end of the block, after every
        payment row the unit changes, in the order a single change writes them
        (``payreq.db.held``). Taken between those rows, the tenant's shared rows made
        two such units, or one and a single payment's change, wait for each other:
        on PostgreSQL a deadlock that ended one of them (503)."""
        async with self.audit.holding(conn), rollup.holding(conn):
            yield

    async def settle(
        self,
        conn: Connection,
        tenant: Tenant,
        payment_id: uuid.UUID,
        target: Status,
        *,
        cause: Cause = Cause.ORDINARY,
        actor: Actor,
        changes: Mapping[str, object] | None = None,
        read: Payment | None = None,
    ) -> Payment:
        """Move a payment to ``target`` as the lifecycle allows for ``cause``: a pending
        one to paid, cancelled or expired; for a bank transfer booked in time or a
        statement line the merchant accepted, an expired (or cancelled) one to paid.

        Exactly one of any number of concurrent changes wins; the others get 409 and
        the payment is left as the winner made it. A paid or cancelled change is
        audited with ``actor`` (an expiry is the deadline's, the worker's, not anyone's act).

        ``read``: the payment as this unit has just read it in ``tenant`` (a statement
        line's match), not read again. Every change is a conditional update, so a read
        that another change overtook makes the update lose, and the payment is read
        then, exactly as when that change comes right after this call's own read.
        """
        payment = (
            read if read is not None and read.id == payment_id else await self._load(conn, tenant, payment_id)
        )
        now = self.clock()
        if payment.overdue(now):
            payment, won = await self._expire(conn, payment, now)
            if target is Status.EXPIRED and won:
                return payment
            # a move on from the expiry just written comes after it, in time as in order
            now = max(self.clock(), now + timedelta(microseconds=1))
        transition(payment.status, target, cause)
        if target is Status.EXPIRED:
            raise InvalidTransition("The payment request has not reached its deadline yet.")
        if payment.status is Status.PENDING:
            won = await repository.settle(conn, payment.id, target, at=now)
        else:
            won = await repository.settle_terminal(conn, payment.id, payment.status, target, at=now)
        if not won:
            current = await self._load(conn, tenant, payment_id)
            transition(current.as_seen(now).status, target, cause)
            raise InvalidTransition()  # unreachable unless the row changed twice underneath us
        if target is Status.PAID:
            changed = replace(payment, status=target, paid_at=now)
        else:
            changed = replace(payment, status=target, cancelled_at=now)
        await self._record(conn, changed, target, now, previous=payment.status)
        await self.audit.record(
            conn,
            actor,
            account_id=payment.account_id,
            environment=payment.environment,
            action=EVENT_TYPE[target],
            target_type="payment",
            target_id=payment.id,
            changes={"status": [payment.status.value, target.value], **(changes or {})},
            at=now,
        )
        return changed

    async def expire_due(self, conn: Connection, *, limit: int = 500) -> int:
        """The worker's sweep: persist up to ``limit`` overdue payments as expired, each
        with its event (and delivery): on PostgreSQL in one statement and the rollups',
        on SQLite in a few statements per batch; never two round trips per payment, so
        that 100,000 overdue payments take seconds."""
        now = self.clock()
        if conn.dialect == "postgresql":
            # one statement: the database builds each event itself (change_data_sql)
            groups, delivered = await repository.expire_overdue(
                conn, now=now, limit=limit, base_url=self.base_url, event_type=EVENT_TYPE[Status.EXPIRED]
            )
            count = sum(g.payments for g in groups)
            if count:
                conn.after_commit(lambda: metrics.payments.labels(Status.EXPIRED.value).inc(count))
            if delivered:
                conn.after_commit(outbox.doorbell.ring)
            return count
        due = await repository.overdue(conn, now=now, limit=limit)
        changed = await repository.expire_many(conn, [payment.id for payment in due], now=now)
        expired = [payment.as_seen(now) for payment in due if payment.id in changed]
        if not expired:
            return 0
        conn.after_commit(lambda: metrics.payments.labels(Status.EXPIRED.value).inc(len(expired)))
        await outbox.record_many(
            conn,
            [
                NewEvent(
                    id=new_ordered_uuid(),
                    account_id=payment.account_id,
                    environment=payment.environment,
                    application_id=payment.application_id,
                    payment_id=payment.id,
                    type=EVENT_TYPE[Status.EXPIRED],
                    data=change_data(payment, base_url=self.base_url, previous=Status.PENDING),
                    created_at=now,
                    delivery_id=new_ordered_uuid(),
                )
                for payment in expired
            ],
        )
        return len(expired)

    async def _expire(self, conn: Connection, payment: Payment, now: datetime) -> tuple[Payment, bool]:
        """Persist an overdue payment as expired: the payment as it now stands, and
        whether this call made the change (a concurrent one may have won)."""
        if await repository.expire(conn, payment.id, now=now):
            expired = payment.as_seen(now)
            await self._record(conn, expired, Status.EXPIRED, now, previous=Status.PENDING)
            return expired, True
        return await self._load(conn, Tenant(payment.account_id, payment.environment), payment.id), False

    async def _load(self, conn: Connection, tenant: Tenant, payment_id: uuid.UUID) -> Payment:
        payment = await repository.get(conn, tenant, payment_id)
        if payment is None:
            raise PaymentNotFound()
        return payment

    async def _record(
        self,
        conn: Connection,
        payment: Payment,
        status: Status,
        at: datetime,
        *,
        previous: Status | None = None,
        along: Parts = (),
    ) -> None:
        """The event of a change, carrying the payment and the status it left
        (``previousStatus``; null for ``payment.created``); ``along``, the change's own
        statements, written with it."""
        data = change_data(payment, base_url=self.base_url, previous=previous)
        conn.after_commit(metrics.payments.labels(status.value).inc)
        await outbox.record(
            conn,
            type=EVENT_TYPE[status],
            account_id=payment.account_id,
            environment=payment.environment,
            application_id=payment.application_id,
            payment_id=payment.id,
            data=data,
            at=at,
            along=along,
        )
