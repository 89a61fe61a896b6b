"""Checks of the values a gateway sends the receiver: a value that is not what it should be is a 400,
never a 500 and never a row in the ledger (issue 15 §5).

Each check returns the value cleaned, or raises :class:`BadValue` naming the parameter; the handlers
turn it into ``400 bad request: <reason>``. The reason quotes no value (values may be phone numbers or
megabytes of garbage).
"""

from __future__ import annotations

import re

#: E.164 allows 15 digits; "00" + 15 for an international prefix written out
MAX_PHONE_DIGITS = 17
#: short codes are 3 to 8 digits (3-6 in most countries, up to 8 in a few)
MIN_SHORT_CODE_DIGITS = 3
MAX_IDENT = 256  # message ids, batch ids, provider references
_SEPARATORS = re.compile(r"[ .()\-]")
_PHONE = re.compile(r"\+?[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")


class BadValue(ValueError):
    """A parameter's value cannot be used; ``str()`` is the reason for the 400 answer."""


def digits(value: str | None, name: str, *, max_len: int, required: bool = True) -> int | None:
    """A small non-negative integer written in ASCII digits (``²``, ``١`` and 5,000-digit values refused)."""
    text = (value or "").strip()
    if not text:
        if required:
            raise BadValue(f"no {name}")
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > max_len:
        raise BadValue(f"{name} is not a number of at most {max_len} digits")
    return int(text)


def ident(value: str | None, name: str, *, max_len: int = MAX_IDENT) -> str | None:
    """An identifier (message id, batch id, reference): printable, at most ``max_len`` characters; None
    when empty."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > max_len or _CONTROL.search(text):
        raise BadValue(f"{name} is not a printable identifier of at most {max_len} characters")
    return text


def phone_or_short_code(value: str | None, name: str) -> str:
    """A sender or handset as gateways write it: ``+33612345678``, ``33612345678``, ``0612345678``,
    ``+33 6 12 34 56 78``, or a short code (``36180``). Letters (alphanumeric senders, vanity
    numbers), control characters, NUL, invalid UTF-8 (read back as U+FFFD) and over-long values are
    refused: such a sender can neither be answered nor suppressed."""
    text = (value or "").strip(" ")  # a '+' sent unencoded reads back as a space
    if not text:
        raise BadValue(f"no {name}")
    compact = _SEPARATORS.sub("", text)
    if len(text) > 32 or not _PHONE.fullmatch(compact):
        raise BadValue(f"{name} is not a phone number or a short code")
    count = len(compact.lstrip("+"))
    if count < MIN_SHORT_CODE_DIGITS or count > MAX_PHONE_DIGITS:
        raise BadValue(f"{name} is not a phone number or a short code")
    return compact


def label(value: str | None, *, max_len: int = MAX_IDENT) -> str | None:
    """A free-text detail a gateway adds (a receipt's description): control characters dropped, cut at
    ``max_len``; None when empty. Never a reason to refuse the report it comes with."""
    cleaned = _CONTROL.sub("", value or "").strip()
    return cleaned[:max_len] or None


def text(value: str) -> str:
    """A message text: kept as received, except NUL (which no SMS carries and SQLite text mishandles)."""
    return value.replace("\x00", "\ufffd")
