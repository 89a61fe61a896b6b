"""The crash-test seam: named points of the send where a test can make the process die, ``kill -9`` style.

TEST-ONLY. The kill -9 proofs (``tests/proofs``: ``test_kill.py``, ``test_state_dir.py``,
``test_lost_ledger.py``, driven by ``tests/support/harness.py``) and ``bench/kill_test.py`` run
``smsrun send`` with ``SMSRUN_TEST_CRASH_AT=<point>:<n>`` in its environment: the process SIGKILLs itself
the n-th time it reaches ``point`` (``<point>`` alone: the first time), then the proof checks that the
next run loses nothing and sends nothing twice. The points:

* ``after_claim``: a claim group is committed, the provider not called;
* ``after_send``: the provider answered a request, nothing of it settled;
* ``after_settle``: a settle is committed;
* ``after_reconcile``: a dead run's batch is reconciled with the provider, not yet settled.

Unset (every real run), :func:`crash_point` is a no-op: one environment lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "SMSRUN_TEST_CRASH_AT"
_crash_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
    """SIGKILL this process here if ``SMSRUN_TEST_CRASH_AT`` names ``point`` and this is its n-th visit."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or not wanted.startswith(point):
        return
    name, _, nth = wanted.partition(":")
    if name == point:
        _crash_counts[point] = _crash_counts.get(point, 0) + 1
        if _crash_counts[point] >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


def after_settle() -> None:
    """The ``after_settle`` point, as the callback the ledger writer runs once a settle is committed."""
    crash_point("after_settle")
