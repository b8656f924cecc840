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


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"firstName": "a", "firstName": "b"}', "firstName"),
        (b'{"firstName": "a", "nested": {"k": [{"size": 1}, {"size": 1, "size": 2}]}}', "nested.k[1].size"),
        (b'{"nested": {"k": [], "k": []}, "firstName": "a"}', "nested.k"),
    ],
)
def test_a_name_given_twice_is_refused_with_its_path(body: bytes, param: str) -> None:
    with pytest.raises(BadRequest) as refused:
        decode(body, Closed)
    assert (refused.value.code, refused.value.param) == ("duplicate_field", param)


def test_the_same_name_in_different_objects_is_no_duplicate() -> None:
    decoded = decode(
        b'{"firstName": "a", "nested": {"firstName": [{"size": 1}], "k": [{"size": 2}]}}', Closed
    )
    assert decoded.first_name == "a"
