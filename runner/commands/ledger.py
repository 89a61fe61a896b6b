"""``smsrun ledger copy``: everything a ledger holds, copied into another and verified there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class CopyResult:
    source: str  # as given (the renderers hide a URL's password)
    target: str
    counts: dict[str, tuple[int, int]]  # table -> (rows copied, rows found in the target)


def copy(source: str, target: str) -> CopyResult:
    from runner.ledger.copy import copy_ledger

    return CopyResult(source, target, copy_ledger(source, target, Path.cwd()))
