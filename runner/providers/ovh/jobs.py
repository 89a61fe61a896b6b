"""What an OVHcloud job request looks like: its tag, number keys (OVHcloud spells numbers its own way),
the coding and the differed period (see :mod:`runner.providers.ovh.provider`'s docstring)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

TAG_MAX: Final = 20
RECONCILE_MARGIN: Final = timedelta(minutes=10)  # our clock vs OVHcloud's, for creationDatetime.from


def job_tag(campaign_id: str, batch_id: str) -> str:
    """The ``tag`` of every SMS of one batch (see the module docstring)."""
    slug = re.sub(r"[^A-Za-z0-9]", "", campaign_id)[:7] or "smsrun"
    digest = hashlib.sha256(f"{campaign_id}\n{batch_id}".encode()).hexdigest()[:12]
    tag = f"{slug}-{digest}"
    assert len(tag) <= TAG_MAX
    return tag


def number_key(number: str) -> str:
    """Compare numbers whatever their spelling: digits only, ``00`` international prefix dropped."""
    digits = number[1:]
    if number[:1] != "+" or not digits.isdecimal():  # isdecimal() is exactly \d: a clean E.164 needs no regex
        digits = re.sub(r"\D", "", number)
    return digits[2:] if digits.startswith("00") else digits


class _ByKey(Mapping[str, tuple[str, str]]):
    """``{number_key(recipient): (recipient, text)}`` of canonical E.164 recipients, looked up lazily: the
    key of ``+33612345678`` is ``33612345678``; a recipient written otherwise is found through a dict
    built on the first miss (issue 14: a plan of millions does not copy its recipients to ask)."""

    def __init__(self, wanted: Mapping[str, str]) -> None:
        self.wanted = wanted
        self._others: dict[str, tuple[str, str]] | None = None

    def __getitem__(self, key: str) -> tuple[str, str]:
        recipient = "+" + key
        text = self.wanted.get(recipient)
        if text is not None and number_key(recipient) == key:
            return recipient, text
        if self._others is None:
            self._others = {number_key(r): (r, t) for r, t in self.wanted.items() if number_key(r) != r[1:]}
        return self._others[key]

    def __iter__(self) -> Iterator[str]:
        return (number_key(recipient) for recipient in self.wanted)

    def __len__(self) -> int:
        return len(self.wanted)


def coding_for(encoding: str) -> str:
    return "8bit" if encoding.upper().replace("-", "") in ("UCS2", "UTF16", "UNICODE") else "7bit"


def differed_minutes(not_before: datetime | None, now: datetime | None = None) -> int | None:
    """Whole minutes (rounded up) from now to ``not_before``; None when not in the future."""
    if not_before is None:
        return None
    if now is None:
        now = datetime.now(UTC) if not_before.tzinfo else datetime.now()
    seconds = (not_before - now).total_seconds()
    if seconds <= 0:
        return None
    return max(1, math.ceil(seconds / 60))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.astimezone()
