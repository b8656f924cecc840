"""The dashboard's navigation: one ordered list of entries that areas add to.

An entry names its path, its label, the permission a user needs to see it, and the
order among its neighbours. The header shows each entry the signed-in user's role
allows; a page still checks the permission itself (and the services check it again).
Part 2 of the dashboard adds Overview, Payments, Webhooks, Statements and Audit log
with ``register(NavEntry(...))`` in its area modules; no template changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from payreq.auth.roles import Actor, Permission


@dataclass(frozen=True, slots=True)
class NavEntry:
    path: str
    label: str
    permission: Permission
    order: int
    """Overview 10, Payments 20, Webhooks 30, Statements 40, Applications 50, API keys 60,
    Team 70, Audit log 80, Account 90 (gaps leave room)."""


NAV: list[NavEntry] = []


def register(entry: NavEntry) -> None:
    if any(existing.path == entry.path for existing in NAV):
        return
    NAV.append(entry)
    NAV.sort(key=lambda e: (e.order, e.label))


def visible(actor: Actor) -> list[NavEntry]:
    return [entry for entry in NAV if actor.may(entry.permission)]


def current(path: str) -> NavEntry | None:
    """The entry a path belongs to (longest prefix)."""
    found = [e for e in NAV if path == e.path or path.startswith(e.path.rstrip("/") + "/")]
    return max(found, key=lambda e: len(e.path)) if found else None
