"""``new_uuid``: what ``uuid.uuid4()`` returns; ``new_ordered_uuid``: RFC 9562 version 7."""

from __future__ import annotations

import time
import uuid

import pytest

from payreq.kit import ids
from payreq.kit.ids import new_ordered_uuid, new_uuid


def test_a_new_uuid_is_an_ordinary_random_version_4_uuid() -> None:
    made = [new_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for value in made:
        assert type(value) is uuid.UUID
        assert value.version == 4
        assert value.variant == uuid.RFC_4122
        assert value.is_safe is uuid.SafeUUID.unknown
        assert uuid.UUID(str(value)) == value
        assert hash(uuid.UUID(str(value))) == hash(value)
        assert repr(value) == f"UUID('{value}')"
    # every bit but the six fixed ones takes both values
    varying = 0
    for value in made:
        varying |= value.int ^ made[0].int
    assert bin(varying).count("1") == 128 - 6


@pytest.mark.parametrize("raw", [bytes(16), b"\xff" * 16, bytes(range(16))])
def test_a_new_uuid_is_uuid4_of_the_same_random_bytes(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_urandom", lambda n: raw[:n])
    assert new_uuid() == uuid.UUID(bytes=raw, version=4)


def test_an_ordered_uuid_is_version_7_increasing_with_the_time_of_its_making() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_ordered_uuid() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == len(made)
    assert made == sorted(made)  # also within one millisecond
    assert [str(value) for value in made] == sorted(str(value) for value in made)  # SQLite's text order
    for value in made:
        assert type(value) is uuid.UUID
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after  # the first 48 bits: Unix time in milliseconds
        assert uuid.UUID(str(value)) == value
    # the last 32 bits are random in every id (before them, a counter that starts at a
    # random value each millisecond keeps the order)
    varying = 0
    for value in made:
        varying |= (value.int ^ made[0].int) & 0xFFFF_FFFF
    assert varying == 0xFFFF_FFFF
