"""``smsrun optout``: the suppression list every campaign excludes (add, remove, list, import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.commands.common import state_here
from runner.errors import Diagnostic, SmsrunError

SHOWN_INVALID = 20  # invalid lines of an import listed (all are counted)


def add(numbers: list[str], *, reason: str, region: str | None = None, who: str | None = None,
        state_dir: Path | None = None) -> int:
    """How many numbers were added (those already on the list are not counted)."""
    from runner.optout.store import add_optouts

    return add_optouts(state_here(state_dir), numbers, reason=reason, who=who, region=region)


def remove(number: str, *, reason: str, region: str | None = None, who: str | None = None,
           state_dir: Path | None = None) -> None:
    from runner.optout.store import remove_optout

    if not remove_optout(state_here(state_dir), number, reason=reason, who=who, region=region):
        raise SmsrunError(f"{number} is not on the opt-out list")


def entries(*, state_dir: Path | None = None, show_numbers: bool = False) -> list[dict[str, Any]]:
    """Every number on the list with who added it, when, from where and why (numbers masked unless asked)."""
    from runner.masking import mask_number
    from runner.optout.store import list_optouts

    rows = [asdict(o) for o in list_optouts(state_here(state_dir))]
    if not show_numbers:
        for row in rows:
            row["number"] = mask_number(row["number"])
    return rows


@dataclass
class ImportResult:
    file: Path
    added: int
    invalid: list[Diagnostic] = field(default_factory=list)  # each line that is not a number, where and why

    def raise_for_invalid(self) -> None:
        """Issue 15: an import with lines that are not phone numbers fails (after adding the others)."""
        if self.invalid:
            more = " (the first 20 are shown)" if len(self.invalid) > SHOWN_INVALID else ""
            raise SmsrunError(f"{len(self.invalid)} line(s) of {self.file} are not phone numbers and were not "
                              "added" + more)


def import_file(file: Path, *, reason: str, region: str | None = None, who: str | None = None,
                state_dir: Path | None = None) -> ImportResult:
    from runner.optout.store import import_optouts

    added, invalid = import_optouts(state_here(state_dir), file, reason=reason, who=who, region=region)
    return ImportResult(file, added, invalid)
