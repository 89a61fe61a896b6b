"""Work budgets for tests: bound the steps (function calls) and bytes a piece of code uses, never its wall time.

A busy CI machine makes any clock-based limit flaky; a call count and an allocation peak do not change with
load. ``with budget(calls=..., peak_bytes=...) as spent:`` aborts the block with an AssertionError as soon as
it makes more Python or C function calls than allowed (so a runaway loop is stopped, not waited for) and
checks the traced allocation peak when the block ends. tracemalloc makes allocation-heavy code several
times slower: ``rss_growth`` is the cheap alternative, how far the block raised the process's peak
resident size (a high-water mark: it catches a blow-up, not a small rise under an earlier peak). Hangs in
C code are left to pytest-timeout.
"""

from __future__ import annotations

import resource
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


class OverBudget(AssertionError):
    """The block used more steps than its budget."""


@dataclass
class Spent:
    calls: int = 0
    peak_bytes: int = 0


@contextmanager
def budget(*, calls: int | None = None, peak_bytes: int | None = None,
           rss_growth: int | None = None) -> Iterator[Spent]:
    spent = Spent()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    previous = sys.getprofile()

    def count(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            spent.calls += 1
            if calls is not None and spent.calls > calls:
                sys.setprofile(None)
                raise OverBudget(f"more than {calls:,} calls")

    tracing = peak_bytes is not None and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    sys.setprofile(count)
    try:
        yield spent
    finally:
        sys.setprofile(previous)
        if tracing:
            spent.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    if peak_bytes is not None and tracing:
        assert spent.peak_bytes <= peak_bytes, f"peak {spent.peak_bytes:,} bytes > {peak_bytes:,}"
    if rss_growth is not None:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
        assert grown <= rss_growth, f"peak resident size grew by {grown:,} bytes > {rss_growth:,}"
