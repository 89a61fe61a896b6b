"""The embedded outbox provider against the conformance suite (tests/providers/conformance.py): its peer is
its own SQLite outbox; faults come from ``SMSRUN_OUTBOX_FAULTS``, as in the proofs and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.providers.base import Provider
from runner.providers.outbox import OutboxProvider, list_outbox
from tests.providers.conformance import Peer, ProviderConformance


class OutboxPeer(Peer):
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.state_dir: Path | None = None
        self.made: list[OutboxProvider] = []

    def provider(self, state_dir: Path, **settings: Any) -> Provider:
        self.state_dir = state_dir
        provider = OutboxProvider(settings, state_dir=state_dir)
        self.made.append(provider)
        return provider

    def received(self) -> list[tuple[str, str]]:
        assert self.state_dir is not None
        return [(row["recipient"], row["text"]) for row in list_outbox(self.state_dir)]

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        if after:
            raise NotImplementedError  # one transaction per batch: no later request
        fault = {"retryable": "retry=1", "in_doubt": "in_doubt_after_accept=1"}[kind]
        self.monkeypatch.setenv("SMSRUN_OUTBOX_FAULTS", fault)
        for provider in self.made:  # the fault variable is read when a provider is made
            made = OutboxProvider(provider.settings, state_dir=provider.state_dir)
            provider._faults, provider._random = made._faults, made._random
            made.close()


class TestOutboxConformance(ProviderConformance):
    several_requests = False
    pulls_delivery_reports = False

    @pytest.fixture
    def peer(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peer]:
        monkeypatch.delenv("SMSRUN_OUTBOX_FAULTS", raising=False)
        yield OutboxPeer(monkeypatch)


def test_batch_size_is_typed(tmp_path: Path) -> None:
    assert OutboxProvider({"batch_size": 7}, state_dir=tmp_path).capabilities.max_recipients_per_request == 7
