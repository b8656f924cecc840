"""Payment applications and client tokens as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from payreq.db import Row

Text200 = Annotated[str, Meta(min_length=1, max_length=200)]
Code34 = Annotated[str, Meta(min_length=1, max_length=64)]


class Method(StrEnum):
    """The payment methods an application may offer its payers."""

    SANDBOX = "sandbox"
    BANK_TRANSFER = "bank_transfer"


class BankDetails(msgspec.Struct, kw_only=True, rename="camel", frozen=True, forbid_unknown_fields=True):
    """Where payers send a bank transfer. Stored as this JSON, shown as this JSON."""

    account_holder: Annotated[Text200, Meta(description="The account holder's name.")]
    bank_name: Annotated[Text200, Meta(description="The bank's name.")]
    iban: Annotated[Code34 | None, Meta(description="IBAN; spaces are removed, letters upper-cased.")] = None
    account_number: Annotated[
        Code34 | None, Meta(description="Domestic account number, where there is no IBAN.")
    ] = None
    bic: Annotated[Code34 | None, Meta(description="BIC (SWIFT code), 8 or 11 characters.")] = None
    routing_number: Annotated[
        Code34 | None, Meta(description="Domestic bank code (ABA routing number, sort code, ...).")
    ] = None


@dataclass(frozen=True, slots=True)
class Application:
    id: UUID
    client_id: str
    account_id: UUID
    environment: str
    name: str
    is_default: bool
    webhook_url: str | None
    default_redirect_url: str | None
    default_expires_in: int | None
    currencies: list[str] | None
    """None: every active currency."""
    methods: list[str]
    bank_details: BankDetails | None
    created_at: datetime
    webhook_disabled_at: datetime | None = None
    """Set when deliveries stopped: 410 Gone, or every attempt failed for three days."""

    @classmethod
    def of(cls, row: Row) -> Application:
        return cls(
            id=row["id"],
            client_id=row["client_id"],
            account_id=row["account_id"],
            environment=row["environment"],
            name=row["name"],
            is_default=bool(row["is_default"]),
            webhook_url=row["webhook_url"],
            default_redirect_url=row["default_redirect_url"],
            default_expires_in=row["default_expires_in"],
            currencies=msgspec.json.decode(row["currencies"], type=list[str]) if row["currencies"] else None,
            methods=msgspec.json.decode(row["methods"], type=list[str]),
            bank_details=(
                msgspec.json.decode(row["bank_details"], type=BankDetails) if row["bank_details"] else None
            ),
            created_at=row["created_at"],
            webhook_disabled_at=row["webhook_disabled_at"],
        )


@dataclass(frozen=True, slots=True)
class ClientToken:
    """A client token's public half: everything but the secret, which is never stored."""

    id: UUID
    application_id: UUID
    label: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> ClientToken:
        return cls(
            id=row["id"],
            application_id=row["application_id"],
            label=row["label"],
            scopes=row["scopes"].split(),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
        )
