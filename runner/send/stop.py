"""Stopping a send by signal: Ctrl-C (SIGINT) or SIGTERM (``docker stop``, CI cancellation, systemd).

The first signal asks the send to stop: the in-flight request finishes and is settled, what was claimed
and not sent goes back to pending, a wait for a window ends at once. The second aborts
(:class:`KeyboardInterrupt`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from runner.send import guards


class Stop:
    """Ctrl-C: the first one finishes the in-flight request and settles; the second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the signal that asked to stop (issue 15: SIGTERM too)
        self.event = threading.Event()  # set with it: a wait for a window ends at once

    @contextmanager
    def installed(self, enabled: bool) -> Iterator[None]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            self.signum = signum
            self.event.set()

        previous = {signum: signal.signal(signum, handler) for signum in guards.STOP_SIGNALS}  # issue 15
        try:
            yield
        finally:
            for signum, before in previous.items():
                signal.signal(signum, before)
