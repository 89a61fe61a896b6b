"""Numbers written inline in the campaign file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from runner.sources.base import Row, Source


class InlineSource(Source):
    def __init__(self, numbers: list[str], *, label: str, lines: list[int], region: str | None = None) -> None:
        self.numbers = numbers
        self.label = label
        self.lines = lines  # where each number is written in the campaign file
        self.region = region

    def rows(self) -> Iterator[Row]:
        for index, number in enumerate(self.numbers):
            yield Row(number, self.lines[index] if index < len(self.lines) else 0, None)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.numbers).encode()).hexdigest()
