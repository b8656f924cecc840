"""The dashboard's side of accounts (issue 12), on the shared metadata
(``payreq.db.tables`` imports this module).

- ``user_sessions``: server-side sessions; the cookie holds a random id whose SHA-256
  digest is the key, so a database dump holds no usable session;
- ``invitations``: an owner's or admin's link for a new member (digest of the token);
- ``recovery_codes``: ten single-use codes per user with TOTP (digests);
- ``password_resets``: single-use reset links (digests);
- ``pending_signups``: sign-ups waiting for their address to be confirmed by the link
  mailed to it (digest of the token, the password's hash, single use, 24 hours); nothing
  unique but the digest, so a pending sign-up reserves no address;
- ``login_attempts``: failed and successful sign-ins, counted per address and per user
  by the login throttle;
- columns on ``accounts`` (``require_totp``), ``users`` (role, TOTP) and ``api_keys``
  (the previous secret of a roll and when it stops working).
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.tables import accounts, api_keys, metadata, one_of, users
from payreq.db.types import UUID, Timestamp

ROLES = ("owner", "admin", "developer", "viewer")
SESSION_STAGES = ("totp", "full")

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("id_digest", sa.String(64), primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("csrf_secret", sa.String(64), nullable=False),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.CheckConstraint(one_of("stage", SESSION_STAGES), name="stage"),
)

invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("invited_by", UUID, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("accepted_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.CheckConstraint(one_of("role", ROLES), name="role"),
)

recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("code_digest", sa.String(64), nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
)

password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("user_id", UUID, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
)

pending_signups = sa.Table(
    "pending_signups",
    metadata,
    sa.Column("token_digest", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("account_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False, index=True),
    sa.Column("used_at", Timestamp, nullable=True),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("user_id", UUID, nullable=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_login_attempts_address_at", "address", "at"),
    sa.Index("ix_login_attempts_user_at", "user_id", "at"),
)

for _table, _column in (
    (accounts, sa.Column("require_totp", sa.Boolean, nullable=False, server_default=sa.text("false"))),
    (users, sa.Column("role", sa.String(16), nullable=False, server_default="owner")),
    (users, sa.Column("totp_secret", sa.String(64), nullable=True)),
    (users, sa.Column("totp_enabled_at", Timestamp, nullable=True)),
    (users, sa.Column("totp_last_step", sa.BigInteger, nullable=True)),
    (users, sa.Column("password_changed_at", Timestamp, nullable=True)),
    (api_keys, sa.Column("previous_secret_digest", sa.String(64), nullable=True)),
    (api_keys, sa.Column("previous_secret_expires_at", Timestamp, nullable=True)),
):
    if _column.name not in _table.c:
        _table.append_column(_column)

__all__ = [
    "invitations",
    "login_attempts",
    "password_resets",
    "pending_signups",
    "recovery_codes",
    "user_sessions",
]
