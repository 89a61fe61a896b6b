"""The campaign as smsrun understands it, once loaded and validated."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from runner.errors import Diagnostic

SenderKind = Literal["short-code", "alphanumeric", "number"]

ALNUM_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{3,11}$")


@dataclass(frozen=True)
class Sender:
    """Who the message comes from.

    ``short-code``: the provider's short number that recipients can reply to (value is None);
    ``alphanumeric``: a name such as ``ACME``; ``number``: a virtual number in E.164.
    """

    kind: SenderKind
    value: str | None = None

    @property
    def label(self) -> str:
        return "short-code (replies allowed)" if self.kind == "short-code" else f"{self.value}"

    @property
    def can_receive_replies(self) -> bool:
        return self.kind != "alphanumeric"


@dataclass(frozen=True)
class Position:
    """Where something was written: a file and a 1-based line and column."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}" if self.line else self.path


@dataclass(frozen=True)
class SourceSpec:
    """One recipient source as written in the campaign (``kind`` selects the reader)."""

    kind: str  # addressbook | csv | url | numbers | ovh-phonebook | ovh-receivers
    options: dict[str, Any]
    base_dir: Path  # folder of the campaign file, for relative paths
    position: Position
    # where each option is written (``column``, ``fields.first_name``...): problems point at the key at fault
    keys: dict[str, Position] = field(default_factory=dict, compare=False, hash=False)

    def at(self, key: str | None) -> Position:
        """Where ``key`` (or its parent option) is written, else where the source is."""
        while key:
            if key in self.keys:
                return self.keys[key]
            key = key.rpartition(".")[0]
        return self.position


@dataclass(frozen=True)
class Window:
    """Days (0=Monday) and hours (``HH:MM`` local) in which messages may be sent."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    start: str = "08:00"
    end: str = "20:00"
    holidays: bool = False  # True: public holidays are allowed


@dataclass(frozen=True)
class Schedule:
    not_before: datetime | None = None
    not_after: datetime | None = None


@dataclass(frozen=True)
class Limits:
    max_recipients: int | None = None
    rate: float | None = None  # messages per second
    max_parts: int = 6
    max_cost: float | None = None
    max_consecutive_failures: int = 10


@dataclass(frozen=True)
class ProviderSettings:
    name: str = "outbox"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Campaign:
    id: str
    path: Path
    message: str
    commercial: bool
    sources: tuple[SourceSpec, ...]
    sender: Sender = Sender("short-code")
    description: str = ""
    exclude: tuple[SourceSpec, ...] = ()
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    provider: ProviderSettings = ProviderSettings()
    opt_out_text: str | None = None
    transliterate: bool = False
    window: Window | None = None  # None: the default (commercial) or no window (non-commercial)
    prices: dict[str, float] = field(default_factory=dict)
    default_price: float | None = None
    price_unit: str = "credits"
    source_text: str = ""  # the campaign file's text, for hashing
    positions: dict[str, Position] = field(default_factory=dict)  # top-level key -> where it was written
    repo_root: Path | None = None  # local sources must stay inside it
    warnings: tuple[Diagnostic, ...] = ()

    def where(self, key: str) -> Position:
        """Where ``key`` (``message``, or one level down: ``limits.max_parts``) is written, else its parent."""
        found = self.positions.get(key) or self.positions.get(key.partition(".")[0])
        return found or Position(str(self.path))
