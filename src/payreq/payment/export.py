"""CSV export of a payments list: exactly the rows its filters show, streamed.

Rows are read a thousand at a time, each batch in its own short read unit, and
written out as they come, so an export of any size holds one batch in memory and no
transaction open while the client reads. Amounts are in major units beside their
currency; every time is given in UTC and in the account's time zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, tzinfo

from payreq.account.service import time_zone_of
from payreq.auth.subject import AuthSubject
from payreq.db import Database
from payreq.kit import money
from payreq.payment import repository
from payreq.payment.models import Payment, PaymentQuery
from payreq.payment.service import PaymentService

BATCH = 1000
_TIMES = ("created_at", "paid_at", "cancelled_at", "expired_at", "expires_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """Text a payer or merchant wrote, made safe for spreadsheets (OWASP CSV injection)."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _time(value: datetime | None, zone: tzinfo) -> str:
    return "" if value is None else value.astimezone(zone).isoformat(timespec="seconds")


def header(zone_name: str) -> list[str]:
    times = [f"{name} ({label})" for name in _TIMES for label in ("UTC", zone_name)]
    return ["id", "status", "amount", "currency", "reference", "reference_label", "client_id", *times]


def row(payment: Payment, zone: tzinfo, utc: tzinfo) -> list[str]:
    times: list[str] = []
    for name in _TIMES:
        in_utc = _time(getattr(payment, name), utc)
        times += (in_utc, in_utc if zone is utc else _time(getattr(payment, name), zone))
    return [
        str(payment.id),
        payment.status.value,
        money.major_units(payment.amount, payment.currency),
        payment.currency,
        _cell(payment.reference_id),
        _cell(payment.reference_label),
        payment.application_client_id,
        *times,
    ]


async def export_csv(
    payments: PaymentService, db: Database, subject: AuthSubject, query: PaymentQuery
) -> AsyncIterator[bytes]:
    """The CSV, a batch of lines at a time. The filters are checked before the first
    byte, so a bad one is a clear error and not a broken download."""
    from datetime import UTC

    query = replace(payments.checked_query(query), limit=BATCH, starting_after=None)
    async with db.read() as conn:
        zone = await time_zone_of(conn, subject.tenant.account_id)
    return _lines(payments, db, subject, query, zone, UTC)


async def _lines(
    payments: PaymentService,
    db: Database,
    subject: AuthSubject,
    query: PaymentQuery,
    zone: tzinfo,
    utc: tzinfo,
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(str(zone)))
    after = None
    while True:
        now = payments.clock()
        async with db.read() as conn:
            batch = await repository.page(conn, subject.tenant, query, now=now, after=after)
        for payment in batch[:BATCH]:
            writer.writerow(row(payment.as_seen(now), zone, utc))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) <= BATCH:
            return
        last = batch[BATCH - 1]
        after = (last.created_at, last.id)
