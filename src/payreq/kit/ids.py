"""New ids: random ones (``uuid.uuid4()`` without its constructor's cost) for what a
client holds and may guess at, time-ordered ones for rows only payreq makes and reads."""

from __future__ import annotations

import os
import uuid

from uuid_utils.compat import uuid7

_new = object.__new__
_set = object.__setattr__
_from_bytes = int.from_bytes
_urandom = os.urandom
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version's nibble and the variant's two bits
_VERSION_4 = (4 << 76) | (0x8000 << 48)  # version 4, RFC 4122 variant
_UNKNOWN = uuid.SafeUUID.unknown


def new_uuid() -> uuid.UUID:
    """What ``uuid.uuid4()`` returns (16 bytes of ``os.urandom``, version 4, RFC 4122
    variant, ``is_safe`` unknown) in half its time: ``UUID(bytes=..., version=4)``
    checks its keyword arguments in Python; three ids are made per payment creation.

    For resource ids the SPEC calls random (a payment's: its checkout URL is the
    payer's only key to the page)."""
    value = _new(uuid.UUID)
    _set(value, "int", (_from_bytes(_urandom(16)) & _CLEAR) | _VERSION_4)
    _set(value, "is_safe", _UNKNOWN)
    return value


def new_ordered_uuid() -> uuid.UUID:
    """A version 7 UUID (RFC 9562: the Unix time in milliseconds, then a counter that
    starts at a random value each millisecond, then 32 random bits), for the rows a
    write path appends: events, webhook deliveries and attempts, access tokens. Their
    primary keys, and the indexes that end in them, then grow at their right edge, not
    at a random leaf: a batch of writes dirties a few pages instead of one per row per
    index, and the COMMIT writes those pages (SQLite's WAL, PostgreSQL's full-page
    images). Never for an id that must not tell when it was made: only the creation
    time is in it, which the API shows anyway."""
    return uuid7()


ORDERED_UUID_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING"
    " substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)"
    " FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
)
"""``new_ordered_uuid`` as a PostgreSQL expression, for rows a statement appends by
itself (the expiry sweep's events and deliveries): a random version 4 UUID whose first
48 bits become the Unix time in milliseconds and whose version nibble becomes 7 (bits
52 and 53 set; its variant bits are already RFC 9562's). The 74 bits after the time
are random (RFC 9562's method 1 without a counter: ids of one millisecond are not in
order among themselves). PostgreSQL 18 has ``uuidv7()``; payreq supports older ones."""
