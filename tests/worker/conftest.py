"""The webhook tests' live receiver, for the worker's own tests."""

from tests.webhook.conftest import receiver

__all__ = ["receiver"]
