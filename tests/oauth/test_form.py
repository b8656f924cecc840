"""``parse_form`` reads a body as ``urllib.parse.parse_qs`` does (the parser it replaced),
refusing a repeated parameter."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payreq.oauth.errors import InvalidRequest
from payreq.oauth.service import parse_form

FORM = "application/x-www-form-urlencoded"


def reference(body: bytes) -> dict[str, str] | str:
    """What the parser did before: parse_qs, then a refusal naming the repeated ones."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return "The body is not a valid form."
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        return f"Parameters must not repeat: {', '.join(repeated)}."
    return {name: values[0] for name, values in fields.items()}


def parsed(body: bytes) -> dict[str, str] | str:
    try:
        return parse_form(body, FORM)
    except InvalidRequest as exc:
        return exc.description


# the characters that mean something in a form, and some that do not
pieces = st.lists(
    st.sampled_from(
        ["&", "=", "+", "%", "%2", "%2B", "%26", "%3D", "%E2%82%AC", "%E2%82", "%zz", "a", "b", "é", " "]
    ),
    max_size=12,
).map("".join)


@given(pieces)
def test_forms_read_as_parse_qs_read_them(text: str) -> None:
    body = text.encode()
    assert parsed(body) == reference(body)


@given(st.binary(max_size=40))
def test_any_bytes_read_as_parse_qs_read_them(body: bytes) -> None:
    assert parsed(body) == reference(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"grant_type=client_credentials", {"grant_type": "client_credentials"}),
        (
            b"grant_type=client_credentials&scope=a+b%2Bc",
            {"grant_type": "client_credentials", "scope": "a b+c"},
        ),
        (b"&&scope&x=", {"scope": "", "x": ""}),
        (b"b=1&a=2&b=3&a=4", "Parameters must not repeat: a, b."),
        (b"a=%ff", {"a": "\ufffd"}),
        (b"\xff", "The body is not a valid form."),
    ],
)
def test_examples(body: bytes, expected: dict[str, str] | str) -> None:
    assert parsed(body) == expected == reference(body)
