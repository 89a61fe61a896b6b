"""The plan as a value: its options, its recipients (compact parallel lists) and the :class:`Plan` itself.

The CLI renders a plan as text, JSON or Markdown, ``--out`` saves it, and ``send`` executes it. A plan
with an error-level problem cannot be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.audience.build import Audience
from runner.audience.numbers import E164List
from runner.campaign.model import Campaign
from runner.errors import PlanError
from runner.plan.problems import Problem


@dataclass
class PlanOptions:
    state_dir: Path | None = None
    at: datetime | None = None  # plan as if run at this instant (default: now)
    allow_private_urls: bool = False
    check_provider: bool = True  # read-only provider checks (sender, credits) when credentials are present
    check_history: bool = True  # issue 11: ask the provider about a campaign the ledger never saw (`send` does
                                # it itself, before its first claim: runner.send.history)


@dataclass(slots=True)
class Recipient:
    e164: str
    text: str
    parts: int
    region: str | None


class RecipientList:
    """The recipients of a plan as parallel lists, in audience order.

    A million :class:`Recipient` objects weigh about 88 MB; these lists weigh 32 MB, and with one text
    for everyone the texts and parts lists only repeat one object. The numbers are an :class:`E164List`
    (8 bytes each, read as ``str``: ``numbers[i]``). Iterating yields :class:`Recipient` views.
    """

    __slots__ = ("in_ledger", "numbers", "parts", "regions", "texts")

    def __init__(self, numbers: E164List | None = None, texts: list[str] | None = None,
                 parts: list[int] | None = None) -> None:
        self.numbers: E164List = numbers if numbers is not None else E164List()
        self.texts: list[str] = texts if texts is not None else []
        self.parts: list[int] = parts if parts is not None else []
        self.regions: Sequence[str | None] = []  # filled by _regions once every recipient is known
        self.in_ledger: set[str] = set()  # those already pending in the ledger (the others are not in it)

    def append(self, e164: str, text: str, parts: int) -> None:
        self.numbers.append(e164)
        self.texts.append(text)
        self.parts.append(parts)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: int) -> Recipient:
        region = self.regions[index] if self.regions else None
        return Recipient(self.numbers[index], self.texts[index], self.parts[index], region)

    def __iter__(self) -> Iterator[Recipient]:
        regions: Iterable[str | None] = self.regions or (None for _ in self.numbers)
        for e164, text, parts, region in zip(self.numbers, self.texts, self.parts, regions, strict=True):
            yield Recipient(e164, text, parts, region)


@dataclass
class Plan:
    campaign: Campaign
    at: datetime
    state_dir: Path
    audience: Audience
    recipients: RecipientList  # to send now or later (excludes already sent, in doubt)
    already_sent: int
    rejected_before: int
    in_doubt: int
    pending_in_ledger: int
    encoding: str
    stop_mention: str | None  # what the provider appends
    appended_opt_out: str | None  # what smsrun appends
    example: str
    parts_distribution: dict[int, int]
    characters: tuple[int, int]
    total_parts: int
    transliteration: dict[str, Any] | None
    window: dict[str, Any]
    sendable: int | None  # how many recipients are sendable now; None: everyone
    cost: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    digest: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def to_send(self) -> int:
        return len(self.recipients)

    @property
    def sendable_now(self) -> int:
        return len(self.recipients) if self.sendable is None else self.sendable

    def raise_for_problems(self) -> None:
        errors = [p.text for p in self.problems if p.severity == "error"]
        if errors:
            raise PlanError("the plan has errors:\n  " + "\n  ".join(errors))
