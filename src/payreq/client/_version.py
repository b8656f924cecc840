"""The SDK's version, sent as ``User-Agent: payreq-python/<version>``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("payreq")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

USER_AGENT = f"payreq-python/{__version__}"
