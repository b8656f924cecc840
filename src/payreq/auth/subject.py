"""Who is calling: the credential behind a request, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Scope(StrEnum):
    PAYMENTS_CREATE = "payments.create"
    PAYMENTS_GET = "payments.get"
    PAYMENTS_INSTRUCTIONS = "payments.user-instructions.get"
    ALL = "*"


KNOWN_SCOPES = frozenset(s.value for s in Scope)


class CredentialKind(StrEnum):  # names of kinds, not secrets
    ACCESS_TOKEN = "access_token"  # noqa: S105
    CLIENT_TOKEN = "client_token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Tenant:
    """The account and environment that every read and write is scoped to; for a
    client token also its application, whose payments are the only ones it sees."""

    account_id: UUID
    environment: str
    application_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class AuthSubject:
    kind: CredentialKind
    credential_id: UUID
    tenant: Tenant
    scopes: frozenset[str]
    application_id: UUID | None
    """A client token's own application; None for access tokens (account-wide)."""
    rate_key: str
    """Whose budget a request spends: the API key, or the client token."""
    rate_limit: int | None
    account_rate_limit: int | None = None
    """The account's own limit (``payreq admin rate-limit --account``), else the default."""

    @property
    def account_rate_key(self) -> str:
        """The account and environment's budget, which every credential also spends."""
        return f"acct:{self.tenant.account_id}:{self.tenant.environment}"

    def allows(self, scope: Scope) -> bool:
        return Scope.ALL in self.scopes or scope in self.scopes

    @property
    def sandbox(self) -> bool:
        return self.tenant.environment == "sandbox"
