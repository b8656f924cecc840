"""The worker's own table: one heartbeat row per running worker (migration 0010)."""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import metadata
from payreq.db.types import Timestamp

worker_heartbeats = sa.Table(
    "worker_heartbeats",
    metadata,
    sa.Column("worker_id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("beat_at", Timestamp, nullable=False),
)
