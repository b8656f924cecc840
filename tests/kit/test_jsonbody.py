"""kit/jsonbody: a body type that would silently accept unknown fields cannot be used."""

from __future__ import annotations

import msgspec
import pytest

from payreq.errors import BadRequest
from payreq.kit.jsonbody import Body, decode


class Loose(msgspec.Struct):
    name: str


class Holder(Body):
    items: list[Loose]


class Item(Body):
    size: int = 0


class Closed(Body, rename="camel"):
    first_name: str
    nested: dict[str, list[Item]] | None = None


def test_a_body_with_a_lenient_nested_struct_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="Loose"):
        decode(b'{"items": []}', Holder)


def test_an_unknown_field_is_named_with_its_path() -> None:
    with pytest.raises(BadRequest) as refused:
        decode(b'{"firstName": "a", "nested": {"k": [{"size": 1, "extra": 1}]}}', Closed)
    assert (refused.value.code, refused.value.param) == ("unknown_field", "nested[0].extra")
