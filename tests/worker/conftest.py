"""The webhook tests' live receiver and hooked merchant, for the worker's own tests."""

from tests.webhook.conftest import fence, hooked, receiver

__all__ = ["fence", "hooked", "receiver"]
