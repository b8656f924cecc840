"""Decoding JSON request bodies into msgspec Structs with the house's error split:

- 400 ``invalid_request``: not JSON, not an object, a required field missing, a
  field the operation does not know (code ``unknown_field``, ``param`` names it, such
  as ``recurring``: a gateway never quietly ignores what a merchant asked for), or a
  field named twice in one object (code ``duplicate_field``: a JSON parser keeps one
  of the two, and a proxy or a log in front of payreq may have read the other, so a
  body with two ``amount`` values is ambiguous, RFC 8259 §4, not last-one-wins);
- 422 ``validation_error``: a field is present but breaks a rule (type, length, range).

Strictness is enforced here, once, for every write: a body type (and every Struct
nested in it) must forbid unknown fields, which subclassing ``Body`` gives; decoding
into one that does not is a programming error and raises ``TypeError`` on first use.
A write that takes no body (cancel, redeliver, delete, rotate) refuses any field too:
``refuse_fields`` accepts only an empty body or ``{}`` (``http.before_request`` runs
it for every write route that declares no body of its own).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, TypeVar

import msgspec

from payreq.errors import BadRequest, ValidationFailed

T = TypeVar("T")

_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`(?: - at `\$(.*)`)?")
_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$(.*)`)?")
_PATH = re.compile(r" - at (?:`key` in )?`\$(.*)`$")
_decoders: dict[type, msgspec.json.Decoder[object]] = {}


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every JSON request body: unknown fields are refused (400 ``unknown_field``);
    the merchant's own data belongs in ``metadata``. The OpenAPI document shows it as
    ``additionalProperties: false``."""


class NoBody(Body):
    """What a write without a body accepts: nothing, or ``{}``."""


def lenient_structs(into: type) -> list[str]:
    """The Structs reachable from ``into`` that would silently accept unknown fields."""
    found: list[str] = []
    seen: set[type] = set()

    def walk(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                return
            seen.add(info.cls)
            if not info.forbid_unknown_fields:
                found.append(info.cls.__qualname__)
            for field in info.fields:
                walk(field.type)
            return
        for name in ("type", "types", "item_type", "item_types", "key_type", "value_type"):
            inner = getattr(info, name, None)
            if isinstance(inner, tuple):
                for item in inner:
                    walk(item)
            elif isinstance(inner, msgspec.inspect.Type):
                walk(inner)

    walk(msgspec.inspect.type_info(into))
    return found


def decode(body: bytes, into: type[T]) -> T:
    decoder = _decoders.get(into)
    if decoder is None:
        lenient = lenient_structs(into)
        if lenient:
            raise TypeError(
                f"request bodies must forbid unknown fields (subclass Body): {', '.join(lenient)}"
            )
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        result: T = decoder.decode(body)  # type: ignore[assignment]
        _unique_names(body)
        return result
    except msgspec.ValidationError as exc:
        raise _classify(str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError, json.JSONDecodeError):  # (the two parsers agree)
        raise BadRequest("The request body is not valid UTF-8 JSON.", code="invalid_json") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.", code="invalid_json") from None


class _Twice(Exception):
    pass


def _first_twice(pairs: list[tuple[str, Any]]) -> None:
    """``object_pairs_hook``: raise on a name given twice; the values are not kept."""
    if len(pairs) > 1 and len({name for name, _ in pairs}) != len(pairs):
        raise _Twice


_names = json.JSONDecoder(object_pairs_hook=_first_twice)


def _unique_names(body: bytes) -> None:
    """400 ``duplicate_field`` if an object of ``body`` (valid JSON: msgspec decoded it)
    names a member twice. msgspec keeps the last; the standard library's C scanner
    hands each object's members over in order, about 2 us for a payment's body."""
    try:
        _names.decode(body.decode("utf-8"))
    except _Twice:
        param = _path_of_twice(json.loads(body, object_pairs_hook=lambda pairs: pairs))
        raise BadRequest(
            f"Field given twice: {param}. Send each field once.", code="duplicate_field", param=param
        ) from None


def _path_of_twice(value: Any, prefix: str = "") -> str:
    """The dotted path of the first name given twice (objects are lists of pairs here)."""
    if isinstance(value, list) and all(isinstance(p, tuple) for p in value) and value:
        seen: set[str] = set()
        for name, _ in value:
            if name in seen:
                return f"{prefix}.{name}" if prefix else name
            seen.add(name)
        for name, inner in value:
            found = _path_of_twice(inner, f"{prefix}.{name}" if prefix else name)
            if found:
                return found
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found = _path_of_twice(inner, f"{prefix}[{index}]")
            if found:
                return found
    return ""


def refuse_fields(body: bytes) -> None:
    """For a write that takes no body: an empty body or ``{}`` passes, anything else is
    refused the way an unknown field of a real body is."""
    if body.strip():
        decode(body, NoBody)


def _classify(text: str) -> BadRequest | ValidationFailed:
    unknown = _UNKNOWN.match(text)
    if unknown:
        prefix = (unknown.group(2) or "").lstrip(".").replace("[...]", "")
        param = f"{prefix}.{unknown.group(1)}" if prefix else unknown.group(1)
        return BadRequest(
            f"Unknown field: {param}. This operation does not accept it; put your own data in metadata.",
            code="unknown_field",
            param=param,
        )
    missing = _MISSING.match(text)
    if missing:
        field = missing.group(1)
        prefix = (missing.group(2) or "").lstrip(".")
        param = f"{prefix}.{field}" if prefix else field
        return BadRequest(f"Missing required field: {param}.", code="missing_field", param=param)
    path_match = _PATH.search(text)
    path = path_match.group(1) if path_match else ""
    message = _PATH.sub("", text)
    if not path:
        return BadRequest("The request body must be a JSON object.", code="invalid_body")
    param = path.lstrip(".").replace("[...]", "")
    return ValidationFailed(f"Invalid value for {param}: {message}.", code="invalid_value", param=param)


def check_text(value: str, param: str) -> None:
    """Refuse NUL bytes and lone surrogates, which no storage round-trips honestly."""
    if "\x00" in value:
        raise ValidationFailed(f"{param} must not contain NUL characters.", param=param)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(f"{param} must be valid Unicode text.", param=param) from None


BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides, isolates and marks: in a name a payer reads they can make
"Shop" followed by reversed text look like another merchant's name or amount."""

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode general categories refused in display text: controls (tab, line feed, C1),
format characters (zero-width space, soft hyphen, BOM, tags, the bidi controls) and the
line and paragraph separators U+2028/U+2029. Each is invisible or breaks the line, so
what one party typed is not what another reads (or what a bank's line-based QR holds)."""

JOINERS = frozenset("\u200c\u200d")
"""ZWNJ and ZWJ, the two format characters real text needs: Persian and Indic words
(ZWNJ) and emoji sequences such as a family or a profession (ZWJ)."""

_FLAG_TAGS = re.compile("(?<=\U0001f3f4)[\U000e0030-\U000e0039\U000e0061-\U000e007a]{3,6}\U000e007f")
"""The tag characters of a subdivision flag (U+1F3F4 then a CLDR subdivision id spelt
in tags, then CANCEL TAG: England, Scotland, Wales). Tags anywhere else carry hidden
text and are refused."""


def _hidden(ch: str) -> bool:
    return ch not in JOINERS and unicodedata.category(ch) in INVISIBLE_CATEGORIES


REPLACEMENT = "\ufffd"


def displayable(value: object) -> str:
    """``value`` as a page shows it (the templates' ``visible`` filter): every character
    ``check_display_text`` refuses becomes U+FFFD, REPLACEMENT CHARACTER, so text stored
    before the rule (or by a field without it, a payment's reference) can neither hide
    nor reorder what a reader sees. None reads as nothing."""
    text = "" if value is None else str(value)
    if text.isprintable():  # false for every Cc, Cf, Zl and Zp character: the common case
        return text
    kept = {i for flag in _FLAG_TAGS.finditer(text) for i in range(*flag.span())}
    return "".join(REPLACEMENT if i not in kept and _hidden(ch) else ch for i, ch in enumerate(text))


def check_display_text(value: str, param: str) -> None:
    """``check_text``, and none of the invisible characters above but ZWNJ, ZWJ and a
    subdivision flag's tags: for what payers and team members read. 422: ``bidi_control``
    for the bidi controls (such as U+202E), ``control_character`` for the others."""
    check_text(value, param)
    if any(ch in BIDI_CONTROLS for ch in value):
        raise ValidationFailed(
            f"{param} must not contain bidirectional control characters (such as U+202E).",
            code="bidi_control",
            param=param,
        )
    for ch in _FLAG_TAGS.sub("", value):
        if _hidden(ch):
            raise ValidationFailed(
                f"{param} must not contain control, format or line-break characters (found U+{ord(ch):04X}).",
                code="control_character",
                param=param,
            )
