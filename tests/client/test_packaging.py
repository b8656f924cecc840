"""The SDK can ship as its own distribution: it imports nothing of the server, its
public names are pinned, and it says who it is."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

import payreq.client
import payreq.testing
import payreq.webhooks
from tests.client.fakes import Recorder, client, payment_a

CLIENT_SIDE = ("payreq", "payreq.client", "payreq.webhooks", "payreq.testing")


def test_the_client_side_imports_nothing_of_the_server() -> None:
    script = (
        "import json, sys\n"
        "import payreq.client, payreq.webhooks, payreq.testing\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'payreq' or m.startswith('payreq.'))))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    ours, top_level = (json.loads(line) for line in done.stdout.splitlines())
    server_side = [m for m in ours if not m.startswith(CLIENT_SIDE)]
    assert server_side == []
    assert {m for m in ours if m.startswith("payreq.client.")} >= {
        "payreq.client._core",
        "payreq.client._sync",
    }
    for framework in (
        "litestar",
        "msgspec",
        "sqlalchemy",
        "asyncpg",
        "redis",
        "standardwebhooks",
        "pydantic",
    ):
        assert framework not in top_level


def test_the_public_names_are_pinned() -> None:
    assert payreq.client.__all__ == [
        "APIError",
        "Application",
        "ApplicationWithSecret",
        "AsyncClient",
        "AsyncPaginator",
        "AuthenticationError",
        "BankDetails",
        "Client",
        "ClientToken",
        "ConflictError",
        "Delivery",
        "DeliveryAttempt",
        "Event",
        "EventDetail",
        "InsecureTransportWarning",
        "InstructionDetail",
        "Instructions",
        "NewClientToken",
        "NotFoundError",
        "Options",
        "Page",
        "Paginator",
        "Payment",
        "PaymentRequest",
        "PaymentStatus",
        "PayreqError",
        "PermissionDeniedError",
        "RateLimitError",
        "RetryPolicy",
        "ServerError",
        "StatementImport",
        "StatementLine",
        "TransportError",
        "ValidationError",
        "WaitOptions",
        "WaitTimeout",
        "WriteOptions",
        "__version__",
    ]
    exported = sorted(n for n in vars(payreq.client) if not n.startswith("_") or n == "__version__")
    assert sorted(payreq.client.__all__) == sorted(set(exported) - {"annotations"})
    assert payreq.webhooks.__all__ == [
        "DEFAULT_TOLERANCE",
        "PAYMENT_EVENT_TYPES",
        "PaymentEvent",
        "WebhookEvent",
        "WebhookVerificationError",
        "verify",
    ]
    assert payreq.testing.__all__ == [
        "LocalServer",
        "SignedWebhook",
        "payreq_client",
        "payreq_server",
        "sign_webhook",
    ]
    for module in (payreq.client, payreq.webhooks, payreq.testing):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_the_user_agent_names_the_sdk_and_its_version() -> None:
    server = Recorder(lambda r: httpx.Response(200, json=payment_a()))
    client(server).get_payment_request("p1")
    assert {r.headers["user-agent"] for r in server.requests} == {
        f"payreq-python/{payreq.client.__version__}"
    }
    assert payreq.client.__version__ == payreq.__version__
