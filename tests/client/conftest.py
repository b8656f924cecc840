"""The SDK's contract tests run against the session's one real ``payreq serve``
(SQLite, its own worker, a sandbox account): the ``payreq_server`` fixture of the
``payreq.testing`` plugin (``-p payreq.testing`` in the pytest options), so the SDK's
own test helper is what starts it."""

from __future__ import annotations

import pytest

from payreq.testing import LocalServer


@pytest.fixture
def local_server(payreq_server: LocalServer) -> LocalServer:
    return payreq_server
