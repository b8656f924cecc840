"""Prefixed secrets, their SHA-256 digests and application client ids (SPEC §1)."""

from __future__ import annotations

import hashlib
import math
import re
import string
from collections import Counter

import pytest

from payreq.kit import crypto
from payreq.kit.crypto import (
    LOWER_ALNUM,
    SecretKind,
    digest,
    digests_match,
    new_application_client_id,
    new_secret,
    random_string,
    secret_kind,
)

BASE62 = re.compile(r"[0-9A-Za-z]{32}")
ENV_TAGS = {"sandbox": "sbx", "production": "live"}


@pytest.mark.parametrize("kind", list(SecretKind))
@pytest.mark.parametrize("environment", ["sandbox", "production"])
def test_new_secret_has_kind_and_environment_prefix_and_32_base62_characters(
    kind: SecretKind, environment: str
) -> None:
    secret = new_secret(kind, environment)
    prefix = f"prq_{kind.value}_{ENV_TAGS[environment]}_"
    assert secret.startswith(prefix)
    assert BASE62.fullmatch(secret[len(prefix) :])
    assert secret_kind(secret) is kind


def test_secret_kind_tags_are_the_documented_ones() -> None:
    assert {k.value for k in SecretKind} == {"cs", "at", "ct"}
    assert new_secret(SecretKind.CLIENT_SECRET, "sandbox").startswith("prq_cs_sbx_")
    assert new_secret(SecretKind.ACCESS_TOKEN, "production").startswith("prq_at_live_")
    assert new_secret(SecretKind.CLIENT_TOKEN, "sandbox").startswith("prq_ct_sbx_")


def test_new_secret_differs_on_every_call() -> None:
    secrets = {new_secret(SecretKind.ACCESS_TOKEN, "sandbox") for _ in range(500)}
    assert len(secrets) == 500


def test_new_secret_random_part_uses_the_whole_base62_alphabet() -> None:
    seen: set[str] = set()
    for _ in range(200):
        seen.update(new_secret(SecretKind.CLIENT_TOKEN, "production").rsplit("_", 1)[1])
    assert seen == set(string.digits + string.ascii_letters)


def test_new_secret_refuses_an_unknown_environment() -> None:
    with pytest.raises(KeyError):
        new_secret(SecretKind.ACCESS_TOKEN, "staging")


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("prq_cs_sbx_" + "a" * 32, SecretKind.CLIENT_SECRET),
        ("prq_at_live_" + "Z9" * 16, SecretKind.ACCESS_TOKEN),
        ("prq_ct_sbx_" + "0" * 32, SecretKind.CLIENT_TOKEN),
    ],
)
def test_secret_kind_reads_the_prefix(token: str, kind: SecretKind) -> None:
    assert secret_kind(token) is kind


@pytest.mark.parametrize(
    "token",
    [
        "",
        "prq",
        "prq_at_live",
        "prq_at",
        "prq_xx_live_abc",
        "prq_id_sbx_abc",  # a client id is public, not a secret
        "prq_AT_live_abc",
        "prq_at_prod_abc",
        "prq_at_production_abc",
        "prq_at_LIVE_abc",
        "PRQ_at_live_abc",
        "xprq_at_live_abc",
        "sk_live_abc",
        "prq-at-live-abc",
        "prq__live_abc",
        "Bearer prq_at_live_abc",
    ],
)
def test_secret_kind_refuses_wrong_prefixes(token: str) -> None:
    assert secret_kind(token) is None


@pytest.mark.parametrize("text", ["", "abc", "prq_at_sbx_x", "naïve ✓"])
def test_digest_is_sha256_hex(text: str) -> None:
    value = digest(text)
    assert value == hashlib.sha256(text.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", value)


def test_digest_known_vector() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_digests_match_compares_exactly() -> None:
    secret = new_secret(SecretKind.CLIENT_SECRET, "sandbox")
    assert digests_match(digest(secret), digest(secret))
    assert not digests_match(digest(secret), digest(secret + "x"))
    assert not digests_match(digest(secret), digest(secret).upper())
    assert not digests_match(digest(secret), digest(secret)[:-1])
    assert not digests_match(digest(secret), "")


def test_new_application_client_id_is_32_lower_alphanumerics() -> None:
    ids = [new_application_client_id() for _ in range(300)]
    for value in ids:
        assert re.fullmatch(r"[a-z0-9]{32}", value)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("alphabet", [crypto.BASE62, LOWER_ALNUM], ids=["base62", "lower-alnum"])
def test_random_characters_are_uniform_over_the_alphabet(alphabet: str) -> None:
    """A modulo bias (a byte's 256 values folded onto 62 symbols without rejection)
    would make the first 8 symbols 25 % more frequent: far past these bounds."""
    draws = 248_000
    counts = Counter("".join(random_string(100, alphabet) for _ in range(draws // 100)))
    expected = draws / len(alphabet)
    assert set(counts) == set(alphabet)
    worst = max(abs(n - expected) for n in counts.values())
    assert worst < 6 * math.sqrt(expected), (worst, expected)


@pytest.mark.parametrize("length", [0, 1, 22, 32, 200])
def test_a_random_string_has_the_length_asked(length: int) -> None:
    assert len(random_string(length)) == length


@pytest.mark.parametrize(
    "alphabet", [crypto.BASE62, LOWER_ALNUM, "ab", "abc"], ids=["base62", "lower", "ab", "abc"]
)
@pytest.mark.parametrize("length", [1, 32, 200])
def test_random_characters_are_the_bytes_folded_onto_the_alphabet_past_the_refused_ones(
    alphabet: str, length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte ``b`` is character ``b % size``, the bytes at or past the largest multiple
    of ``size`` are dropped and drawn again: the rule, one byte at a time."""
    stream = iter(bytes(range(256)) * 50)
    asked: list[int] = []

    def fake_token_bytes(n: int) -> bytes:
        asked.append(n)
        return bytes(next(stream) for _ in range(n))

    monkeypatch.setattr(crypto.secrets, "token_bytes", fake_token_bytes)
    drawn = random_string(length, alphabet)
    size, replay = len(alphabet), iter(bytes(range(256)) * 50)
    limit = 256 - 256 % size
    expected: list[str] = []
    for n in asked:
        expected += [alphabet[b % size] for b in (next(replay) for _ in range(n)) if b < limit]
    assert drawn == "".join(expected)[:length]
    assert len(drawn) == length


def test_a_random_string_refuses_an_alphabet_it_cannot_draw_from() -> None:
    for alphabet in ("", "é" + crypto.BASE62, "x" * 257):
        with pytest.raises(ValueError, match="alphabet"):
            random_string(3, alphabet)
