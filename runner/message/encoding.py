"""Exact SMS encoding, length and segmentation (3GPP TS 23.038 and TS 23.040).

Rules, as summarised in ``sms-encoding-and-compliance.md`` §1:

* The text is normalised to NFC first, so ``e`` + U+0301 counts as ``é`` (GSM-7).
* The encoding is all-or-nothing: GSM-7 when every character is in the GSM 03.38 default alphabet or
  its extension table, otherwise UCS-2 for the whole message.
* GSM-7 is counted in septets; the ten extension characters (``^ { } \\ [ ~ ] | €`` and form feed)
  cost 2 (ESC + code).  UCS-2 is counted in UTF-16 code units; characters outside the BMP (most emoji)
  cost 2 (a surrogate pair).  In UCS-2, ``€`` and ``{`` cost 1 like any BMP character.
* One SMS holds 160 septets or 70 units.  Beyond that every part holds at most 153 septets or
  67 units (6-octet concatenation header), packed greedily; an escape pair or a surrogate pair is never
  split, so a 2-unit atom that would straddle a boundary moves whole to the next part.  This is why
  ``ceil(units / 153)`` is wrong: ``"a" * 152 + "€" + "b" * 152`` is 306 septets but 3 parts.
* Atoms are code points, not grapheme clusters (the strict 3GPP reading).  Where a multi-code-point
  cluster (👍🏽, 🇫🇷, ZWJ sequences) straddles a UCS-2 boundary, Android and the Twilio calculator give
  one part more; the reference accepts both counts (open question Q7).
* An empty text is 1 part of 0 units (GSM-7), as the reference states.
* Capital ``Ç`` is at 0x09 of the 3GPP table; small ``ç`` is *not* GSM-7 and forces UCS-2 (the
  conservative cost; the reference advises against mapping ``ç`` to 0x09).
* A raw ESC (U+001B) is not a character of the alphabet (0x1B is the escape code), so it counts as
  non-GSM; TAB and other C0/C1 controls likewise, except LF and CR (in the table) and form feed (in the
  extension table).  :func:`check_text` reports all of them, form feed included, as problems.

:func:`measure` is on the planner's hot path (one call per rendered message).  It keeps a bounded cache
keyed by text (recipients often share a text), and measures Latin-1 texts (with € swapped for another
extension character) with two C-level byte operations: encode to Latin-1, delete the bytes of the
basic alphabet; only what remains is looked at in Python.  Other texts take one regular-expression
pass.  Results are shared immutable instances.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE: Final = 160
GSM7_CONCAT: Final = 153
UCS2_SINGLE: Final = 70
UCS2_CONCAT: Final = 67

#: The GSM 03.38 default alphabet (TS 23.038 §6.2.1), row by row: index = code.  0x1B is ESC.
GSM7_DEFAULT_TABLE: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

#: The basic extension table (§6.2.1.1): character -> code after ESC.  Each costs 2 septets.
GSM7_EXTENSION_TABLE: Final[dict[str, int]] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

GSM7_BASIC: Final[frozenset[str]] = frozenset(GSM7_DEFAULT_TABLE) - {"\x1b"}
GSM7_EXTENSION: Final[frozenset[str]] = frozenset(GSM7_EXTENSION_TABLE)
GSM7_ALL: Final[frozenset[str]] = GSM7_BASIC | GSM7_EXTENSION


def _char_class(chars: frozenset[str], *, negate: bool = False) -> re.Pattern[str]:
    body = "".join(f"\\U{ord(c):08x}" for c in sorted(chars))
    return re.compile(f"[{'^' if negate else ''}{body}]")


_NOT_BASIC_RE: Final = _char_class(GSM7_BASIC, negate=True)
# Latin-1 bytes of the basic alphabet: deleting them from a Latin-1 text leaves what is not basic.
_BASIC_LATIN1: Final = bytes(sorted(ord(c) for c in GSM7_BASIC if ord(c) < 0x100))
_DROP_EXTENSION: Final = str.maketrans(dict.fromkeys(GSM7_EXTENSION))
# Control characters (Cc) other than LF and CR, plus lone surrogates (which UTF-16 cannot carry).
_PROBLEM_RE: Final = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class TextMeasure:
    """How a text travels as SMS.

    ``characters`` counts code points after NFC; ``units`` counts septets (GSM-7) or UTF-16 code units
    (UCS-2); ``per_part`` is the capacity of each part (160/153 or 70/67); ``non_gsm`` lists, in order
    of first appearance, the distinct characters that forced UCS-2 (empty for GSM-7).
    """

    encoding: Encoding
    characters: int
    units: int
    parts: int
    per_part: int
    non_gsm: tuple[str, ...]


_CACHE_MAX: Final = 1 << 16
_cache: dict[str, TextMeasure] = {}


def measure(text: str) -> TextMeasure:
    """Measure ``text`` (normalised to NFC) as one SMS message: encoding, length and part count."""
    found = _cache.get(text)
    if found is None:
        found = _measure(text)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[text] = found
    return found


def clear_cache() -> None:
    """Forget every cached measurement (for tests and memory-conscious callers)."""
    _cache.clear()
    _results.clear()
    _plain.clear()


def _measure(text: str) -> TextMeasure:
    if not text.isascii():  # ASCII is always NFC
        text = unicodedata.normalize("NFC", text)
        if "€" in text:
            # € is the only common GSM-7 character outside Latin-1.  "|" is another extension
            # character (2 septets) and, like €, 1 UCS-2 unit and never in non_gsm, so swapping them
            # changes no field of the result while keeping the text on the Latin-1 fast path.
            text = text.replace("€", "|")
    n = len(text)
    # Fast path for Latin-1 texts (most French and English ones): two C-level byte operations.
    latin1 = text.encode("latin-1", "ignore")
    if len(latin1) == n:
        rest = latin1.translate(None, _BASIC_LATIN1)
        if not rest:  # the common case: plain GSM-7, every character 1 septet
            found = _plain.get(n)
            if found is None:
                found = _plain[n] = _result(
                    "GSM-7", n, n, 1 if n <= GSM7_SINGLE else -(-n // GSM7_CONCAT), ()
                )
            return found
        return _measure_rest(text, rest.decode("latin-1"))
    return _measure_rest(text, "".join(_NOT_BASIC_RE.findall(text)))


def _measure_rest(text: str, found: str) -> TextMeasure:
    """Measure an NFC ``text`` whose characters outside the basic alphabet are ``found``, in order."""
    n = len(text)
    outside = found.translate(_DROP_EXTENSION)
    if not outside:  # GSM-7 with extension characters, 2 septets each
        units = n + len(found)
        if units <= GSM7_SINGLE:
            return _result("GSM-7", n, units, 1, ())
        return _result("GSM-7", n, units, _pack(units, GSM7_CONCAT, _wide_offsets(text, set(found))), ())
    non_gsm = tuple(dict.fromkeys(outside))
    astral = [c for c in non_gsm if c > "\uffff"]
    if not astral:
        return _result("UCS-2", n, n, 1 if n <= UCS2_SINGLE else -(-n // UCS2_CONCAT), non_gsm)
    units = n + sum(outside.count(c) for c in astral)
    if units <= UCS2_SINGLE:
        return _result("UCS-2", n, units, 1, non_gsm)
    return _result("UCS-2", n, units, _pack(units, UCS2_CONCAT, _wide_offsets(text, astral)), non_gsm)


_results: dict[tuple[str, int, int, int, tuple[str, ...]], TextMeasure] = {}
_plain: dict[int, TextMeasure] = {}  # plain GSM-7 results by length (bounded by _result's clearing)


def _result(encoding: Encoding, n: int, units: int, parts: int, non_gsm: tuple[str, ...]) -> TextMeasure:
    """A shared immutable TextMeasure: many messages measure alike, and building one costs more."""
    key = (encoding, n, units, parts, non_gsm)
    found = _results.get(key)
    if found is None:
        if encoding == "GSM-7":
            per_part = GSM7_SINGLE if parts == 1 else GSM7_CONCAT
        else:
            per_part = UCS2_SINGLE if parts == 1 else UCS2_CONCAT
        found = TextMeasure(encoding, n, units, parts, per_part, non_gsm)
        if len(_results) >= _CACHE_MAX:
            _results.clear()
            _plain.clear()
        _results[key] = found
    return found


def _wide_offsets(text: str, wide_chars: Iterable[str]) -> set[int]:
    """Unit offsets at which the 2-unit characters of ``text`` start."""
    positions: list[int] = []
    for c in wide_chars:
        i = text.find(c)
        while i != -1:
            positions.append(i)
            i = text.find(c, i + 1)
    positions.sort()
    return {i + k for k, i in enumerate(positions)}


def _pack(units: int, capacity: int, wide: set[int]) -> int:
    """Greedy part count for ``units`` units where a 2-unit atom starts at each offset in ``wide``."""
    parts = 1
    start = 0
    while units - start > capacity:
        end = start + capacity
        if end - 1 in wide:  # the atom would straddle the boundary: it opens the next part instead
            end -= 1
        start = end
        parts += 1
    return parts


def split_parts(text: str) -> list[str]:
    """Cut ``text`` (normalised to NFC) into the parts :func:`measure` counts, by the same rules.

    An empty text gives one empty part; the parts concatenate back to the NFC text.
    """
    text = unicodedata.normalize("NFC", text)
    m = measure(text)
    if m.parts == 1:
        return [text]
    if m.encoding == "GSM-7":
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    parts: list[str] = []
    begin = 0
    used = 0
    for i, cost in enumerate(costs):
        if used + cost > m.per_part:
            parts.append(text[begin:i])
            begin = i
            used = 0
        used += cost
    parts.append(text[begin:])
    return parts


_CONTROL_NAMES: Final[dict[str, str]] = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "backspace",
    "\x09": "TAB",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\x1b": "ESC",
    "\x7f": "DEL",
}


def check_text(text: str) -> list[str]:
    """Problems in ``text`` that the caller should turn into errors; an empty list means none.

    Reported, once per distinct character with its first 1-based position in ``text`` and its count:

    * a raw ESC (U+001B): the GSM-7 escape code, not a character; sent raw it corrupts the next one;
    * TAB: outside GSM-7 (forces UCS-2) and rendered differently by every phone; use spaces;
    * form feed: in the GSM-7 extension table, but a page break has no meaning in an SMS and phones
      display it inconsistently;
    * any other control character (Unicode category Cc) except LF and CR;
    * an unpaired surrogate, which cannot be encoded in UTF-16 at all.
    """
    if _PROBLEM_RE.search(text) is None:
        return []
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for m in _PROBLEM_RE.finditer(text):
        c = m.group()
        first.setdefault(c, m.start() + 1)
        counts[c] = counts.get(c, 0) + 1
    return [_describe(c, first[c], counts[c]) for c in first]


def _describe(c: str, position: int, count: int) -> str:
    code = f"U+{ord(c):04X}"
    where = f"at character {position}" + (f" ({count} occurrences)" if count > 1 else "")
    if c == "\x1b":
        return (
            f"raw ESC ({code}) {where}: it is the GSM-7 escape code, not a character, "
            "and would corrupt the character after it; remove it"
        )
    if c == "\t":
        return f"TAB ({code}) {where}: not in the GSM-7 alphabet and forces UCS-2; use a space"
    if c == "\f":
        return f"form feed ({code}) {where}: a control character with no meaning in an SMS; remove it"
    if "\ud800" <= c <= "\udfff":
        return f"unpaired surrogate ({code}) {where}: cannot be encoded; the text is corrupt"
    name = _CONTROL_NAMES.get(c, "control character")
    return f"{name} ({code}) {where}: control characters cannot be sent; remove it"
