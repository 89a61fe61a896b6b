"""Checks every rendered message must pass, and the plan's total render budget (issue 15).

A template renders one text per recipient: a control character in the CSV field of row 900, or a
field that is empty for some recipients, shows up in their message only. So every distinct rendered
text is checked (control characters, nothing but white space), not one example; and rendering the
whole audience has a total time budget, on top of the per-message one of the template sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.errors import PlanError

PLAN_RENDER_SECONDS = 60.0  # rendering every message of one plan
CLOCK: Callable[[], float] = time.monotonic  # tests replace it with a clock that counts renders
MAX_EXAMPLES = 5
EXCERPT = 60  # characters of a value quoted in an error line


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` cut to ``limit`` characters, repr-quoted: an error line stays one readable line."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… ({len(text):,} characters)"


def empty_problem(text: str) -> str | None:
    return "the message is empty or only white space" if not text.strip() else None


@dataclass
class RenderChecks:
    """Problems of rendered texts: each kind counted, with the first few recipients' origins."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    _verdicts: dict[str, list[str]] = field(default_factory=dict)

    def check(self, text: str, origin: Callable[[], str]) -> bool:
        """True when ``text`` may be sent; otherwise its problems are recorded against ``origin()``."""
        verdict = self._verdicts.get(text)
        if verdict is None:
            from runner.message.encoding import check_text

            verdict = check_text(text)
            empty = empty_problem(text)
            if empty:
                verdict = [empty, *verdict]
            if len(self._verdicts) < 100_000:
                self._verdicts[text] = verdict
        if not verdict:
            return True
        key = verdict[0].split(" at character")[0]
        self.counts[key] = self.counts.get(key, 0) + 1
        named = self.examples.setdefault(key, [])
        if len(named) < MAX_EXAMPLES:
            named.append(f"{origin()}: {verdict[0]}")
        return False

    def problems(self) -> list[str]:
        out = []
        for key, count in self.counts.items():
            more = count - len(self.examples[key])
            out.append(f"rendered message: {count} message(s) refused: " + "; ".join(self.examples[key])
                       + (f"; and {more} more" if more > 0 else ""))
        return out


class RenderBudget:
    """The total time rendering one plan's messages may take."""

    def __init__(self, total: int, seconds: float | None = None) -> None:
        self.total = total
        self.seconds = PLAN_RENDER_SECONDS if seconds is None else seconds
        self.clock = CLOCK
        self.started = self.clock()

    def check(self, done: int) -> None:
        if self.clock() - self.started > self.seconds:
            raise PlanError(f"rendering the messages takes longer than {self.seconds:g} s in total ({done:,} of "
                            f"{self.total:,} rendered): simplify the message template; nothing was sent")
