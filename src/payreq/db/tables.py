"""Table definitions (SQLAlchemy Core). Alembic migrates them; repositories query them
with plain SQL. Money is an integer in minor units, timestamps are UTC, ids are
UUIDs, machine secrets are stored only as SHA-256 digests.
"""

from __future__ import annotations

import sqlalchemy as sa

from payreq.db.types import UUID, Timestamp

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ENVIRONMENTS = ("sandbox", "production")
PAYMENT_STATUSES = ("pending", "paid", "expired", "cancelled")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _env_check() -> sa.CheckConstraint:
    return sa.CheckConstraint(one_of("environment", ENVIRONMENTS), name="environment")


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # shut: by the operator (``payreq admin disable-account``) or by its owner's closing
    sa.Column("disabled_at", Timestamp, nullable=True),
    # closed by its owner, for good (``disabled_at`` is set too); enable-account refuses it
    sa.Column("closed_at", Timestamp, nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("created_at", Timestamp, nullable=False),
    # requests per second of the account in each environment; NULL: the default
    sa.Column("rate_limit", sa.Integer, nullable=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_digest", sa.String(64), nullable=False),
    sa.Column("rate_limit", sa.Integer, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
    _env_check(),
)

access_tokens = sa.Table(
    "access_tokens",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("api_key_id", UUID, sa.ForeignKey("api_keys.id"), nullable=False, index=True),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False, index=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("client_id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("webhook_url", sa.String(2048), nullable=True),
    sa.Column("webhook_secret", sa.String(200), nullable=True),
    # after a rotation the old secret keeps signing (beside the new one) until then
    sa.Column("previous_webhook_secret", sa.String(200), nullable=True),
    sa.Column("previous_webhook_secret_expires_at", Timestamp, nullable=True),
    # the secrets rotated out before the previous one that still sign: JSON, newest
    # first, [{"secret", "expiresAt"}] (``webhook.signing.older_secrets``)
    sa.Column("older_webhook_secrets", sa.Text, nullable=True),
    sa.Column("default_redirect_url", sa.String(2048), nullable=True),
    sa.Column("default_expires_in", sa.Integer, nullable=True),
    sa.Column("currencies", sa.Text, nullable=True),
    sa.Column("methods", sa.Text, nullable=False, server_default='["sandbox"]'),
    sa.Column("bank_details", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("archived_at", Timestamp, nullable=True),
    sa.Index("ix_applications_account_env", "account_id", "environment"),
    _env_check(),
)

client_tokens = sa.Table(
    "client_tokens",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("application_id", UUID, sa.ForeignKey("applications.id"), nullable=False, index=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("rate_limit", sa.Integer, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("last_used_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("application_id", UUID, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("redirect_url", sa.String(2048), nullable=False),
    sa.Column("reference_id", sa.String(255), nullable=True),
    sa.Column("reference_label", sa.String(255), nullable=True),
    sa.Column("metadata", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("paid_at", Timestamp, nullable=True),
    sa.Column("cancelled_at", Timestamp, nullable=True),
    sa.Column("expired_at", Timestamp, nullable=True),
    sa.CheckConstraint("amount >= 1 AND amount <= 1000000000000", name="amount"),
    sa.CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
    _env_check(),
    # listing: one account and environment, newest first
    sa.Index("ix_payments_tenant_created", "account_id", "environment", "created_at", "id"),
    sa.Index("ix_payments_tenant_reference", "account_id", "environment", "reference_id"),
    sa.Index("ix_payments_application_created", "application_id", "created_at"),
    # the expiry sweep: pending rows by deadline
    sa.Index("ix_payments_status_expires", "status", "expires_at"),
    # the overview's pending payments past their deadline that the sweep has not expired
    # yet (its other figures read the rollups below)
    sa.Index("ix_payments_tenant_status", "account_id", "environment", "status", "expires_at", "created_at"),
)

# The overview's rollups (payment/rollup_repository.py writes them in the transaction of
# each status change, migration 0011 backfilled them): per UTC day, so that the overview
# reads a few thousand rows instead of every payment of the last 30 days.


def _rollup(name: str, *columns: sa.Column[object] | sa.CheckConstraint, amount: bool = True) -> sa.Table:
    """A rollup table: the tenant, ``columns`` and a slot as its key, its payments (and
    their amount). The slot (the last hex digit of each payment's id) splits every row
    sixteen ways, so that concurrent changes of one tenant, day and currency do not all
    queue on one row lock on PostgreSQL; readers sum over it."""
    return sa.Table(
        name,
        metadata,
        sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("environment", sa.String(16), primary_key=True),
        *columns,
        sa.Column("slot", sa.String(1), primary_key=True),
        sa.Column("payments", sa.BigInteger, nullable=False),
        *([sa.Column("amount", sa.BigInteger, nullable=False)] if amount else []),
    )


def _day() -> sa.Column[object]:
    return sa.Column("day", sa.String(10), primary_key=True)  # a UTC day, YYYY-MM-DD


payment_daily = _rollup(
    "payment_daily",
    _day(),  # of created_at
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),  # the payments' status now
    sa.CheckConstraint("payments >= 0 AND amount >= 0", name="counts"),
    sa.CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
)
payment_paid_daily = _rollup(
    "payment_paid_daily", _day(), sa.Column("currency", sa.String(3), primary_key=True)
)
payment_pay_times = _rollup(
    "payment_pay_times",
    _day(),  # of created_at
    sa.Column("bucket", sa.BigInteger, primary_key=True),  # rollup_repository.bucket(seconds)
    amount=False,
)
payment_pay_seconds = _rollup(
    "payment_pay_seconds",
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    _day(),  # of created_at
    sa.Column("seconds", sa.BigInteger, primary_key=True),  # whole seconds from creation to payment
    amount=False,
)


events = sa.Table(
    "events",
    metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("account_id", UUID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("application_id", UUID, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # the log's order, which is commit order (webhook/repository.py says how); every
    # insert sets it (nullable only so that SQLite adds it without rebuilding the table)
    sa.Column("log_position", sa.BigInteger, nullable=True),
    sa.Index("ix_events_tenant_created", "account_id", "environment", "created_at", "id"),
    sa.Index("ix_events_tenant_log", "account_id", "environment", "log_position", "id"),
    sa.Index("ix_events_log_position", "log_position"),
    sa.Index("ix_events_created_at", "created_at"),  # retention
    _env_check(),
)

# Each feature keeps its own tables beside its code; importing them here puts them on
# the one metadata that Alembic compares against.
from payreq.account import tables as _account_tables  # noqa: E402, F401
from payreq.audit import tables as _audit_tables  # noqa: E402, F401
from payreq.idempotency import tables as _idempotency_tables  # noqa: E402, F401
from payreq.method import tables as _method_tables  # noqa: E402, F401
from payreq.webhook import tables as _webhook_tables  # noqa: E402, F401
from payreq.worker import tables as _worker_tables  # noqa: E402, F401
