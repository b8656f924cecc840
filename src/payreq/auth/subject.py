"""Who is calling: the credential behind a request, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from uuid import UUID

from payreq.auth.roles import Actor


class Scope(StrEnum):
    PAYMENTS_CREATE = "payments.create"
    PAYMENTS_GET = "payments.get"
    PAYMENTS_INSTRUCTIONS = "payments.user-instructions.get"
    ALL = "*"


KNOWN_SCOPES = frozenset(s.value for s in Scope)


class CredentialKind(StrEnum):  # names of kinds, not secrets
    ACCESS_TOKEN = "access_token"  # noqa: S105
    CLIENT_TOKEN = "client_token"  # noqa: S105
    DASHBOARD = "dashboard"
    """A signed-in dashboard user (``actor`` says who and with which role)."""


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

    api_key_id: UUID | None = None
    """An access token's API key: the actor the audit log names."""
    label: str | None = None
    """What the audit log shows: the API key's Client ID, the client token's label."""
    address: str | None = None
    """The client address of the request (``at``'s copy for it; None on the subject
    the credential cache holds)."""
    actor: Actor | None = None
    """The dashboard user behind a ``DASHBOARD`` subject; None for API credentials."""
    account_rate_key: str = field(init=False, repr=False, compare=False)
    """The account and environment's budget, which every credential also spends."""

    account_text: str = field(init=False, repr=False, compare=False)
    """The account id as text (what the logs carry), made once per credential."""
    _clones: dict[str | None, AuthSubject] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set(self, "account_text", str(self.tenant.account_id))
        _set(self, "account_rate_key", f"acct:{self.account_text}:{self.tenant.environment}")
        _set(self, "_clones", {})

    def at(self, address: str | None) -> AuthSubject:
        """This subject for a request from ``address`` (what ``dataclasses.replace``
        makes). The credential cache hands out one subject for every poll: its copy
        for each address is made once (subjects are immutable) and kept with it, for
        up to ``CLONES_KEPT`` addresses."""
        clones = self._clones
        clone = clones.get(address)
        if clone is not None:
            return clone
        clone = _new(AuthSubject)
        for name in _FIELDS:
            _set(clone, name, getattr(self, name))
        _set(clone, "address", address)
        if len(clones) >= CLONES_KEPT:
            clones.clear()
        clones[address] = clone
        return clone

    def allows(self, scope: Scope) -> bool:
        return Scope.ALL in self.scopes or scope in self.scopes

    @property
    def sandbox(self) -> bool:
        return self.tenant.environment == "sandbox"


CLONES_KEPT = 64
_new = object.__new__
_set = object.__setattr__
_FIELDS = tuple(f.name for f in fields(AuthSubject))


def dashboard_subject(actor: Actor, environment: str) -> AuthSubject:
    """What a dashboard page passes to the services the API also uses: the account's
    tenant in the selected environment, with the user's role attached."""
    return AuthSubject(
        kind=CredentialKind.DASHBOARD,
        credential_id=actor.user_id,
        tenant=Tenant(actor.account_id, environment),
        scopes=frozenset({Scope.ALL.value}),
        application_id=None,
        rate_key=f"user:{actor.user_id}",
        rate_limit=None,
        actor=actor,
    )
