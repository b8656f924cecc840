"""Transfer references: ISO 11649 structured creditor references ("RF references").

A reference is ``RF`` + two check digits + a body; payreq's bodies are 8 characters
from an alphabet without look-alikes (no 0/O, 1/I/L, U), so a reference reads
``RF47 K7M2 XQ9P`` and is typed back without guessing. The check digits are ISO 7064
MOD 97-10, as in an IBAN: every single wrong character and almost every swap of two
neighbours is caught, and banks in the SEPA area validate them when a payer enters
the reference as a structured one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

BODY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 8
LENGTH = 4 + BODY_LENGTH
_CANDIDATE = re.compile(rf"(?=(RF[0-9]{{2}}[{BODY_ALPHABET}]{{{BODY_LENGTH}}}))")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def _numeric(text: str) -> int:
    """Letters as numbers (A=10 ... Z=35), digits as themselves."""
    return int("".join(str(int(ch, 36)) for ch in text))


def check_digits(body: str) -> str:
    return f"{98 - _numeric(body + 'RF00') % 97:02d}"


def new_reference() -> str:
    body = "".join(secrets.choice(BODY_ALPHABET) for _ in range(BODY_LENGTH))
    return f"RF{check_digits(body)}{body}"


def is_valid(reference: str) -> bool:
    """Any well-formed ISO 11649 reference (not only payreq's): ``RF``, two check
    digits, 1 to 21 letters or digits, mod 97 == 1."""
    compact = compact_form(reference)
    if not re.fullmatch(r"RF[0-9]{2}[0-9A-Z]{1,21}", compact):
        return False
    return _numeric(compact[4:] + compact[:4]) % 97 == 1


def compact_form(reference: str) -> str:
    return _NOT_ALNUM.sub("", reference.upper())


def display_form(reference: str) -> str:
    """Groups of four, as ISO 11649 recommends for print: ``RF47 K7M2 XQ9P``."""
    compact = compact_form(reference)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def find_references(text: str) -> Iterator[str]:
    """payreq references in free text (a payer's remittance line), compact, in order.

    Payers add spaces, dashes, lower case and words around the reference; everything
    but letters and digits is dropped before searching, and only candidates whose
    check digits hold are returned.
    """
    seen: set[str] = set()
    for match in _CANDIDATE.finditer(compact_form(text)):
        candidate = match.group(1)
        if candidate not in seen and is_valid(candidate):
            seen.add(candidate)
            yield candidate
