"""Phone numbers are personal data: logs and shared outputs show them masked unless asked not to."""

from __future__ import annotations

import re

# starts with +, 00 or 0 and has at least 8 digits: phone numbers, not dates, times or counts
_NUMBER = re.compile(r"(?<![\w:.])(?:\+|0)\d(?:[ .\-()]?\d){7,}")


def mask_number(number: str) -> str:
    """``+33612345678`` -> ``+336••••••78``: country and first digit, then the last two digits."""
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    if len(digits) < 6:
        return "•" * len(number)
    keep = set(digits[:3] + digits[-2:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "•" for i, ch in enumerate(number))


def mask_text(text: str) -> str:
    """Mask every phone-number-looking run in free text."""
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)
