"""Exact SMS measurement: alphabet, units, part boundaries, NFC and problem detection."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.message import encoding
from runner.message.encoding import (
    GSM7_ALL,
    GSM7_BASIC,
    GSM7_DEFAULT_TABLE,
    GSM7_EXTENSION,
    TextMeasure,
    check_text,
    clear_cache,
    measure,
    split_parts,
)

EURO = "€"
GRIN = "😀"  # U+1F600, outside the BMP: 2 UTF-16 units
THUMB = "👍"


# --- the alphabet ---------------------------------------------------------------------------------


def test_default_table_positions_match_3gpp() -> None:
    assert len(GSM7_DEFAULT_TABLE) == 128
    assert len(set(GSM7_DEFAULT_TABLE)) == 128
    assert GSM7_DEFAULT_TABLE[0x00] == "@"
    assert GSM7_DEFAULT_TABLE[0x02] == "$"
    assert GSM7_DEFAULT_TABLE[0x09] == "Ç"  # capital, per 3GPP (Unicode's GSM0338.TXT says small ç)
    assert GSM7_DEFAULT_TABLE[0x0A] == "\n"
    assert GSM7_DEFAULT_TABLE[0x0D] == "\r"
    assert GSM7_DEFAULT_TABLE[0x10] == "\u0394"  # Greek capital delta
    assert GSM7_DEFAULT_TABLE[0x1B] == "\x1b"  # ESC: the escape code, not a character
    assert GSM7_DEFAULT_TABLE[0x1F] == "É"
    assert GSM7_DEFAULT_TABLE[0x24] == "¤"
    assert GSM7_DEFAULT_TABLE[0x40] == "¡"
    assert GSM7_DEFAULT_TABLE[0x5F] == "§"
    assert GSM7_DEFAULT_TABLE[0x60] == "¿"
    assert GSM7_DEFAULT_TABLE[0x7F] == "à"
    assert len(GSM7_BASIC) == 127
    assert "\x1b" not in GSM7_ALL
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("char", list("éèàùÉìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÄÖÑÜ§¿äöñü¤¡£¥Ç@$\n\r"))
def test_inside_gsm7_costs_one_septet(char: str) -> None:
    assert measure(char * 3) == TextMeasure("GSM-7", 3, 3, 1, 160, ())


@pytest.mark.parametrize("char", ["^", "{", "}", "\\", "[", "~", "]", "|", EURO, "\f"])
def test_extension_chars_cost_two_septets(char: str) -> None:
    assert measure("ab" + char) == TextMeasure("GSM-7", 3, 4, 1, 160, ())


@pytest.mark.parametrize(
    "char",
    [
        "ç",
        "â",
        "ê",
        "î",
        "ô",
        "û",
        "ë",
        "ï",
        "ÿ",
        "œ",
        "Œ",
        "À",
        "È",
        "Ê",
        "Ô",
        "Û",
        "’",
        "‘",
        "“",
        "”",
        "«",
        "»",
        "…",
        "–",
        "—",
        "\u00a0",  # no-break space
        "\u202f",  # narrow no-break space
        "\t",
        "`",
        "\x1b",  # a raw ESC is not a character of the alphabet
        "\x00",
        "α",  # lowercase Greek is not in the table
        "д",
    ],
)
def test_outside_gsm7_forces_ucs2(char: str) -> None:
    assert measure("Bonjour " + char) == TextMeasure("UCS-2", 9, 9, 1, 70, (char,))


def test_small_c_cedilla_is_ucs2_but_capital_is_gsm7() -> None:
    assert measure("Ça va").encoding == "GSM-7"
    assert measure("ça va") == TextMeasure("UCS-2", 5, 5, 1, 70, ("ç",))
    text = "Le garçon arrive demain à 10h"
    assert measure(text).encoding == "UCS-2"
    assert measure(text.replace("ç", "c")).encoding == "GSM-7"


def test_non_gsm_lists_distinct_chars_in_order_of_appearance() -> None:
    m = measure("«ça» — ça «va»")
    assert m.non_gsm == ("«", "ç", "»", "—")
    assert measure("plain GSM € text").non_gsm == ()


def test_empty_text_is_one_gsm7_part_of_zero_units() -> None:
    assert measure("") == TextMeasure("GSM-7", 0, 0, 1, 160, ())
    assert split_parts("") == [""]


# --- NFC ------------------------------------------------------------------------------------------


def test_decomposed_accent_is_normalised_to_gsm7() -> None:
    decomposed = "Cafe\u0301"
    assert len(decomposed) == 5
    assert measure(decomposed) == TextMeasure("GSM-7", 4, 4, 1, 160, ())
    assert split_parts(decomposed) == ["Café"]


def test_decomposed_accent_without_gsm7_precomposed_form_stays_ucs2() -> None:
    # e + combining circumflex composes to ê, which is not GSM-7.
    assert measure("fe\u0302te") == TextMeasure("UCS-2", 4, 4, 1, 70, ("ê",))


def test_ohm_sign_normalises_to_gsm7_omega() -> None:
    assert measure("\u2126").encoding == "GSM-7"


# --- GSM-7 boundaries -----------------------------------------------------------------------------


def test_160_septets_is_one_part_161_is_two() -> None:
    assert measure("a" * 160) == TextMeasure("GSM-7", 160, 160, 1, 160, ())
    assert measure("a" * 161) == TextMeasure("GSM-7", 161, 161, 2, 153, ())
    assert [len(p) for p in split_parts("a" * 161)] == [153, 8]


def test_153_times_2_and_plus_one() -> None:
    assert measure("a" * 306).parts == 2
    assert measure("a" * 307).parts == 3
    assert [len(p) for p in split_parts("a" * 307)] == [153, 153, 1]


def test_extension_char_pushes_single_part_over_the_limit() -> None:
    assert measure("a" * 158 + EURO) == TextMeasure("GSM-7", 159, 160, 1, 160, ())
    assert measure("a" * 159 + EURO) == TextMeasure("GSM-7", 160, 161, 2, 153, ())


def test_extension_char_straddling_a_boundary_moves_to_the_next_part() -> None:
    text = "a" * 152 + EURO + "b" * 152
    assert measure(text) == TextMeasure("GSM-7", 305, 306, 3, 153, ())
    assert split_parts(text) == ["a" * 152, EURO + "b" * 151, "b"]


def test_extension_char_ending_exactly_on_a_boundary_stays() -> None:
    text = "a" * 151 + EURO + "b" * 153
    assert measure(text) == TextMeasure("GSM-7", 305, 306, 2, 153, ())
    assert split_parts(text) == ["a" * 151 + EURO, "b" * 153]


def test_escape_pairs_straddling_two_boundaries() -> None:
    # Part 1: 152 a (the { would straddle); part 2: { + 150 b = 152, then } would straddle; part 3.
    text = "a" * 152 + "{" + "b" * 150 + "}" + "c"
    assert measure(text).units == 152 + 2 + 150 + 2 + 1
    assert measure(text).parts == 3
    assert split_parts(text) == ["a" * 152, "{" + "b" * 150, "}c"]


def test_all_extension_chars() -> None:
    text = EURO * 80  # 160 septets
    assert measure(text) == TextMeasure("GSM-7", 80, 160, 1, 160, ())
    text = EURO * 81  # 162 septets; 153 is odd, so each part holds 76 pairs = 152 septets
    assert measure(text) == TextMeasure("GSM-7", 81, 162, 2, 153, ())
    assert [len(p) for p in split_parts(text)] == [76, 5]
    assert measure(EURO * 153).parts == 3  # 306 septets, 76 + 76 + 1 euros


def test_stop_mention_pushes_147_septets_to_two_parts() -> None:
    assert measure("a" * 146 + "\nSTOP au 36180").parts == 1
    assert measure("a" * 147 + "\nSTOP au 36180") == TextMeasure("GSM-7", 161, 161, 2, 153, ())


# --- UCS-2 boundaries -----------------------------------------------------------------------------


def test_70_units_is_one_part_71_is_two() -> None:
    assert measure("ç" * 70) == TextMeasure("UCS-2", 70, 70, 1, 70, ("ç",))
    assert measure("ç" * 71) == TextMeasure("UCS-2", 71, 71, 2, 67, ("ç",))
    assert [len(p) for p in split_parts("ç" * 71)] == [67, 4]


def test_67_times_2_and_plus_one() -> None:
    assert measure("ç" * 134).parts == 2
    assert measure("ç" * 135).parts == 3


def test_emoji_costs_two_units() -> None:
    assert measure(GRIN) == TextMeasure("UCS-2", 1, 2, 1, 70, (GRIN,))
    assert measure("a" * 68 + GRIN) == TextMeasure("UCS-2", 69, 70, 1, 70, (GRIN,))
    assert measure("a" * 69 + GRIN) == TextMeasure("UCS-2", 70, 71, 2, 67, (GRIN,))


def test_euro_costs_one_unit_in_ucs2() -> None:
    assert measure(EURO * 68 + THUMB) == TextMeasure("UCS-2", 69, 70, 1, 70, (THUMB,))
    assert measure("{[€]}ç").units == 6


def test_surrogate_pair_straddling_a_boundary_moves_to_the_next_part() -> None:
    text = "a" * 66 + GRIN + "b" * 66
    assert measure(text) == TextMeasure("UCS-2", 133, 134, 3, 67, (GRIN,))
    assert split_parts(text) == ["a" * 66, GRIN + "b" * 65, "b"]


def test_surrogate_pair_ending_exactly_on_a_boundary_stays() -> None:
    text = "a" * 65 + GRIN + "b" * 67
    assert measure(text) == TextMeasure("UCS-2", 133, 134, 2, 67, (GRIN,))
    assert split_parts(text) == ["a" * 65 + GRIN, "b" * 67]


def test_grapheme_cluster_may_split_between_code_points() -> None:
    # Strict code-point atoms (reference §1.6 last row: 2 or 3 acceptable; we give 2).
    text = "a" * 65 + "👍🏽" + "b" * 65
    assert measure(text).units == 134
    assert measure(text).parts == 2
    assert split_parts(text) == ["a" * 65 + THUMB, "🏽" + "b" * 65]


def test_naive_ceil_would_be_wrong() -> None:
    assert measure("a" * 152 + EURO + "b" * 152).units == 306  # ceil(306 / 153) == 2
    assert measure("a" * 152 + EURO + "b" * 152).parts == 3
    assert measure("a" * 66 + GRIN + "b" * 66).units == 134  # ceil(134 / 67) == 2
    assert measure("a" * 66 + GRIN + "b" * 66).parts == 3


# --- cache ----------------------------------------------------------------------------------------


def test_cache_returns_the_same_result_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    first = measure("Bonjour Zoé")
    assert measure("Bonjour Zoé") is first
    monkeypatch.setattr(encoding, "_CACHE_MAX", 10)
    for i in range(25):
        measure(f"message {i}")
    assert len(encoding._cache) <= 10
    assert measure("Bonjour Zoé") == first
    clear_cache()
    assert not encoding._cache


# --- check_text -----------------------------------------------------------------------------------


def test_clean_text_has_no_problems() -> None:
    assert check_text("Bonjour Zoé,\r\nvotre RDV est à 10h. 😀 ç €") == []
    assert check_text("") == []


def test_raw_esc_is_reported_with_position_and_count() -> None:
    problems = check_text("ab\x1bc\x1b")
    assert len(problems) == 1
    assert problems[0].startswith("raw ESC (U+001B) at character 3 (2 occurrences)")


def test_tab_form_feed_and_other_controls_are_reported_in_order() -> None:
    problems = check_text("a\tb\fc\x00d\x7fe\x85")
    assert [p.split(" at ")[0] for p in problems] == [
        "TAB (U+0009)",
        "form feed (U+000C)",
        "NUL (U+0000)",
        "DEL (U+007F)",
        "control character (U+0085)",
    ]
    assert "at character 2:" in problems[0]


def test_lone_surrogate_is_reported() -> None:
    problems = check_text("ok\ud83d")
    assert problems == ["unpaired surrogate (U+D83D) at character 3: cannot be encoded; the text is corrupt"]


def test_every_cc_except_lf_and_cr_is_reported() -> None:
    controls = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"]
    assert len(controls) == 65
    for c in controls:
        assert bool(check_text(c)) is (c not in "\n\r"), repr(c)


# --- properties against a straightforward reference ------------------------------------------------


def _reference_parts(text: str) -> tuple[str, int, int]:
    """Per-character reimplementation of the reference §1.5 rules: (encoding, units, parts)."""
    text = unicodedata.normalize("NFC", text)
    gsm = all(c in GSM7_ALL for c in text)
    costs = [
        (2 if c in GSM7_EXTENSION else 1) if gsm else len(c.encode("utf-16-le", "surrogatepass")) // 2
        for c in text
    ]
    units = sum(costs)
    if units <= (160 if gsm else 70):
        return ("GSM-7" if gsm else "UCS-2"), units, 1
    capacity = 153 if gsm else 67
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return ("GSM-7" if gsm else "UCS-2"), units, parts


_GSM_ALPHABET = st.sampled_from([*"ab €{é\n^", "e\u0301"])
_ANY_ALPHABET = st.sampled_from([*"ab €{ç😀é\n", "e\u0301", "👍🏽"])
_TEXTS = st.one_of(
    st.lists(_GSM_ALPHABET, min_size=120, max_size=480).map("".join),
    st.lists(_ANY_ALPHABET, min_size=50, max_size=300).map("".join),
    st.text(max_size=200),
)


@settings(max_examples=500, deadline=None)
@given(_TEXTS)
def test_measure_agrees_with_reference_and_split_parts(text: str) -> None:
    m = measure(text)
    assert (m.encoding, m.units, m.parts) == _reference_parts(text)
    parts = split_parts(text)
    assert len(parts) == m.parts
    assert "".join(parts) == unicodedata.normalize("NFC", text)
    if m.parts > 1:
        for part in parts:
            assert part
            if m.encoding == "GSM-7":
                assert sum(2 if c in GSM7_EXTENSION else 1 for c in part) <= 153
            else:
                assert len(part.encode("utf-16-le")) // 2 <= 67


@pytest.mark.parametrize("atom", [EURO, "^", GRIN, "ç", "a"])
def test_single_atom_at_every_position(atom: str) -> None:
    for before in range(0, 330):
        for after in (0, 1, 66, 152, 153, 300):
            text = "x" * before + atom + "y" * after
            m = measure(text)
            assert (m.encoding, m.units, m.parts) == _reference_parts(text), (before, after)
