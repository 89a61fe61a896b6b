"""The receiver's one ledger thread: every ledger call of ``smsrun receive`` runs here, reports in groups.

The HTTP side is one asyncio event loop; a ledger call blocks (SQLite's ``synchronous=FULL`` fsync, a
database round trip), so it never runs on the loop. :class:`LedgerWriter` owns the ledger connection
and a thread of its own; a handler hands it a job and awaits the result, and the loop keeps serving.
One thread owning the connection is what makes the connection handling thread-safe: nothing else
touches it.

**Group commit.** Under a burst (a gateway flushing its reports over hundreds of connections) one
commit per report would cap the receiver at one fsync per report (~190 reports/s measured here, with
1 in 160 gateways timing out). Delivery reports waiting together are written in ONE transaction: each
:func:`~runner.receiver.store.record_report` runs nested in it (the ledger's ``transaction()`` nests),
the group commits once, and only then is each report's handler given its outcome, so a 2xx is still
sent only after the commit that holds it. If the group fails, each of its reports is retried alone, so
one bad report never costs the others their answer.

Replies (which open a second connection to add an opt-out) and the backlog pass run alone, between
groups. The backlog pass (:func:`~runner.receiver.store.apply_backlog`) runs every
:data:`BACKLOG_EVERY` seconds, also in the middle of a long burst.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runner.errors import LedgerError
from runner.ledger.store import Ledger
from runner.receiver.store import MessageKey, ReportOutcome, record_report

log = logging.getLogger("smsrun.receiver")

T = TypeVar("T")
MAX_GROUP = 512  # reports in one transaction
BACKLOG_EVERY = 1.0  # seconds between two passes over the reports kept for rows not yet settled


@dataclass(frozen=True)
class _Job:
    run: Callable[[Ledger], Any]
    future: concurrent.futures.Future[Any]
    grouped: bool  # a delivery report: may share a transaction with others


_STOP = object()


class LedgerWriter:
    """Runs ledger jobs on a thread of its own; see the module docstring."""

    def __init__(self, ledger: Ledger, on_backlog: Callable[[Ledger], None] | None = None) -> None:
        self.ledger = ledger
        self._on_backlog = on_backlog
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="smsrun-receiver-ledger", daemon=True)
        self._closed = False
        self._lock = threading.Lock()
        self.groups = 0  # transactions that held more than one report (for tests and logs)

    def start(self) -> LedgerWriter:
        self._thread.start()
        return self

    # -- submitting ------------------------------------------------------------------------------------

    def submit(self, run: Callable[[Ledger], T], *, grouped: bool = False) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                future.set_exception(LedgerError("the receiver is stopping"))
                return future
            self._queue.put(_Job(run, future, grouped))
        return future

    def report(self, provider: str, key: MessageKey, status: str,
               reason: str | None) -> concurrent.futures.Future[ReportOutcome]:
        """Record a delivery report (grouped with the reports waiting beside it)."""
        return self.submit(lambda ledger: record_report(ledger, provider, key, status, reason), grouped=True)

    def call(self, run: Callable[[Ledger], T], timeout: float | None = None) -> T:
        """Run ``run(ledger)`` on the ledger thread and wait for its result (from a thread, not the loop)."""
        return self.submit(run).result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Finish the jobs already submitted, refuse new ones, stop the thread, close the ledger."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.ledger.close()

    # -- the ledger thread -----------------------------------------------------------------------------

    def _loop(self) -> None:
        next_backlog = time.monotonic() + BACKLOG_EVERY
        waiting: list[_Job | object] = []
        while True:
            if waiting:
                item = waiting.pop(0)
            else:
                try:
                    item = self._queue.get(timeout=max(0.0, next_backlog - time.monotonic()))
                except queue.Empty:
                    item = None
            if item is _STOP:
                for job in waiting:
                    if isinstance(job, _Job):
                        self._run_alone(job)
                return
            if isinstance(item, _Job):
                if item.grouped:
                    group = [item]
                    while len(group) < MAX_GROUP and not waiting:
                        try:
                            more = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(more, _Job) and more.grouped:
                            group.append(more)
                        else:
                            waiting.append(more)  # a reply, the stop mark...: after this group
                    self._run_group(group)
                else:
                    self._run_alone(item)
            if time.monotonic() >= next_backlog:
                if self._on_backlog is not None:
                    self._safely(self._on_backlog)
                next_backlog = time.monotonic() + BACKLOG_EVERY

    def _safely(self, run: Callable[[Ledger], Any]) -> None:
        try:
            run(self.ledger)
        except Exception as exc:  # the pass runs again in a second
            log.warning("backlog: %s", getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")

    def _run_alone(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.run(self.ledger)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _run_group(self, group: list[_Job]) -> None:
        group = [job for job in group if job.future.set_running_or_notify_cancel()]
        if len(group) == 1:
            self._run_one_running(group[0])
            return
        results: list[tuple[_Job, bool, Any]] = []
        try:
            with self.ledger.transaction():
                for job in group:
                    try:
                        results.append((job, True, job.run(self.ledger)))
                    except (ValueError, LookupError) as exc:  # refused before it wrote anything
                        results.append((job, False, exc))
        except Exception:  # the group could not commit: each report alone, so one cannot sink the others
            for job in group:
                self._run_one_running(job)
            return
        self.groups += 1
        for job, ok, value in results:  # only now, after the commit
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _run_one_running(self, job: _Job) -> None:
        try:
            result = job.run(self.ledger)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
