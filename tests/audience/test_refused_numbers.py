"""Issue 15, group 3: letters (keypad "vanity" conversion) and extensions are refused, never read as a
stranger's number or the main line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.audience.phones import HAS_EXTENSION, LETTERS_IN_NUMBER, NOT_A_PHONE_NUMBER, PhoneNormaliser


@pytest.mark.parametrize("raw", ["+33 6 12 CALL ME", "+33 6 HELLO 123", "+1 800 FLOWERS", "06 12 34 56 7B",
                                 "+33６12345678a"])
def test_letters_are_refused(raw: str) -> None:
    assert PhoneNormaliser("FR").classify(raw) == (None, LETTERS_IN_NUMBER)


@pytest.mark.parametrize("raw", ["+33612345678;ext=2", "+33612345678 ext. 5", "+33612345678 x5", "+33612345678#5",
                                 "+33612345678,5", "+33612345678 EXTN 5", "+33612345678*5", "06 12 34 56 78 ext 1"])
def test_extensions_are_refused(raw: str) -> None:
    assert PhoneNormaliser("FR").classify(raw) == (None, HAS_EXTENSION)


def test_words_without_digits_are_not_a_number() -> None:
    assert PhoneNormaliser("FR").classify("n/a") == (None, NOT_A_PHONE_NUMBER)


_NUMBER = st.sampled_from(["+33612345678", "06 12 34 56 78", "+1 415 555 2671", "+32 470 12 34 56"])
_LETTER = st.characters(categories=("Lu", "Ll", "Lo"))


@settings(max_examples=300, deadline=None)
@given(_NUMBER, st.integers(min_value=0, max_value=20), _LETTER, st.sampled_from([None, "FR", "US", "BE"]))
def test_any_letter_anywhere_is_refused(number: str, at: int, letter: str, region: str | None) -> None:
    raw = number[:at] + letter + number[at:]
    e164, reason = PhoneNormaliser(region).classify(raw)
    assert e164 is None and reason in (LETTERS_IN_NUMBER, HAS_EXTENSION), (raw, reason)


@settings(max_examples=200, deadline=None)
@given(_NUMBER, st.sampled_from([";ext=", " ext. ", " x", "#", ",", ";", " extension ", "*"]),
       st.text(alphabet="0123456789", min_size=1, max_size=5))
def test_any_extension_is_refused(number: str, mark: str, digits: str) -> None:
    e164, reason = PhoneNormaliser("FR").classify(number + mark + digits)
    assert e164 is None and reason == HAS_EXTENSION


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 +-.()/", max_size=20))
def test_digits_and_separators_are_never_refused_for_letters(raw: str) -> None:
    _, reason = PhoneNormaliser("FR").classify(raw)
    assert reason not in (LETTERS_IN_NUMBER, HAS_EXTENSION)
