"""The payment status lifecycle, as one table of (from, to) pairs and what may make
each move.

    pending ──► paid ◄──────────────┐
        │──────► expired ──(booked in time, accepted)
        └──────► cancelled ──(accepted)

Ordinary changes (the merchant's API call, the payer's page, a method's action, the
deadline, a statement line matching a pending payment) only leave ``pending``: paid,
expired and cancelled are terminal for them. Two causes, both from the bank-transfer
method, move a terminal payment to paid, because the money is in the merchant's
account:

- ``BOOKED_IN_TIME``: the bank booked the transfer on or before the day the request
  expired; its statement merely arrived later (SPEC §5). expired -> paid.
- ``ACCEPTED``: the merchant accepted a late, partial or overpaid statement line, an
  explicit decision recorded with who made it. expired or cancelled -> paid, and
  pending -> paid (a partial or overpaid line).

Nothing leaves ``paid``. Transitions are applied with a conditional update
(``... WHERE status = :from``) so that concurrent changes settle once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from payreq.errors import Conflict


class Status(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Cause(StrEnum):
    """What makes a transition."""

    ORDINARY = "ordinary"
    BOOKED_IN_TIME = "booked_in_time"
    ACCEPTED = "accepted"


ALLOWED: Mapping[tuple[Status, Status], frozenset[Cause]] = {
    (Status.PENDING, Status.PAID): frozenset(Cause),
    (Status.PENDING, Status.EXPIRED): frozenset({Cause.ORDINARY}),
    (Status.PENDING, Status.CANCELLED): frozenset({Cause.ORDINARY}),
    (Status.EXPIRED, Status.PAID): frozenset({Cause.BOOKED_IN_TIME, Cause.ACCEPTED}),
    (Status.CANCELLED, Status.PAID): frozenset({Cause.ACCEPTED}),
}
"""Every allowed (from, to) pair with the causes that may make it; no other pair is allowed."""

TERMINAL: frozenset[Status] = frozenset(
    s for s in Status if not any(a == s and Cause.ORDINARY in c for (a, _), c in ALLOWED.items())
)
"""The statuses no ordinary change leaves: paid, expired, cancelled."""

# the column that records when a status was reached, and the event that reports it
REACHED_AT: Mapping[Status, str] = {
    Status.PAID: "paid_at",
    Status.EXPIRED: "expired_at",
    Status.CANCELLED: "cancelled_at",
}
EVENT_TYPE: Mapping[Status, str] = {
    Status.PENDING: "payment.created",
    Status.PAID: "payment.paid",
    Status.EXPIRED: "payment.expired",
    Status.CANCELLED: "payment.cancelled",
}


class InvalidTransition(Conflict):
    default_code = "invalid_state"


def can_transition(current: Status, target: Status, cause: Cause = Cause.ORDINARY) -> bool:
    return cause in ALLOWED.get((current, target), frozenset())


def transition(current: Status, target: Status, cause: Cause = Cause.ORDINARY) -> Status:
    """``target`` if the lifecycle allows it from ``current`` for ``cause``; else
    InvalidTransition (409)."""
    if not can_transition(current, target, cause):
        raise InvalidTransition(f"The payment request is {current}; it cannot become {target}.")
    return target
