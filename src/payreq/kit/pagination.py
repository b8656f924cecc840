"""Cursor pagination: newest first, keyed on (created_at, id)."""

from __future__ import annotations

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def clamp_limit(value: int | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, value))
