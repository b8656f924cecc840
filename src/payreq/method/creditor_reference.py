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

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

BODY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 8
LENGTH = 4 + BODY_LENGTH
_CANDIDATE = re.compile(rf"(?=(RF[0-9]{{2}}[{BODY_ALPHABET}]{{{BODY_LENGTH}}}))")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def check_digits(body: str) -> str:
    """ISO 11649's two check digits for ``body`` (ISO 7064 MOD 97-10 over body + ``RF``)."""
    return str(mod_97_10.calc_check_digits(body + "RF"))


def new_reference() -> str:
    body = "".join(secrets.choice(BODY_ALPHABET) for _ in range(BODY_LENGTH))
    return f"RF{check_digits(body)}{body}"


def is_valid(reference: str) -> bool:
    """Any well-formed ISO 11649 reference (not only payreq's), checked by python-stdnum."""
    return bool(iso11649.is_valid(compact_form(reference)))


def compact_form(reference: str) -> str:
    return _NOT_ALNUM.sub("", reference.upper())


def display_form(reference: str) -> str:
    """Groups of four, as ISO 11649 recommends for print: ``RF47 K7M2 XQ9P``."""
    return str(iso11649.format(compact_form(reference)))


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
