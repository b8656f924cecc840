"""The payment status lifecycle, as one table.

    pending ──► paid
        │──────► expired
        └──────► cancelled

The three terminal states are final. Transitions are applied with a conditional
update (``... WHERE status = 'pending'``) so that concurrent changes settle once.
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


ALLOWED: Mapping[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PAID, Status.EXPIRED, Status.CANCELLED}),
    Status.PAID: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CANCELLED: frozenset(),
}

TERMINAL: frozenset[Status] = frozenset(s for s, targets in ALLOWED.items() if not targets)

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


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED[current]


def transition(current: Status, target: Status) -> Status:
    """``target`` if the lifecycle allows it from ``current``; else InvalidTransition (409)."""
    if not can_transition(current, target):
        raise InvalidTransition(f"The payment request is {current}; it cannot become {target}.")
    return target
