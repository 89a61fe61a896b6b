"""Every test here runs on both ledger backends (tests/conftest.py: ledger_backend)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _both_backends(ledger_backend: str) -> str:
    return ledger_backend
