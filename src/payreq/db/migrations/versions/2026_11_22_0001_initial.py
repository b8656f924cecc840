"""Initial schema: accounts, credentials, applications, payments, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payreq.db.types import UUID, Timestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", UUID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("disabled_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.CheckConstraint("environment IN ('sandbox', 'production')", name=op.f("ck_api_keys_environment")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_keys_client_id")),
    )
    op.create_index(op.f("ix_api_keys_account_id"), "api_keys", ["account_id"], unique=False)
    op.create_table(
        "applications",
        sa.Column("id", UUID, nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("default_redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("default_expires_in", sa.Integer(), nullable=True),
        sa.Column("currencies", sa.Text(), nullable=True),
        sa.Column("methods", sa.Text(), server_default='["sandbox"]', nullable=False),
        sa.Column("bank_details", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("archived_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "environment IN ('sandbox', 'production')", name=op.f("ck_applications_environment")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_applications_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("client_id", name=op.f("uq_applications_client_id")),
    )
    op.create_index(
        "ix_applications_account_env", "applications", ["account_id", "environment"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_users_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_account_id"), "users", ["account_id"], unique=False)
    op.create_table(
        "access_tokens",
        sa.Column("id", UUID, nullable=False),
        sa.Column("api_key_id", UUID, nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_access_tokens_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_access_tokens_token_digest")),
    )
    op.create_index(op.f("ix_access_tokens_api_key_id"), "access_tokens", ["api_key_id"], unique=False)
    op.create_index(op.f("ix_access_tokens_expires_at"), "access_tokens", ["expires_at"], unique=False)
    op.create_table(
        "client_tokens",
        sa.Column("id", UUID, nullable=False),
        sa.Column("application_id", UUID, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_client_tokens_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_client_tokens_token_digest")),
    )
    op.create_index(
        op.f("ix_client_tokens_application_id"), "client_tokens", ["application_id"], unique=False
    )
    op.create_table(
        "payments",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("application_id", UUID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("redirect_url", sa.String(length=2048), nullable=False),
        sa.Column("reference_id", sa.String(length=255), nullable=True),
        sa.Column("reference_label", sa.String(length=255), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("paid_at", Timestamp, nullable=True),
        sa.Column("cancelled_at", Timestamp, nullable=True),
        sa.Column("expired_at", Timestamp, nullable=True),
        sa.CheckConstraint("environment IN ('sandbox', 'production')", name=op.f("ck_payments_environment")),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'expired', 'cancelled')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint("amount >= 1 AND amount <= 1000000000000", name=op.f("ck_payments_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_payments_application_id_applications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(
        "ix_payments_application_created", "payments", ["application_id", "created_at"], unique=False
    )
    op.create_index("ix_payments_status_expires", "payments", ["status", "expires_at"], unique=False)
    op.create_index(
        "ix_payments_tenant_created",
        "payments",
        ["account_id", "environment", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_payments_tenant_reference",
        "payments",
        ["account_id", "environment", "reference_id"],
        unique=False,
    )
    op.create_table(
        "events",
        sa.Column("id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("application_id", UUID, nullable=False),
        sa.Column("payment_id", UUID, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("environment IN ('sandbox', 'production')", name=op.f("ck_events_environment")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_events_account_id_accounts")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_events_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_events_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_payment_id"), "events", ["payment_id"], unique=False)
    op.create_index(
        "ix_events_tenant_created", "events", ["account_id", "environment", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_events_tenant_created", table_name="events")
    op.drop_index(op.f("ix_events_payment_id"), table_name="events")
    op.drop_table("events")
    op.drop_index("ix_payments_tenant_reference", table_name="payments")
    op.drop_index("ix_payments_tenant_created", table_name="payments")
    op.drop_index("ix_payments_status_expires", table_name="payments")
    op.drop_index("ix_payments_application_created", table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_client_tokens_application_id"), table_name="client_tokens")
    op.drop_table("client_tokens")
    op.drop_index(op.f("ix_access_tokens_expires_at"), table_name="access_tokens")
    op.drop_index(op.f("ix_access_tokens_api_key_id"), table_name="access_tokens")
    op.drop_table("access_tokens")
    op.drop_index(op.f("ix_users_account_id"), table_name="users")
    op.drop_table("users")
    op.drop_index("ix_applications_account_env", table_name="applications")
    op.drop_table("applications")
    op.drop_index(op.f("ix_api_keys_account_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("accounts")
