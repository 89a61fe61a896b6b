"""Settles on a connection of their own, so that the server writes them while the next claim is written.

The send loop's writer thread (:mod:`runner.send.writer`) commits several queued writes in one
transaction: usually the settles of the requests just answered, then the claims of the next ones. On
one connection the server runs them one after another, and the writer thread was the send's limit on
PostgreSQL (profiled with py-spy: 90% of its time waiting for the server, settles about half of it).
Here a settle met inside such a transaction is handed to a second connection, in a thread of its own,
and the transaction goes on with the claims meanwhile; before it commits it waits for those settles.

What does not change:

* each settle is a transaction of its own on the second connection, checking the fence (the run id of
  the lease) like every write, committed with ``synchronous_commit = off`` as before: the next claim's
  durable commit flushes the WAL up to and past it;
* a settle still commits no later than any claim queued after it: the transaction that carries the
  claims waits for the settles queued before its commit, and fails (rolls back) if one failed, so the
  run stops at the first failed write as before;
* settles commit in the order they were queued (one thread);
* a write of the first connection that may touch rows a settle is updating (a release, a claim of
  pending rows) waits for the settles first: the second connection never waits for a row lock the
  first one holds while the first waits for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.ledger.pg.backend import PostgresLedger


class Settler:
    """A second connection (a :class:`PostgresLedger` of its own, holding the same fence) and its thread."""

    def __init__(self, make: Callable[[], PostgresLedger]) -> None:
        self._make = make
        self._ledger: PostgresLedger | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsrun-settler")
        self._pending: list[Future[None]] = []

    def submit(self, updates: Any, opted_out: Sequence[str], source: str) -> None:
        self._pending.append(self._pool.submit(self._settle, updates, opted_out, source))

    def _settle(self, updates: Any, opted_out: Sequence[str], source: str) -> None:
        if self._ledger is None:
            self._ledger = self._make()
        self._ledger.settle(updates, opted_out=opted_out, source=source)

    def drain(self, *, quiet: bool = False) -> None:
        """Wait for every queued settle; raise the first that failed (unless ``quiet``). After a failure
        the settles queued behind it are still run: each is a true outcome of a request, committed or
        not on its own."""
        pending, self._pending = self._pending, []
        failure: BaseException | None = None
        for future in pending:
            exc = future.exception()  # waits
            if exc is not None and failure is None:
                failure = exc
        if failure is not None and not quiet:
            raise failure

    def close(self) -> None:
        with contextlib.suppress(BaseException):
            self.drain(quiet=True)
        self._pool.shutdown(wait=True)
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
