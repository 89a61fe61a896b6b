"""The suppression list: numbers that no campaign sends to, kept in the ledger database.

Every change is logged with who, when and why; removing a number needs a reason.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import Diagnostic, SmsrunError
from runner.ledger.store import Ledger, now_iso
from runner.ledger.url import ledger_exists


@dataclass(frozen=True)
class OptOut:
    number: str
    added_at: str
    added_by: str
    reason: str
    source: str


def _who(explicit: str | None) -> str:
    if explicit:
        return explicit
    for var in ("SMSRUN_USER", "GITHUB_ACTOR", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _normalise(number: str, region: str | None) -> str:
    """E.164, or a clear error (issue 15: never stored as written, where it would match nobody)."""
    from runner.optout.numbers import optout_number

    return optout_number(number, region)


def add_optouts(state_dir: Path, numbers: Iterable[str], *, reason: str, source: str = "manual",
                who: str | None = None, region: str | None = None, ledger: Ledger | None = None) -> int:
    """Add numbers; returns how many were new."""
    by = _who(who)
    stamp = now_iso()
    normalised = [_normalise(raw, region) for raw in numbers]  # all readable, or none added
    if ledger is not None:  # the caller's ledger (the receiver's, whichever backend it is)
        return ledger.add_optout_numbers(normalised, stamp=stamp, who=by, reason=reason, source=source)
    with Ledger(state_dir) as own:
        return own.add_optout_numbers(normalised, stamp=stamp, who=by, reason=reason, source=source)


def remove_optout(state_dir: Path, number: str, *, reason: str, who: str | None = None,
                  region: str | None = None) -> bool:
    if not reason.strip():
        raise SmsrunError("removing a number from the opt-out list needs a reason (--reason)")
    normalised = _normalise(number, region)
    with Ledger(state_dir) as ledger:
        return ledger.remove_optout_number(normalised, stamp=now_iso(), who=_who(who), reason=reason)


def list_optouts(state_dir: Path) -> list[OptOut]:
    if not ledger_exists(state_dir):
        return []
    with Ledger(state_dir) as ledger:
        return [OptOut(*row) for row in ledger.optout_rows()]


def import_optouts(state_dir: Path, path: Path, *, reason: str, who: str | None = None,
                   region: str | None = None) -> tuple[int, list[Diagnostic]]:
    """Import a CSV/text file of numbers; returns (added, the invalid lines, each a diagnostic at its line).
    The readable numbers are added even when some lines are not (an opt-out is honoured at once); the
    caller reports the invalid lines and fails."""
    from runner.optout.numbers import default_region
    from runner.sources.csvfile import CsvSource

    if not path.is_file():
        raise SmsrunError.at(str(path), 0, 0, "no such file")
    region = default_region(region)
    numbers: list[str] = []
    invalid: list[Diagnostic] = []
    for row in CsvSource(path, label=str(path), region=region).rows():
        try:
            numbers.append(_normalise(row.raw, region))
        except SmsrunError as exc:
            invalid.append(Diagnostic(str(path), row.line, 0, exc.message))
    added = add_optouts(state_dir, numbers, reason=reason, source=f"import:{path.name}", who=who) if numbers else 0
    return added, invalid
