"""The Python SDK for merchants' servers: ``Client`` and ``AsyncClient``.

    from payreq.client import Client

    with Client() as payreq:  # PAYREQ_BASE_URL, PAYREQ_CLIENT_ID, PAYREQ_CLIENT_SECRET
        payment = payreq.create_payment_request(
            amount=10000, currency="USD", redirect_url="https://shop.example/thanks"
        )
        # send the payer to payment.checkout_url, then
        payment = payreq.wait_for_payment(payment.id, timeout=600)

Both clients have the same methods (the async ones awaited) and share one sans-I/O core
(``_core``) that builds every request and reads every answer: access tokens fetched,
cached and refreshed; retries of 429, 5xx and failed connections with back-off, jitter
and ``Retry-After``; one ``Idempotency-Key`` across the retries of a write; a limiter
that keeps the client under its key's rate limit. Every method takes ``timeout``,
``max_retries`` and ``extra_headers``, and every write ``idempotency_key``.

Exceptions (``payreq.client._exceptions``):

    PayreqError
    ├── APIError                  status, type, code, message, param, request_id
    │   ├── AuthenticationError   401 (and 403 invalid_client at /oauth/token)
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── ValidationError       400, 413, 422 (param)
    │   ├── RateLimitError        429 (retry_after)
    │   └── ServerError           5xx
    ├── TransportError            no answer (connection, time-out)
    └── WaitTimeout               wait_for_payment ran out of time (payment)

This package imports httpx, http-sf and the standard library only, never payreq's server.
"""

from payreq.client._async import AsyncClient
from payreq.client._core import Options, RetryPolicy, WaitOptions, WriteOptions
from payreq.client._env import InsecureTransportWarning
from payreq.client._exceptions import (
    APIError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PayreqError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
    WaitTimeout,
)
from payreq.client._models import (
    Application,
    ApplicationWithSecret,
    BankDetails,
    ClientToken,
    Delivery,
    DeliveryAttempt,
    Event,
    EventDetail,
    InstructionDetail,
    Instructions,
    NewClientToken,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StatementImport,
    StatementLine,
)
from payreq.client._pagination import AsyncPaginator, Paginator
from payreq.client._sync import Client
from payreq.client._version import __version__

__all__ = [
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
