"""What is measured: one request shape per scenario, handed to either load generator
through the same ``BENCH_*`` environment variables (bench/request.lua reads them too)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Scenario:
    name: str
    port: int
    path: str
    method: str = "GET"
    body: str = ""
    content_type: str = ""
    authorization: str = ""
    paths_file: Path | None = None
    """Cycle through the paths in this file (one a line) instead of ``path``."""
    idempotency: bool = False
    """Send a fresh ``Idempotency-Key`` with every request (not with ``paths_file``)."""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def env(self) -> dict[str, str]:
        return {
            "BENCH_METHOD": self.method,
            "BENCH_BODY": self.body,
            "BENCH_CONTENT_TYPE": self.content_type,
            "BENCH_AUTHORIZATION": self.authorization,
            "BENCH_PATHS": str(self.paths_file or ""),
            # a new prefix for each run of the load generator, whose counter starts again
            "BENCH_IDEMPOTENCY_PREFIX": f"bench-{uuid.uuid4().hex}" if self.idempotency else "",
        }


BARE = "bare Starlette GET (ceiling)"
GET_PAYMENT = "GET /payment/request/{id}"
POST_PAYMENT = "POST /payment/request"
POST_PAYMENT_KEYED = "POST /payment/request Idempotency-Key"


def limiter_scenario_name(limiter: str) -> str:
    return f"{GET_PAYMENT} limiter={limiter}"


PAYMENT_BODY = json.dumps(
    {
        "amount": "1250",
        "currency": "EUR",
        "redirect_url": "https://shop.example.com/return",
        "reference_id": "bench-order",
    },
    separators=(",", ":"),
)


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def all_scenarios(
    *,
    bare_port: int,
    bare_path: str,
    port: int,
    access_token: str,
    client_id: str,
    client_secret: str,
    get_paths: Path,
) -> list[Scenario]:
    """The ceiling first; ratios are taken against it."""
    return [
        Scenario(BARE, bare_port, bare_path),
        get_payment(GET_PAYMENT, port, access_token=access_token, get_paths=get_paths),
        post_payment(POST_PAYMENT, port, access_token=access_token),
        post_payment(POST_PAYMENT_KEYED, port, access_token=access_token, idempotency=True),
        Scenario(
            "POST /oauth/token",
            port,
            "/oauth/token",
            method="POST",
            body="grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            authorization=basic(client_id, client_secret),
        ),
    ]


def post_payment(name: str, port: int, *, access_token: str, idempotency: bool = False) -> Scenario:
    """Bearer token lookup + one insert and its event row (+ the stored answer of its key)."""
    return Scenario(
        name,
        port,
        "/payment/request",
        method="POST",
        body=PAYMENT_BODY,
        content_type="application/json",
        authorization=f"Bearer {access_token}",
        idempotency=idempotency,
    )


def database_scenario_name(scenario: str, database: str) -> str:
    return f"{scenario} [{database}]"


def database_scenarios(database: str, port: int, *, access_token: str, get_paths: Path) -> list[Scenario]:
    """The GET and the keyed POST on a payreq server of another database."""
    return [
        get_payment(
            database_scenario_name(GET_PAYMENT, database),
            port,
            access_token=access_token,
            get_paths=get_paths,
        ),
        post_payment(
            database_scenario_name(POST_PAYMENT_KEYED, database),
            port,
            access_token=access_token,
            idempotency=True,
        ),
    ]


def get_payment(name: str, port: int, *, access_token: str, get_paths: Path) -> Scenario:
    """Bearer token lookup + one read, cycling over the seeded payment requests."""
    return Scenario(
        name,
        port,
        get_paths.read_text().split()[0],
        authorization=f"Bearer {access_token}",
        paths_file=get_paths,
    )


def limiter_scenarios(ports: dict[str, int], *, access_token: str, get_paths: Path) -> list[Scenario]:
    """``GET /payment/request/{id}`` once per limiter configuration (name: its server's port)."""
    return [
        get_payment(limiter_scenario_name(limiter), port, access_token=access_token, get_paths=get_paths)
        for limiter, port in ports.items()
    ]
