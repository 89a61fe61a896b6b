"""What every recipient source yields: rows that remember where they came from.

A source is opened from a :class:`~runner.campaign.model.SourceSpec`; it streams :class:`Row` values
(the raw number as written, the line it came from, and the per-recipient template fields) and gives a
digest of its content so a saved plan can tell when the source changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class Row(NamedTuple):
    raw: str  # the phone number exactly as written
    line: int  # 1-based line (or item index) in the source; 0 when meaningless
    fields: dict[str, str] | None  # template fields (address-book fields, CSV columns)


@dataclass
class SourceContext:
    """What sources may need from the run: the repository root (local paths must stay inside it),
    whether loopback/private URLs are allowed (tests), and network limits."""

    repo_root: Path
    allow_private_urls: bool = False
    timeout: float = 10.0
    max_bytes: int = 512 * 1024 * 1024
    cache_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


class Source(ABC):
    #: how the source is named in messages (a relative path, a URL without query, "numbers")
    label: str
    _region: str | None = None

    @property
    def region(self) -> str | None:
        """Default region for numbers written nationally (``06 12 34 56 78`` with ``FR``)."""
        return self._region

    @region.setter
    def region(self, value: str | None) -> None:
        self._region = value

    @abstractmethod
    def rows(self) -> Iterator[Row]:
        """Stream the rows. Raise SourceError (with a position) on unreadable input."""

    @abstractmethod
    def digest(self) -> str:
        """A hash of the content read (stable while the content is unchanged)."""
