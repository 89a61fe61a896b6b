"""Typographic transliteration to GSM-7 and the parts it saves."""

from __future__ import annotations

import pytest

from runner.message.encoding import GSM7_ALL, measure
from runner.message.transliterate import TransliterationResult, parts_saved, transliterate


@pytest.mark.parametrize(
    ("original", "replacement"),
    [
        ("\u2019", "'"),  # ’
        ("\u2018", "'"),  # ‘
        ("`", "'"),
        ("\u201c", '"'),  # “
        ("\u201d", '"'),  # ”
        ("\u00ab", '"'),  # «
        ("\u00bb", '"'),  # »
        ("\u2026", "..."),  # …
        ("\u00a0", " "),  # no-break space
        ("\u202f", " "),  # narrow no-break space
        ("\u2007", " "),  # figure space
        ("\t", " "),
        ("\u2013", "-"),  # –
        ("\u2014", "-"),  # —
        ("\u200b", ""),  # zero-width space
        ("\ufeff", ""),  # BOM
        ("\u00ad", ""),  # soft hyphen
    ],
)
def test_typographic_char_is_replaced(original: str, replacement: str) -> None:
    result = transliterate(f"a{original}b{original}")
    assert result == TransliterationResult(f"a{replacement}b{replacement}", ((original, replacement, 2),))
    assert measure(result.text).encoding == "GSM-7"


def test_changes_are_listed_in_order_of_first_appearance_with_counts() -> None:
    result = transliterate("« L’été… »\u00a0— c’est\tfini")
    assert result.text == "\" L'été... \" - c'est fini"
    assert result.changes == (
        ("«", '"', 1),
        ("’", "'", 2),
        ("…", "...", 1),
        ("»", '"', 1),
        ("\u00a0", " ", 1),
        ("—", "-", 1),
        ("\t", " ", 1),
    )
    assert result.changed


def test_plain_gsm_text_is_unchanged() -> None:
    result = transliterate("Bonjour Zoé, RDV à 10h €")
    assert result == TransliterationResult("Bonjour Zoé, RDV à 10h €", ())
    assert not result.changed


def test_letters_are_left_alone_by_default() -> None:
    result = transliterate("ça, l’être, Noël, cœur")
    assert result.text == "ça, l'être, Noël, cœur"
    assert result.changes == (("’", "'", 1),)
    assert measure(result.text).non_gsm == ("ç", "ê", "ë", "œ")


@pytest.mark.parametrize(
    ("original", "replacement"),
    [
        ("â", "a"),
        ("ê", "e"),
        ("î", "i"),
        ("ô", "o"),
        ("û", "u"),
        ("ë", "e"),
        ("ï", "i"),
        ("ÿ", "y"),
        ("ç", "c"),
        ("œ", "oe"),
        ("Œ", "OE"),
        ("À", "A"),
        ("Â", "A"),
        ("È", "E"),
        ("Ê", "E"),
        ("Î", "I"),
        ("Ô", "O"),
        ("Ù", "U"),
        ("Û", "U"),
        ("á", "a"),
        ("ǖ", "ü"),  # keeps the GSM-7 diaeresis, drops only the macron
        ("ễ", "e"),
    ],
)
def test_letters_option_strips_accents_outside_gsm7(original: str, replacement: str) -> None:
    assert transliterate(original, letters=True).changes == ((original, replacement, 1),)


def test_letters_option_never_touches_gsm7_letters() -> None:
    text = "éèàùÉÇìòÄÖÑÜäöñüØøÅåÆæß"
    assert transliterate(text, letters=True) == TransliterationResult(text, ())
    assert transliterate("ç", letters=True).text == "c"  # never Ç: that would change the letter


def test_letters_option_makes_french_text_gsm7() -> None:
    result = transliterate("Le garçon hésite : « Où est l’île ? »", letters=True)
    assert result.text == 'Le garcon hésite : " Où est l\'ile ? "'
    assert all(c in GSM7_ALL for c in result.text)


def test_decomposed_input_is_normalised_not_reported() -> None:
    result = transliterate("Cafe\u0301 \u2019")
    assert result == TransliterationResult("Café '", (("\u2019", "'", 1),))


def test_emoji_and_joiners_are_kept() -> None:
    family = "👨\u200d👩\u200d👧"
    assert transliterate(family + "\u2019").text == family + "'"


def test_parts_saved_by_typography() -> None:
    # 100 characters with a curly apostrophe: UCS-2, 2 parts; after: GSM-7, 1 part.
    text = "Aujourd’hui " + "x" * 88
    assert measure(text).parts == 2
    assert parts_saved(text) == 1


def test_parts_saved_needs_letters_when_a_letter_keeps_ucs2() -> None:
    text = "Le garçon a dit “bonjour” " + "x" * 60
    assert measure(text).parts == 2
    assert parts_saved(text) == 0
    assert parts_saved(text, letters=True) == 1


def test_parts_saved_can_be_negative_when_ucs2_remains() -> None:
    text = "😀" + "x" * 66 + "…"  # 69 units; "..." makes it 71
    assert measure(text).parts == 1
    assert parts_saved(text) == -1


def test_parts_saved_is_zero_for_gsm7_text() -> None:
    assert parts_saved("a" * 400) == 0
