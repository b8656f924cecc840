"""Every role gets exactly what the matrix says (``payreq.auth.roles``), on every
page and action; and the services refuse on their own, so a page that forgot its
check still cannot act."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from litestar import Litestar

from payreq.account.session_repository import user_by_email
from payreq.account.sessions import actor_of
from payreq.application.schemas import ApplicationCreate, ApplicationUpdate, TokenCreate
from payreq.audit.models import Actor as AuditActor
from payreq.audit.service import AuditFilter
from payreq.auth.roles import Actor, Permission, Role, RoleForbidden
from payreq.auth.subject import dashboard_subject
from payreq.method.statements.model import Statement, StatementLine, StatementUnreadable
from payreq.services import Services
from tests.dashboard.conftest import DashboardClient, join, unique_email

ROLES = ("viewer", "developer", "admin", "owner")
RANK = {"read": 0, "develop": 1, "team": 2, "own": 3}
ROLE_RANK = {"viewer": 0, "developer": 1, "admin": 2, "owner": 3}


@dataclass
class Targets:
    client_id: str
    key_id: str
    token_id: str
    member_id: str
    invitation_id: str
    payment_id: str = ""
    event_id: str = ""
    import_id: str = ""
    statement: bytes = b""


async def _targets(owner: DashboardClient, app: Litestar) -> Targets:
    made = await owner.post(
        "/dashboard/applications",
        {"name": "Matrix app", "methods": "sandbox"},
        csrf_from="/dashboard/applications/new",
    )
    client_id = made.headers["location"].rsplit("/", 1)[1]
    await owner.post(
        f"/dashboard/applications/{client_id}/tokens",
        {"label": "t", "scopes": "*"},
        csrf_from=f"/dashboard/applications/{client_id}/tokens/new",
    )
    page = (await owner.get(f"/dashboard/applications/{client_id}")).text
    token_id = re.search(rf"/dashboard/applications/{client_id}/tokens/([0-9a-f-]{{36}})/revoke", page).group(
        1
    )  # type: ignore[union-attr]
    await owner.post("/dashboard/api-keys", {"label": "k"}, csrf_from="/dashboard/api-keys")
    keys = (await owner.get("/dashboard/api-keys")).text
    key_id = re.search(r"/dashboard/api-keys/([0-9a-f-]{36})/revoke", keys).group(1)  # type: ignore[union-attr]
    member = await join(app, owner, "viewer")
    await member.http.aclose()
    invited = await owner.post(
        "/dashboard/team/invitations",
        {"email": unique_email(), "role": "viewer"},
        csrf_from="/dashboard/team",
    )
    invitation_id = re.search(r"/dashboard/team/invitations/([0-9a-f-]{36})/revoke", invited.text).group(1)  # type: ignore[union-attr]
    team = (await owner.get("/dashboard/team")).text
    member_id = re.findall(r"/dashboard/team/members/([0-9a-f-]{36})/remove", team)[-1]
    payment_id, event_id = await _payment(app, owner)
    import_id, statement = await _statement(app, owner)
    return Targets(
        client_id, key_id, token_id, member_id, invitation_id, payment_id, event_id, import_id, statement
    )


async def _statement(app: Litestar, owner: DashboardClient) -> tuple[str, bytes]:
    """An import of the camt.053 fixture whose line 2 is late (its payment was cancelled)."""
    from tests.dashboard.statement_data import bank_payments, camt053

    (_, ref1), (second, ref2) = await bank_payments(app, owner, 12500, 9999)
    await owner.post(f"/dashboard/payments/{second}/cancel", {})
    body = camt053(ref1, ref2)
    done = await owner.upload("/dashboard/statements", {"file": ("camt.xml", body, "application/xml")})
    assert done.status_code == 303, done.text
    return done.headers["location"].rsplit("/", 1)[1], body


async def _payment(app: Litestar, owner: DashboardClient) -> tuple[str, str]:
    """A pending sandbox payment of the owner's account and its payment.created event."""
    from payreq.payment.models import PaymentDraft
    from payreq.webhook.repository import events_for_payment

    services: Services = app.state.services
    actor = await _actor(services, owner.email, Role.OWNER)
    async with services.db.transaction() as conn:
        payment = await services.payments.create(
            conn,
            dashboard_subject(actor, "sandbox"),
            PaymentDraft(amount=1000, currency="EUR", redirect_url="https://shop.example/done"),
        )
        events = await events_for_payment(conn, payment.id)
    return str(payment.id), str(events[0]["id"])


# (name, permission needed, method, path, form); paths take the Targets' fields
MATRIX: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("home", "read", "GET", "/dashboard", {}),
    ("security page", "read", "GET", "/dashboard/account/security", {}),
    ("switch environment", "read", "POST", "/dashboard/environment", {"environment": "sandbox"}),
    ("end other sessions", "read", "POST", "/dashboard/account/security/sessions/end-others", {}),
    ("applications", "develop", "GET", "/dashboard/applications", {}),
    ("new application form", "develop", "GET", "/dashboard/applications/new", {}),
    ("application page", "develop", "GET", "/dashboard/applications/{client_id}", {}),
    ("token dialog", "develop", "GET", "/dashboard/applications/{client_id}/tokens/new", {}),
    ("api keys", "develop", "GET", "/dashboard/api-keys", {}),
    ("create application", "develop", "POST", "/dashboard/applications", {"name": "x", "methods": "sandbox"}),
    (
        "save application",
        "develop",
        "POST",
        "/dashboard/applications/{client_id}",
        {"name": "Renamed", "methods": "sandbox"},
    ),
    ("rotate webhook secret", "develop", "POST", "/dashboard/applications/{client_id}/webhook-secret", {}),
    ("send test event", "develop", "POST", "/dashboard/applications/{client_id}/test-event", {}),
    (
        "create token",
        "develop",
        "POST",
        "/dashboard/applications/{client_id}/tokens",
        {"label": "x", "scopes": "*"},
    ),
    ("revoke token", "develop", "POST", "/dashboard/applications/{client_id}/tokens/{token_id}/revoke", {}),
    ("create api key", "develop", "POST", "/dashboard/api-keys", {"label": "x"}),
    ("roll api key", "develop", "POST", "/dashboard/api-keys/{key_id}/roll", {"overlap": "1h"}),
    ("revoke api key", "develop", "POST", "/dashboard/api-keys/{key_id}/revoke", {}),
    ("overview", "read", "GET", "/dashboard/overview", {}),
    ("payments", "read", "GET", "/dashboard/payments?status=pending&q=x", {}),
    ("payments export", "read", "GET", "/dashboard/payments/export", {}),
    ("payment page", "read", "GET", "/dashboard/payments/{payment_id}", {}),
    ("webhooks", "read", "GET", "/dashboard/webhooks?outcome=failed", {}),
    (
        "redeliver (payment page)",
        "develop",
        "POST",
        "/dashboard/payments/{payment_id}/events/{event_id}/redeliver",
        {},
    ),
    ("redeliver (delivery log)", "develop", "POST", "/dashboard/webhooks/events/{event_id}/redeliver", {}),
    (
        "count failed deliveries",
        "develop",
        "POST",
        "/dashboard/webhooks/resend",
        {"since": "2020-01-01T00:00"},
    ),
    (
        "resend failed deliveries",
        "develop",
        "POST",
        "/dashboard/webhooks/resend",
        {"since": "2020-01-01T00:00", "confirm": "yes"},
    ),
    ("enable endpoint", "develop", "POST", "/dashboard/webhooks/{client_id}/enable", {}),
    ("statements", "read", "GET", "/dashboard/statements", {}),
    ("older statements", "read", "GET", "/dashboard/statements?cursor={import_id}", {}),
    ("newer statements", "read", "GET", "/dashboard/statements?before={import_id}", {}),
    ("statement import page", "read", "GET", "/dashboard/statements/{import_id}?cursor=1", {}),
    ("import statement", "develop", "UPLOAD", "/dashboard/statements", {}),
    (
        "resolve statement line",
        "develop",
        "POST",
        "/dashboard/statements/{import_id}/lines/2/resolve",
        {"action": "refund_due"},
    ),
    ("cancel payment", "develop", "POST", "/dashboard/payments/{payment_id}/cancel", {}),
    ("audit log", "team", "GET", "/dashboard/audit-log?kind=payment", {}),
    ("archive application", "develop", "POST", "/dashboard/applications/{client_id}/archive", {}),
    ("team", "team", "GET", "/dashboard/team", {}),
    ("invite", "team", "POST", "/dashboard/team/invitations", {"email": "{email}", "role": "viewer"}),
    ("revoke invitation", "team", "POST", "/dashboard/team/invitations/{invitation_id}/revoke", {}),
    ("change role", "team", "POST", "/dashboard/team/members/{member_id}/role", {"role": "developer"}),
    ("require two-factor", "team", "POST", "/dashboard/account/security/require-totp", {"require": "0"}),
    ("remove member", "team", "POST", "/dashboard/team/members/{member_id}/remove", {}),
    ("close account (wrong name)", "own", "POST", "/dashboard/team/close", {"confirm_name": "not it"}),
]


@pytest.mark.parametrize("role", ROLES)
async def test_every_page_and_action_follows_the_role_matrix(
    role: str, signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    owner = await signed_in("owner")
    targets = await _targets(owner, dashboard_app)
    user = owner if role == "owner" else await join(dashboard_app, owner, role)
    outcomes = {}
    for name, _permission, method, path, form in MATRIX:
        url = path.format(**vars(targets))
        if method == "GET":
            answer = await user.get(url)
        elif method == "UPLOAD":
            answer = await user.upload(url, {"file": ("again.xml", targets.statement, "application/xml")})
        else:
            filled = {k: v.format(email=unique_email()) for k, v in form.items()}
            answer = await user.post(url, filled)
        outcomes[name] = answer.status_code
    expected = {
        name: (403 if RANK[permission] > ROLE_RANK[role] else "allowed") for name, permission, *_ in MATRIX
    }
    seen = {name: (403 if code == 403 else "allowed") for name, code in outcomes.items()}
    assert seen == expected, outcomes
    # 409: redelivering where the application has no webhook URL, cancelling twice
    assert all(code in (200, 303, 403, 409, 422) for code in outcomes.values()), [
        (k, v) for k, v in outcomes.items() if v not in (200, 303, 403, 409, 422)
    ]
    # navigation offers exactly the allowed areas
    home = (await user.get("/dashboard")).text
    assert ('href="/dashboard/applications"' in home) is (ROLE_RANK[role] >= 1)
    assert ('href="/dashboard/api-keys"' in home) is (ROLE_RANK[role] >= 1)
    assert ('href="/dashboard/team"' in home) is (ROLE_RANK[role] >= 2)
    for area in ("overview", "payments", "webhooks", "statements"):
        assert f'href="/dashboard/{area}"' in home
    assert ('href="/dashboard/audit-log"' in home) is (ROLE_RANK[role] >= 2)
    # a viewer's refused cancel left the payment as it was; a developer's cancelled it
    detail = (await owner.get(f"/dashboard/payments/{targets.payment_id}")).text
    assert ("cancelled</span>" in detail) is (ROLE_RANK[role] >= 1)
    # a viewer's refused upload and resolve changed nothing; a developer's did both
    statements = (await owner.get("/dashboard/statements")).text
    assert statements.count('href="/dashboard/statements/') == (2 if ROLE_RANK[role] >= 1 else 1)
    report = (await owner.get(f"/dashboard/statements/{targets.import_id}")).text
    assert ("refund due</span>" in report) is (ROLE_RANK[role] >= 1)


async def test_a_refused_action_changes_nothing(signed_in: Callable[..., Awaitable[DashboardClient]]) -> None:
    viewer = await signed_in("viewer")
    assert (await viewer.post("/dashboard/api-keys", {"label": "sneaky"})).status_code == 403
    assert (
        await viewer.post("/dashboard/applications", {"name": "sneaky", "methods": "sandbox"})
    ).status_code == 403
    developer = await signed_in("developer", owner=None)
    assert "sneaky" not in (await developer.get("/dashboard/api-keys")).text


# -- the services refuse by themselves -----------------------------------------------------


async def _actor(services: Services, email: str, role: Role) -> Actor:
    async with services.db.read() as conn:
        row = await user_by_email(conn, email)
    assert row is not None
    actor = actor_of(row)
    return Actor(actor.user_id, actor.account_id, role, actor.email)


def _unreadable(data: bytes) -> Iterator[StatementLine]:
    raise StatementUnreadable("Not a statement.")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER, Role.ADMIN])
async def test_the_services_enforce_roles_without_any_page(
    role: Role, signed_in: Callable[..., Awaitable[DashboardClient]], dashboard_app: Litestar
) -> None:
    services: Services = dashboard_app.state.services
    owner = await signed_in("owner")
    actor = await _actor(services, owner.email, role)  # the owner's account, seen with a lesser role
    subject = dashboard_subject(actor, "sandbox")
    async with services.db.read() as conn:
        default = (await services.applications.list(conn, subject))[0]
    unset = await services.applications.check_webhook_url(None)
    calls: list[tuple[Permission, Callable[..., Awaitable[object]]]] = [
        (
            Permission.DEVELOP,
            lambda c: services.applications.create(c, subject, ApplicationCreate(name="x"), webhook=unset),
        ),
        (
            Permission.DEVELOP,
            lambda c: services.applications.update(
                c, subject, default.client_id, ApplicationUpdate(name="y")
            ),
        ),
        (
            Permission.DEVELOP,
            lambda c: services.applications.rotate_webhook_secret(c, subject, default.client_id),
        ),
        (
            Permission.DEVELOP,
            lambda c: services.client_tokens.create(
                c, subject, default.client_id, TokenCreate(label="x", scopes=["*"])
            ),
        ),
        (
            Permission.DEVELOP,
            lambda c: services.client_tokens.revoke(c, subject, default.client_id, str(uuid.uuid4())),
        ),
        (Permission.DEVELOP, lambda c: services.api_keys.create(c, subject, label="x")),
        (Permission.DEVELOP, lambda c: services.api_keys.list(c, subject)),
        (Permission.DEVELOP, lambda c: services.payments.cancel(c, subject, str(uuid.uuid4()))),
        (Permission.DEVELOP, lambda c: services.webhooks.redeliver(c, subject, str(uuid.uuid4()))),
        (
            Permission.DEVELOP,
            lambda c: services.webhooks.replay_batch(c, subject, since=services.clock(), after=None),
        ),
        (Permission.DEVELOP, lambda c: services.monitor.enable(c, subject, default.client_id)),
        (Permission.READ, lambda c: services.methods.statements.imports(c, subject)),
        (Permission.READ, lambda c: services.methods.statements.report(c, subject, str(uuid.uuid4()))),
        (
            Permission.DEVELOP,
            lambda c: services.methods.statements.resolve(
                c, subject, import_id=str(uuid.uuid4()), line=1, action="accept", actor=AuditActor.of(subject)
            ),
        ),
        (Permission.TEAM, lambda c: services.audit.list(c, subject, AuditFilter())),
        (Permission.TEAM, lambda c: services.team.invite(c, actor, email=unique_email(), role="viewer")),
        (Permission.TEAM, lambda c: services.team.members(c, actor)),
        (Permission.TEAM, lambda c: services.totp.require_for_account(c, actor, True)),
        (Permission.OWN, lambda c: services.team.close_account(c, actor, confirm_name="x", account_name="x")),
        (Permission.OWN, lambda c: services.team.invite(c, actor, email=unique_email(), role="owner")),
    ]
    for number, (permission, call) in enumerate(calls):
        refused, error = False, None
        try:
            async with services.db.transaction() as conn:
                await call(conn)
        except RoleForbidden:
            refused = True
        except Exception as exc:  # allowed: the call went past the role check (and may fail on its data)
            refused, error = False, exc
        assert refused is (not actor.may(permission)), (role, permission, number, error)
    # an import writes in its own units of work, so it is called outside one
    for run in (services.methods.statements.run, services.methods.statements.run_in_background):
        try:
            await run(services.db, subject, Statement("csv", b"x", _unreadable), source="dashboard")
            refused = False
        except RoleForbidden:
            refused = True
        except StatementUnreadable:  # allowed: past the role check, the empty file is refused
            refused = False
        assert refused is (not actor.may(Permission.DEVELOP)), (role, run)


async def test_a_developers_api_key_reads_no_more_of_the_audit_log_than_the_developer_may(
    signed_in: Callable[..., Awaitable[DashboardClient]],
) -> None:
    from tests.dashboard.test_keys import create_key

    owner = await signed_in("owner")
    developer = await signed_in("developer", owner=owner)
    invited = unique_email("invited")
    answer = await owner.post(
        "/dashboard/team/invitations", {"email": invited, "role": "viewer"}, csrf_from="/dashboard/team"
    )
    assert answer.status_code == 200
    assert (await developer.get("/dashboard/audit-log")).status_code == 403
    client_id, secret = await create_key(developer, "developer's key")
    token = await developer.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}

    read = await developer.http.get("/api/audit-log", params={"limit": 100}, headers=bearer)

    assert read.status_code == 200, read.text
    kinds = {e["kind"] for e in read.json()["data"]}
    assert "api_key.created" in kinds  # this environment's changes are there
    # the team's part of the log (who was invited, who signed in from where) is not
    assert not kinds & {"team.invited", "team.joined", "sign_in.succeeded", "account.created"}, kinds
    assert invited not in read.text and owner.email not in read.text
    page = (await owner.get("/dashboard/audit-log")).text  # an owner's page shows it all
    assert invited in page and "sign_in.succeeded" in page
