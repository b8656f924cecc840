"""This feature's tables, on the shared metadata (``payreq.db.tables`` imports this
module so that Alembic and the tests see them).

``events`` (in ``payreq.db.tables``) is the outbox. Beside it:

- ``webhook_deliveries``: one row per event and endpoint, written in the event's own
  transaction when its application has a webhook URL; the worker claims due rows
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) by setting
  a lease (``claimed_until``), so that a killed worker's rows return to the pool;
- ``webhook_attempts``: every attempt, as the API shows it;
- three columns on ``applications``: the endpoint's state (failing since, disabled at).
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import applications, metadata, one_of
from payreq.db.types import UUID, Timestamp

DELIVERY_STATUSES = ("pending", "delivered", "failed")

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("event_id", UUID, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("application_id", UUID, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # attempts made in all; step: attempts in this round (a redelivery starts a new one)
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("claimed_until", Timestamp, nullable=True),
    sa.Column("claim_token", UUID, nullable=True),
    # a redelivery asked for while a worker held the delivery: its result leaves the
    # delivery due at once, for one more attempt (``repository.requeue``)
    sa.Column("redelivery_requested_at", Timestamp, nullable=True),
    sa.Column("last_attempt_at", Timestamp, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=True),
    sa.Column("failed_at", Timestamp, nullable=True),
    sa.CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status"),
    sa.UniqueConstraint("event_id", "application_id"),
    # the claim: due pending rows, oldest first
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    # the dashboard: one endpoint's deliveries
    sa.Index("ix_webhook_deliveries_application", "application_id", "created_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("delivery_id", UUID, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
    sa.Column("event_id", UUID, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("attempted_at", Timestamp, nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    # the request as sent: its headers (JSON; the body is the event's, rebuilt)
    sa.Column("request_headers", sa.Text, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Index("ix_webhook_attempts_event", "event_id", "attempted_at"),
    # an endpoint's health: its deliveries' attempts
    sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at"),
    sa.Index("ix_webhook_attempts_attempted_at", "attempted_at"),  # retention
)

# The endpoint's state lives on its application (one webhook URL per application).
# Declared here, beside the code that keeps it; migration 0003 adds the columns.
for _column in (
    sa.Column("webhook_failing_since", Timestamp, nullable=True),
    sa.Column("webhook_disabled_at", Timestamp, nullable=True),
    sa.Column("webhook_disabled_reason", sa.String(200), nullable=True),
):
    if _column.name not in applications.c:
        applications.append_column(_column)

__all__ = ["metadata", "webhook_attempts", "webhook_deliveries"]
