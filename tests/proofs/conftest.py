"""Fixtures of the exactly-once proofs: a timed loopback OVHcloud fake and a reproducible random source.

The proofs run the real ``smsrun`` command as subprocesses (see ``tests/support/harness.py``). Their
random choices (kill moments, hook occurrences) come from ``rng``: seeded from the test's name, or
from ``PROOF_SEED`` to explore other schedules, e.g. ``PROOF_SEED=123 pytest tests/proofs``.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator

import pytest

from tests.support.harness import TimedFakeOvh


@pytest.fixture
def fake() -> Iterator[TimedFakeOvh]:
    with TimedFakeOvh() as server:
        yield server


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("PROOF_SEED") or zlib.crc32(request.node.name.encode()))
    print(f"proof seed: {seed} (set PROOF_SEED to change it)")
    return random.Random(seed)


@pytest.fixture(autouse=True)
def _both_backends(ledger_backend: str) -> str:
    return ledger_backend
