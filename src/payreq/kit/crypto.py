"""Prefixed random secrets and their digests (SPEC §1).

Secrets look like ``prq_<kind>_<env>_<random>``: the kind (``cs`` client secret,
``at`` access token, ``ct`` client token) and the environment (``sbx``, ``live``) are
readable, the random part is base62 so a double click selects the whole secret.
Only the SHA-256 digest is stored; high-entropy secrets need no slow hash.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
from enum import StrEnum

BASE62 = string.digits + string.ascii_letters
LOWER_ALNUM = string.digits + string.ascii_lowercase
RANDOM_LENGTH = 32  # 32 base62 characters hold about 190 random bits


class SecretKind(StrEnum):
    CLIENT_SECRET = "cs"  # noqa: S105 (prefix tags, not secrets)
    ACCESS_TOKEN = "at"  # noqa: S105
    CLIENT_TOKEN = "ct"  # noqa: S105


ENV_TAG = {"sandbox": "sbx", "production": "live"}
TAG_ENV = {tag: env for env, tag in ENV_TAG.items()}


def random_string(length: int, alphabet: str = BASE62) -> str:
    """``length`` characters, each uniform over ``alphabet`` (ASCII, at most 256): bytes
    of the OS's CSPRNG, a byte at or past the largest multiple of the alphabet's size
    drawn again. One system call where ``secrets.choice`` made one per character (a
    third of ``POST /oauth/token``'s CPU)."""
    table, refused = _tables(alphabet)
    text = ""
    while len(text) < length:  # once, all but never twice (a quarter of the bytes refused)
        need = length - len(text)
        text += secrets.token_bytes(need + need // 4 + 8).translate(table, refused).decode("ascii")
    return text[:length]


@functools.cache
def _tables(alphabet: str) -> tuple[bytes, bytes]:
    """``bytes.translate``'s arguments for ``alphabet``: byte ``b`` becomes character
    ``b % size``, and the bytes at or past the largest multiple of ``size`` are dropped
    (so every character is equally likely); in C, where a list of characters cost 2 us."""
    size = len(alphabet)
    if not 0 < size <= 256 or not alphabet.isascii():
        raise ValueError("the alphabet must be 1 to 256 ASCII characters")
    limit = 256 - 256 % size
    table = bytes(ord(alphabet[byte % size]) for byte in range(256))
    return table, bytes(range(limit, 256))


def new_secret(kind: SecretKind, environment: str) -> str:
    return f"prq_{kind}_{ENV_TAG[environment]}_{random_string(RANDOM_LENGTH)}"


def secret_kind(token: str) -> SecretKind | None:
    """The kind a secret's prefix names, or None if it has no valid prefix."""
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != "prq" or parts[2] not in TAG_ENV:
        return None
    try:
        return SecretKind(parts[1])
    except ValueError:
        return None


def new_client_id(environment: str) -> str:
    """The public half of an API key (not a secret)."""
    return f"prq_id_{ENV_TAG[environment]}_{random_string(22)}"


def new_application_client_id() -> str:
    """A payment application's public 32-character Client ID, ``[a-z0-9]``."""
    return random_string(32, LOWER_ALNUM)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
