"""Decoding JSON request bodies into msgspec Structs with the house's error split:

- 400 ``invalid_request``: not JSON, not an object, or a required field missing;
- 422 ``validation_error``: a field is present but breaks a rule (type, length, range).
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from payreq.errors import BadRequest, ValidationFailed

T = TypeVar("T")

_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$(.*)`)?")
_PATH = re.compile(r" - at (?:`key` in )?`\$(.*)`$")
_decoders: dict[type, msgspec.json.Decoder[object]] = {}


def decode(body: bytes, into: type[T]) -> T:
    decoder = _decoders.get(into)
    if decoder is None:
        decoder = _decoders[into] = msgspec.json.Decoder(into)
    try:
        result: T = decoder.decode(body)  # type: ignore[assignment]
        return result
    except msgspec.ValidationError as exc:
        raise _classify(str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid UTF-8 JSON.", code="invalid_json") from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.", code="invalid_json") from None


def _classify(text: str) -> BadRequest | ValidationFailed:
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


def check_display_text(value: str, param: str) -> None:
    """``check_text``, and no bidirectional control characters: for what payers see."""
    check_text(value, param)
    if any(ch in BIDI_CONTROLS for ch in value):
        raise ValidationFailed(
            f"{param} must not contain bidirectional control characters (such as U+202E).",
            code="bidi_control",
            param=param,
        )
