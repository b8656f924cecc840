"""The registry of payment methods: the built-ins plus every plug-in installed under
the entry-point group ``payreq.methods``.

A plug-in distribution declares, in its ``pyproject.toml``::

    [project.entry-points."payreq.methods"]
    card = "acme_payreq:CardMethod"

and the object named is a ``PaymentMethod`` subclass (instantiated without arguments)
or an instance. A plug-in that fails to load, is not a method, or reuses a taken
name is logged and left out; the built-ins always win their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

import structlog

from payreq.application.models import Application
from payreq.method.bank_transfer import BankTransferMethod
from payreq.method.base import PaymentMethod
from payreq.method.sandbox import SandboxMethod

GROUP = "payreq.methods"
log = structlog.get_logger("payreq.method")


def builtins() -> list[PaymentMethod]:
    return [SandboxMethod(), BankTransferMethod()]


class MethodRegistry:
    def __init__(self, methods: Iterable[PaymentMethod]) -> None:
        self._methods: dict[str, PaymentMethod] = {}
        for method in methods:
            self.add(method)

    @classmethod
    def discover(cls, group: str = GROUP) -> MethodRegistry:
        registry = cls(builtins())
        for entry in entry_points(group=group):
            method = _load(entry)
            if method is not None:
                registry.add(method)
        return registry

    def add(self, method: PaymentMethod) -> bool:
        if method.name in self._methods:
            log.error("payment_method_name_taken", method=method.name, by=type(method).__qualname__)
            return False
        self._methods[method.name] = method
        return True

    def get(self, name: str) -> PaymentMethod | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return list(self._methods)

    def __iter__(self) -> Iterator[PaymentMethod]:
        return iter(self._methods.values())

    def offered(self, application: Application, *, environment: str, currency: str) -> list[PaymentMethod]:
        """The methods this application offers a payment in ``currency``, in the
        application's order: known, valid there, and configured."""
        chosen = []
        for name in application.methods:
            method = self._methods.get(name)
            if (
                method is not None
                and method.supports(environment=environment, currency=currency)
                and method.unavailable(application) is None
            ):
                chosen.append(method)
        return chosen


def _load(entry: EntryPoint) -> PaymentMethod | None:
    try:
        loaded = entry.load()
        method = loaded() if isinstance(loaded, type) else loaded
    except Exception:
        log.exception("payment_method_failed_to_load", entry_point=entry.name, value=entry.value)
        return None
    if not isinstance(method, PaymentMethod) or not getattr(method, "name", None):
        log.error("payment_method_not_a_method", entry_point=entry.name, value=entry.value)
        return None
    return method


@lru_cache(maxsize=1)
def default_registry() -> MethodRegistry:
    """Built once per process."""
    return MethodRegistry.discover()
