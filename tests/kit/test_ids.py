"""``new_uuid``: what ``uuid.uuid4()`` returns."""

from __future__ import annotations

import uuid

import pytest

from payreq.kit import ids
from payreq.kit.ids import new_uuid


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
