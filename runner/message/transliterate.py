"""Replace typographic characters with GSM-7 equivalents so a message can stay GSM-7.

A single ``’`` or non-breaking space turns a whole message into UCS-2 (70/67 units per part instead
of 160/153), so copy-pasted text from a word processor often costs two or three times as much.

By default only *typography* is replaced, never a letter's meaning (the same scope as Twilio's "Smart
Encoding", which the reference notes does not touch French accented letters):

* ``’ ‘ ‚ ‛ ′`` and the backtick → ``'``;  ``“ ” „ ‟ « » ″`` → ``"``;  ``…`` → ``...``;
* no-break and typographic spaces (U+00A0, U+202F, U+2007, U+2000–U+200A, U+205F, U+3000) and TAB →
  one space (Twilio uses two spaces for NBSP and seven for TAB; one space keeps the text's look);
* ``‐ ‑ ‒ – — ― −`` → ``-``;
* invisible characters that only force UCS-2 (zero-width space U+200B, BOM U+FEFF, soft hyphen
  U+00AD) are removed.  Joiners (U+200C, U+200D) are kept: they belong to emoji sequences.

With ``letters=True`` (an explicit, reviewed choice, as the reference recommends: "do not silently
map ç"), letters outside GSM-7 also lose their accent when the bare letter is GSM-7 (``ç``→``c``,
``â``→``a``, ``ê``→``e``, ``À``→``A``, ``ÿ``→``y``...), and ``œ``/``Œ`` become ``oe``/``OE``.  Letters
already in GSM-7 (``é è à ù É Ç``...) are never touched, and ``ç`` never becomes ``Ç``.

The text is normalised to NFC first; the result is NFC as well.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

from runner.message.encoding import GSM7_ALL, GSM7_BASIC, measure

_TYPOGRAPHY: Final[dict[str, str]] = {
    **dict.fromkeys("\u2019\u2018\u201a\u201b\u2032`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033", '"'),
    "\u2026": "...",
    **dict.fromkeys("\u00a0\u202f\u2007\u205f\u3000\t", " "),
    **dict.fromkeys("".join(chr(c) for c in range(0x2000, 0x200B)), " "),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u200b\ufeff\u00ad", ""),
}

_LIGATURES: Final[dict[str, str]] = {"œ": "oe", "Œ": "OE"}


def _letter_table() -> dict[str, str]:
    """Latin letters outside GSM-7 whose accent-stripped base letter is GSM-7.

    Covers Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional (Vietnamese...).
    """
    table = dict(_LIGATURES)
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        c = chr(code)
        if c in GSM7_ALL or not c.isalpha():
            continue
        decomposed = unicodedata.normalize("NFD", c)
        base, marks = decomposed[0], decomposed[1:]
        if not marks or not all(unicodedata.combining(m) for m in marks):
            continue
        # Drop marks from the last one, keeping the longest GSM-7 form: ǖ -> ü, not u.
        for keep in range(len(marks) - 1, -1, -1):
            candidate = unicodedata.normalize("NFC", base + marks[:keep])
            if candidate in GSM7_BASIC:
                table[c] = candidate
                break
    return table


_WITH_LETTERS: Final[dict[str, str]] = {**_TYPOGRAPHY, **_letter_table()}
_TRANSLATE_TYPOGRAPHY: Final = str.maketrans(_TYPOGRAPHY)
_TRANSLATE_WITH_LETTERS: Final = str.maketrans(_WITH_LETTERS)


@dataclass(frozen=True, slots=True)
class TransliterationResult:
    """The transliterated text and, in order of first appearance, ``(original, replacement, count)``."""

    text: str
    changes: tuple[tuple[str, str, int], ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def transliterate(text: str, *, letters: bool = False) -> TransliterationResult:
    """Replace typographic characters (and, with ``letters=True``, accented letters) by GSM-7 ones."""
    text = unicodedata.normalize("NFC", text)
    table = _WITH_LETTERS if letters else _TYPOGRAPHY
    changes = tuple((c, table[c], text.count(c)) for c in dict.fromkeys(text) if c in table)
    if not changes:
        return TransliterationResult(text, ())
    return TransliterationResult(
        text.translate(_TRANSLATE_WITH_LETTERS if letters else _TRANSLATE_TYPOGRAPHY), changes
    )


def parts_saved(text: str, *, letters: bool = False) -> int:
    """Parts saved per message by :func:`transliterate`: ``measure(text).parts - measure(result).parts``.

    Can be negative when the text stays UCS-2 for another reason (an emoji, ``ç`` without
    ``letters=True``) and ``…`` became the longer ``...``: compare before applying.
    """
    return measure(text).parts - measure(transliterate(text, letters=letters).text).parts
