"""Transfer references are ISO 11649 creditor references: check digits that catch a
payer's typing mistakes, a readable alphabet, and a finder for free text."""

from __future__ import annotations

import itertools

import pytest

from payreq.method import creditor_reference as rf


def test_the_standards_own_example_is_valid() -> None:
    # ISO 11649's example reference
    assert rf.is_valid("RF18 5390 0754 7034")
    assert rf.is_valid("RF18539007547034")
    assert not rf.is_valid("RF19 5390 0754 7034")


def test_new_references_are_short_valid_and_readable() -> None:
    made = {rf.new_reference() for _ in range(500)}
    assert len(made) == 500
    for reference in made:
        assert len(reference) == rf.LENGTH == 12
        assert rf.is_valid(reference)
        assert set(reference[4:]) <= set(rf.BODY_ALPHABET)
        assert not set(reference[4:]) & set("01ILOU")


def test_a_single_wrong_character_is_caught() -> None:
    """Every digit typed for another digit and every letter for another letter is
    caught; a digit typed for a letter (or back) slips through about once in 250."""
    tries = caught = 0
    for _ in range(100):
        reference = rf.new_reference()
        for position in range(4, len(reference)):
            for replacement in rf.BODY_ALPHABET:
                original = reference[position]
                if replacement == original:
                    continue
                typo = reference[:position] + replacement + reference[position + 1 :]
                tries += 1
                caught += not rf.is_valid(typo)
                if original.isdigit() == replacement.isdigit():
                    assert not rf.is_valid(typo), typo
    assert caught / tries > 0.99


def test_swapping_two_neighbours_is_caught_almost_always() -> None:
    """MOD 97-10 catches every swap of two digits; a swap involving a letter (two
    digits once converted) slips through about once in 200 tries."""
    swaps = caught = 0
    for _ in range(400):
        reference = rf.new_reference()
        for i in range(4, len(reference) - 1):
            a, b = reference[i], reference[i + 1]
            if a == b:
                continue
            swapped = reference[:i] + b + a + reference[i + 2 :]
            swaps += 1
            caught += not rf.is_valid(swapped)
            if a.isdigit() and b.isdigit():
                assert not rf.is_valid(swapped), swapped
    assert caught / swaps > 0.98


def test_display_form_groups_by_four() -> None:
    assert rf.display_form("rf18539007547034") == "RF18 5390 0754 7034"


@pytest.mark.parametrize(
    "template",
    [
        "{ref}",
        "Order 1042 {ref}",
        "order 1042 {spaced}",
        "{lower} thanks!",
        "INV-7/{dashed}/2026",
        "{ref}THANKS",
    ],
)
def test_a_reference_is_found_however_the_payer_wrote_it(template: str) -> None:
    reference = rf.new_reference()
    text = template.format(
        ref=reference,
        spaced=rf.display_form(reference),
        lower=reference.lower(),
        dashed="-".join(rf.display_form(reference).split()),
    )
    assert list(rf.find_references(text)) == [reference]


def test_text_without_a_reference_finds_none() -> None:
    for text in ["thanks for lunch", "TRANSFER REFERENCE 12", "RF00 AAAA AAAA", "Order 1042"]:
        assert list(rf.find_references(text)) == []


def test_a_mistyped_reference_is_not_found() -> None:
    """MOD 97-10 catches every substitution of one character by another of its kind
    (digit for digit, letter for letter). A digit typed for a letter, or the reverse,
    shifts the digits the check reads, and about 1 in 97 of those slips through: the
    test drew one by chance about once in 130 runs."""
    for _ in range(200):
        reference = rf.new_reference()
        last = reference[-1]
        for wrong in (c for c in rf.BODY_ALPHABET if c != last and c.isdigit() == last.isdigit()):
            assert list(rf.find_references(reference[:-1] + wrong)) == [], (reference, wrong)


def test_several_references_come_back_in_order_once_each() -> None:
    a, b = rf.new_reference(), rf.new_reference()
    assert list(rf.find_references(f"{a} and {b}, again {a}")) == [a, b]


def test_all_valid_bodies_of_a_short_alphabet_round_trip() -> None:
    for body in map("".join, itertools.islice(itertools.product("23AB", repeat=8), 200)):
        reference = f"RF{rf.check_digits(body)}{body}"
        assert rf.is_valid(reference)
        assert list(rf.find_references(rf.display_form(reference))) == [reference]
