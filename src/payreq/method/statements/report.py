"""What an import answers: one report line per statement line, and a summary."""

from __future__ import annotations

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
        str | None, Meta(description="The payment's status after this line (matched, late, partial ...).")
    ] = None


class ImportReport(msgspec.Struct, kw_only=True, rename="camel"):
    """A statement import: what each line did. Importing the same file again changes
    nothing: its booked lines come back as ``duplicate``."""

    id: str
    format: str
    source: str
    filename: str | None
    created_at: str
    summary: Annotated[dict[str, int], Meta(description="How many lines had each outcome.")]
    lines: list[LineReport]


def summarise(lines: list[LineReport]) -> dict[str, int]:
    counts = {outcome.value: 0 for outcome in Outcome}
    for line in lines:
        counts[line.outcome] += 1
    return counts
