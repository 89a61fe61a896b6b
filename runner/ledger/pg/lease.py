"""One runner sends a campaign at a time: a lease per campaign in the PostgreSQL ledger.

A session advisory lock is not enough: a frozen VM's session keeps it, a pool or PgBouncer can leak it.
So the holder writes a row ``leases(campaign_id, run_id, holder, ci_url, since, expires_at)`` with an
expiry by the *server's* clock, and a heartbeat thread on a connection of its own renews it every third
of its time to live. The run id is a fencing token: every claim and settle checks, in its transaction,
that the lease still names it (``SELECT … FOR SHARE``: a takeover waits for that transaction, and a
write after a takeover fails). Before each provider request the runner checks on the *monotonic* clock
that its last renewal is recent enough to prove the lease still valid (:meth:`Lease.check`); a runner
frozen (SIGSTOP, a suspended VM) or cut off past that moment stops without calling the provider again.

A lease whose holder died expires and is taken over; the new run turns the dead run's claims in doubt
and reconciles them before it claims anything new (the send engine does that on every start).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from typing import Any

import psycopg

from runner.errors import CampaignLockedError, LedgerError
from runner.ledger.pg.connection import clean, connect

DEFAULT_TTL = 30.0  # seconds; SMSRUN_LEASE_SECONDS changes it (tests use a few seconds)
SAFETY = 0.25  # the share of the time to live a runner keeps as margin for clock rates and delays


def lease_ttl() -> float:
    with contextlib.suppress(ValueError):
        return max(1.0, float(os.environ.get("SMSRUN_LEASE_SECONDS", "") or DEFAULT_TTL))
    return DEFAULT_TTL


def ci_url() -> str | None:
    server, run = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_RUN_ID")
    repo = os.environ.get("GITHUB_REPOSITORY")
    if server and run:
        return f"{server}/{repo}/actions/runs/{run}" if repo else f"{server} run {run}"
    return None


def describe_holder(holder: str, url: str | None, since: Any) -> str:
    """``pid 123 since 2026-… on host, CI job https://…`` (the SQLite lock file's words, and the CI job)."""
    when = since.isoformat(timespec="seconds") if hasattr(since, "isoformat") else str(since)
    pid, _, host = holder.partition(" on ")
    return f"{pid} since {when}" + (f" on {host}" if host else "") + (f", CI job {url}" if url else "")


class Lease:
    """The lease of one campaign, held by this process until :meth:`release`."""

    def __init__(self, url: str, schema: str, where: str, campaign_id: str, *, timeout: float = 0.0) -> None:
        self.url, self.schema, self.where, self.campaign_id = url, schema, where, campaign_id
        self.ttl = lease_ttl()
        self.run_id = uuid.uuid4().hex
        self.holder = f"pid {os.getpid()} on {socket.gethostname()}"
        self.lost: str | None = None
        self._stop = threading.Event()
        self._conn = connect(url, schema)
        self._conn.execute(f'SET search_path TO "{schema}"')
        self._conn.execute("SET lock_timeout = '1s'")  # a frozen holder's transaction: try again, never hang
        try:
            self._acquire(timeout)
        except BaseException:
            self._conn.close()
            raise
        self._thread = threading.Thread(target=self._beat, name="smsrun-lease", daemon=True)
        self._thread.start()

    def _acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            started = time.monotonic()
            try:
                row = self._conn.execute(
                    "INSERT INTO leases (campaign_id, run_id, holder, ci_url, since, expires_at) VALUES "
                    "(%s, %s, %s, %s, now(), now() + make_interval(secs => %s)) ON CONFLICT (campaign_id) DO UPDATE "
                    "SET run_id = excluded.run_id, holder = excluded.holder, ci_url = excluded.ci_url, "
                    "since = excluded.since, expires_at = excluded.expires_at WHERE leases.expires_at < now() "
                    "RETURNING run_id", (self.campaign_id, self.run_id, self.holder, ci_url(), self.ttl)).fetchone()
                if row is not None:
                    self.valid_until = started + self.ttl * (1 - SAFETY)
                    return
                held = self._conn.execute("SELECT holder, ci_url, since FROM leases WHERE campaign_id = %s",
                                          (self.campaign_id,)).fetchone()
            except psycopg.errors.LockNotAvailable:  # the holder is inside a transaction: it still holds
                held = self._conn.execute("SELECT holder, ci_url, since FROM leases WHERE campaign_id = %s",
                                          (self.campaign_id,)).fetchone()
            except psycopg.Error as exc:
                raise LedgerError(f"cannot take the lease of campaign {self.campaign_id!r} in {self.where}: "
                                  f"{clean(exc, None)}") from None
            if held is None:
                continue  # released meanwhile
            if time.monotonic() >= deadline:
                raise CampaignLockedError(
                    f"campaign {self.campaign_id!r} is already being sent by another smsrun process ("
                    f"{describe_holder(*held)}); wait for it to finish, or wait here with --lock-timeout "
                    "SECONDS. A holder that died loses the campaign when its lease expires "
                    f"({self.ttl:g} s after its last heartbeat)")
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            started = time.monotonic()
            try:
                row = self._conn.execute(
                    "UPDATE leases SET expires_at = now() + make_interval(secs => %s) WHERE campaign_id = %s "
                    "AND run_id = %s RETURNING run_id", (self.ttl, self.campaign_id, self.run_id)).fetchone()
            except psycopg.Error as exc:  # a lost connection: nothing more is sent (the next run resumes)
                self.lost = f"lost the connection to the ledger ({clean(exc, None)})"
                return
            if row is None:
                self.lost = "another run took it over"
                return
            self.valid_until = started + self.ttl * (1 - SAFETY)

    def check(self) -> None:
        """Raise unless the lease is provably still ours (on the monotonic clock)."""
        if self.lost is None and time.monotonic() >= self.valid_until:
            self.lost = "its renewal is overdue (frozen process or lost connection)"
        if self.lost is not None:
            raise LedgerError(f"the lease of campaign {self.campaign_id!r} in {self.where} is no longer held: "
                              f"{self.lost}. Nothing more was sent; its claims are reconciled by the next run")

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("DELETE FROM leases WHERE campaign_id = %s AND run_id = %s",
                               (self.campaign_id, self.run_id))
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


def holder_of(db: Any, campaign_id: str) -> dict[str, Any] | None:
    """Who holds the campaign's lease, if a live lease exists (``smsrun status``)."""
    row = db.execute("SELECT holder, ci_url, since, expires_at > now() FROM leases WHERE campaign_id = ?",
                     (campaign_id,)).fetchone()
    if row is None or not row[3]:
        return None
    return {"holder": row[0], "ci_url": row[1], "since": row[2].isoformat(timespec="seconds")}
