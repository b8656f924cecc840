"""What an import answers: one report line per statement line, and a summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from msgspec import Meta

from payreq.method.statements.model import Outcome

OutcomeName = Annotated[
    str,
    Meta(
        description="matched (now paid), late, partial, overpaid, wrong_currency, unmatched, debit, "
        "reversal, pending, duplicate or invalid. Only matched changes a payment."
    ),
]


class LineReport(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One statement line and what the import did with it."""

    line: Annotated[int, Meta(description="CSV line number, or the transaction's position in a camt file.")]
    outcome: OutcomeName
    message: str
    amount: Annotated[int | None, Meta(description="Minor units; always positive.")] = None
    currency_code: str | None = None
    direction: str | None = None
    booking_date: str | None = None
    bank_reference: Annotated[str | None, Meta(description="The bank's reference for the line.")] = None
    payer: str | None = None
    transfer_reference: str | None = None
    payment_id: str | None = None
    payment_status: Annotated[
        str | None,
        Meta(
            description="The payment's status after this line (matched, late, partial ...) and, once the "
            "line is accepted, after its resolution (paid). Recorded then, not read live: the payment's "
            "current status is GET /api/payment/{id}."
        ),
    ] = None
    resolution: Annotated[
        str | None,
        Meta(
            description="For a late, partial or overpaid line once the merchant resolved it: accepted "
            "(the payment became paid) or refund_due. A duplicate shows the resolution of the line it repeats."
        ),
    ] = None
    resolved_by: Annotated[
        str | None, Meta(description="Who resolved it: api_key:<id>, user:<id> or cli.")
    ] = None
    resolved_at: str | None = None


ImportStatus = Annotated[
    str,
    Meta(
        description="running, finished, or failed (it stopped part-way: the lines listed are exactly "
        "those applied; importing the file again applies the rest, the others come back as duplicate)."
    ),
]


class ImportRecord(msgspec.Struct, kw_only=True, rename="camel"):
    """A statement import's record: its file, where it stands, and its summary."""

    id: str
    format: str
    source: str
    filename: str | None
    status: ImportStatus
    error: str | None = None
    created_at: str
    finished_at: str | None
    line_count: Annotated[int, Meta(description="Lines in the file.")]
    lines_done: Annotated[int, Meta(description="Lines imported so far (all of them once finished).")]
    summary: Annotated[dict[str, int], Meta(description="How many lines had each outcome.")]


class ImportReport(ImportRecord, kw_only=True, rename="camel"):
    """A statement import: what each line did, a page at a time (``nextCursor``).
    Importing the same file again changes nothing: its booked lines come back as
    ``duplicate``."""

    lines: Annotated[list[LineReport], Meta(description="One page of lines, in file order.")]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as ``cursor`` for the next page; null on the last.")
    ] = None


@dataclass(frozen=True, slots=True)
class ImportPage:
    """One page of an environment's imports, newest first."""

    items: list[ImportRecord]
    has_more: bool
    """Older imports follow."""
    has_newer: bool
    """Newer imports precede (this page was asked for with a cursor)."""

    @property
    def next_cursor(self) -> str | None:
        return self.items[-1].id if self.has_more and self.items else None

    @property
    def newer_cursor(self) -> str | None:
        return self.items[0].id if self.has_newer and self.items else None


class ImportList(msgspec.Struct, rename="camel"):
    """One page of imports, newest first, without their lines. Pass ``nextCursor`` as
    ``cursor`` for the next (older) page; null on the last."""

    data: list[ImportRecord]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, page: ImportPage) -> ImportList:
        return cls(data=page.items, has_more=page.has_more, next_cursor=page.next_cursor)


def empty_summary() -> dict[str, int]:
    return {outcome.value: 0 for outcome in Outcome}
