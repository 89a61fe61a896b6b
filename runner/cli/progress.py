"""Progress while sending: a bar on a terminal, a plain line every few seconds otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import Any


class _Plain:
    def __init__(self, total: int, every: float = 5.0) -> None:
        self.total = total
        self.every = every
        self.last = 0.0

    def update(self, report: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        rate = report.done / report.elapsed if report.elapsed > 0 else 0.0
        sys.stderr.write(f"progress: {report.done:,}/{self.total:,} (sent {report.sent:,}, rejected "
                         f"{report.rejected:,}, in doubt {report.in_doubt:,}) {rate:,.0f}/s\n")
        sys.stderr.flush()

    def close(self) -> None:
        pass


class _Bar:
    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[detail]}"), transient=True)
        self.task = self.progress.add_task("send", total=total, detail="")
        self.progress.start()

    def update(self, report: Any) -> None:
        self.progress.update(self.task, completed=report.done,
                             detail=f"rejected {report.rejected}, in doubt {report.in_doubt}")

    def close(self) -> None:
        self.progress.stop()


class _Silent:
    def update(self, report: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_reporter(total: int, *, quiet: bool = False) -> _Plain | _Bar | _Silent:
    if quiet:
        return _Silent()
    if sys.stderr.isatty():
        return _Bar(total)
    return _Plain(total)
