"""CLI commands of one feature, registered on the main ``payreq`` app by ``register``."""

from __future__ import annotations

import typer


def register(app: typer.Typer, admin: typer.Typer) -> None:
    """Add this feature's commands to ``payreq`` and ``payreq admin``."""
