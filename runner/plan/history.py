"""The plan's recipients as the read-only mapping number -> text that issue 11's provider-history check
(``runner.send.history.ask``, run by ``plan`` and ``send``) hands the provider.

``dict(zip(numbers, texts))`` at 5M rows (3.9M recipients) was 3.9M new strings and a dict, ~370 MB,
the plan's peak by far (issue 14). The provider only looks numbers up (``wanted.get(number)``,
``number in wanted``), so it gets :class:`RecipientTexts`, a mapping over the plan's compact lists whose
index (number -> position) is built on the first lookup only: a provider that finds nothing (the common
case) costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from runner.audience.numbers import pack

if TYPE_CHECKING:
    from runner.plan.build import RecipientList


class RecipientTexts(Mapping[str, str]):
    """The plan's recipients -> their texts, read lazily from its lists."""

    def __init__(self, recipients: RecipientList) -> None:
        self.recipients = recipients
        self._index: dict[int, int] | None = None

    def __getitem__(self, number: str) -> str:
        try:
            key = pack(number)
        except ValueError:
            raise KeyError(number) from None
        if self._index is None:
            packed = self.recipients.numbers.packed
            self._index = dict(zip(reversed(packed), reversed(range(len(packed))), strict=True))  # first wins
        try:
            return self.recipients.texts[self._index[key]]
        except KeyError:
            raise KeyError(number) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.recipients.numbers)

    def __len__(self) -> int:
        return len(self.recipients.numbers)

