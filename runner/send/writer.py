"""The send loop's ledger writes, done by one thread while requests are on the wire.

A bulk send spends as long writing the ledger as talking to the provider: one claim (``synchronous=FULL``,
an fsync) and one settle per 500-recipient request. Each is one SQL statement per request
(``INSERT ... SELECT FROM json_each``, ``UPDATE ... WHERE rowid IN``, ``UPDATE ... FROM json_each``),
and SQLite runs a statement and its fsync without holding the GIL, so a second connection in a thread
takes them off the send loop's path:

* the claims of the next groups of requests are committed while the current group is sent
  (:meth:`LedgerWriter.claim` returns a future), and the send loop waits for a group's claim before
  calling the provider: a claim is still on disk before its request leaves;
* a settle is queued and the loop goes on. Until it commits, the rows stay ``claimed``: a crash then
  leaves them to the next run, which turns them ``in_doubt`` and reconciles them with the provider,
  as after a crash between the provider's answer and the settle.

Writes run in submission order on one thread, and those queued together share one transaction (group
commit), so a settle always commits no later than any later claim and a release waits for every write
before it. The first write that fails stops the run: every later call raises it.

``background=False`` runs each write at once on the calling thread's ledger, for providers that cannot
reconcile (a crash must leave at most the request in flight in doubt) and for rate-limited sends.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

from runner.ledger.store import Ledger, SettleGroups, SettleUpdate

T = TypeVar("T")

SWITCH_INTERVAL = 0.0002  # seconds
GROUP_COMMIT = 16  # queued writes committed in one transaction


class LedgerWriter:
    """Ordered ledger writes; in the background on a connection of its own, or inline."""

    def __init__(self, ledger: Ledger, *, background: bool) -> None:
        self._inline = ledger
        self._own: Ledger | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: stop
        self._queued: list[Future[Any]] = []
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._dead: BaseException | None = None  # what killed the thread, if something did
        self._switch_interval: float | None = None
        if background:
            self._own = ledger.sibling()  # WAL: the send loop's reads go on beside its writes
            # each SQLite call gives the GIL up; taking it back waits for the send loop to yield it, by
            # default every 5 ms: ~6 calls per write would keep the writer behind (2.7x slower, measured)
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
            self._thread = threading.Thread(target=self._work, name="smsrun-ledger-writer", daemon=True)
            self._thread.start()

    # -- the writes the send loop makes --------------------------------------------------------------
    def claim(self, campaign_id: str, requests: Sequence[tuple[str, Sequence[Any]]], *, new: bool,
              run_id: str | None = None) -> Future[list[list[tuple[Any, ...]]]]:
        """Commit the claim of several requests, (batch_id, rows), in one transaction; the caller waits on
        the future before sending any of them. Rows are (rowid, recipient, text) of pending rows, given
        back as they are; or, when ``new``, recipients not yet in the ledger as (text, parts, [recipient,
        ...]) (:meth:`Ledger.claim_new`), given back as the (rowid, recipient) claimed: a new recipient the
        ledger already holds is not claimed."""

        def job(ledger: Ledger) -> list[list[tuple[Any, ...]]]:
            if new:
                return ledger.claim_new(campaign_id, requests, run_id)  # type: ignore[arg-type]
            ledger.claim_many([([row[0] for row in rows], batch_id) for batch_id, rows in requests])
            return [list(rows) for _, rows in requests]

        return self._submit(job)

    def add_pending(self, campaign_id: str, rows: Sequence[tuple[str, str, int]], run_id: str | None) -> None:
        """Queue recipients held back (outside their window) as pending rows."""
        if rows:
            self._submit(lambda ledger: ledger.add_pending(campaign_id, rows, run_id=run_id, checkpoint=False),
                         durable=False)

    def settle(self, updates: Sequence[SettleUpdate] | SettleGroups, *, opted_out: Sequence[str] = (),
               source: str = "provider", then: Callable[[], None] | None = None) -> Future[None]:
        """Queue a settle (``then`` runs once it is committed); wait on the future to have it on disk."""
        return self._submit(lambda ledger: ledger.settle(updates, opted_out=opted_out, source=source),
                            durable=False, then=then)

    def release(self, rowids: Sequence[int], status: str = "pending", reason: str | None = None) -> None:
        """Put claimed rows back or mark them, and wait for it."""
        if rowids:
            self._submit(lambda ledger: ledger.release(rowids, status, reason)).result()

    def check_lease(self) -> None:
        """Raise unless this run can prove it still holds its campaign (before each provider request), or
        when a ledger write failed (a lost connection: nothing more is sent)."""
        self._raise_failure()
        self._inline.check_lease()

    def flush(self) -> None:
        """Wait for every queued write; raise the first that failed."""
        for future in self._queued:
            future.exception()  # waits
        self._queued.clear()
        self._raise_failure()

    def close(self, *, quiet: bool = False) -> None:
        """Commit what is queued and stop the thread; raise the first write that failed unless ``quiet``
        (the run is already stopping on another error)."""
        try:
            if quiet:
                for future in self._queued:
                    future.exception()
            else:
                self.flush()
        finally:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread.join()
                self._thread = None
            if self._own is not None:
                self._own.close()
                self._own = None
            if self._switch_interval is not None:
                sys.setswitchinterval(self._switch_interval)
                self._switch_interval = None

    # -- machinery -----------------------------------------------------------------------------------
    def _submit(self, job: Callable[[Ledger], T], *, durable: bool = True,
                then: Callable[[], None] | None = None) -> Future[T]:
        self._raise_failure()
        future: Future[T] = Future()
        if self._thread is None:
            future.set_result(job(self._inline))  # a failure is raised to the caller here, and only here
            if then is not None:
                then()
            return future
        self._queued = [f for f in self._queued if not f.done() or f.exception() is not None]
        self._queued.append(future)
        self._jobs.put(_Job(job, future, durable, then))
        dead = self._dead
        if dead is not None:  # the thread died before it could take this one
            _fail(future, dead)
        return future

    def _raise_failure(self) -> None:
        if self._failure is None:
            for future in self._queued:
                if future.done() and future.exception() is not None:
                    self._failure = future.exception()
                    break
        if self._failure is not None:
            raise self._failure

    def _work(self) -> None:
        try:
            self._run_jobs()
        except BaseException as exc:  # a bug here must not leave the send loop waiting for ever
            self._dead = exc
            while True:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    return
                if item is not None:
                    _fail(item.future, exc)

    def _run_jobs(self) -> None:
        """Run the queued writes in order; those queued together share one transaction (group commit:
        one commit, and one fsync when one of them must be durable, for a settle and the next claim)."""
        own = self._own
        assert own is not None
        failed: BaseException | None = None
        mode = "FULL"
        while True:
            item = self._jobs.get()
            if item is None:
                return
            group = [item]
            while len(group) < GROUP_COMMIT:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.append(more)
            if failed is not None:  # after a failed write nothing later may commit (order matters)
                for job in group:
                    job.future.set_exception(failed)
                continue
            try:
                wanted = "FULL" if any(job.durable for job in group) else "NORMAL"
                if wanted != mode:
                    own.set_durable(wanted == "FULL")
                    mode = wanted
                with own.transaction():
                    results = [job.run(own) for job in group]
            except BaseException as exc:
                failed = exc
                for job in group:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(group, results, strict=True):
                if job.then is not None:
                    job.then()
                job.future.set_result(result)


def _fail(future: Future[Any], exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):  # set by the other thread meanwhile
        future.set_exception(exc)


class _Job:
    __slots__ = ("durable", "future", "run", "then")

    def __init__(self, run: Callable[[Ledger], Any], future: Future[Any], durable: bool,
                 then: Callable[[], None] | None) -> None:
        self.run, self.future, self.durable, self.then = run, future, durable, then
