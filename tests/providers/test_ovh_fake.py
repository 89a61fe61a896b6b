"""The fake itself: seeded random faults, the standalone process and its state file, and a small
engine-like loop proving that retry + reconcile under random faults sends every message exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from runner.campaign.model import Sender
from runner.errors import InDoubtError, RetryableError
from runner.providers.base import Batch, Outcome, OutgoingMessage
from runner.providers.ovh import OvhClient, OvhProvider, api
from tests.support.fake_ovh import FakeOvh

ROOT = Path(__file__).resolve().parents[2]


def client_for(fake: FakeOvh, **options: object) -> OvhClient:
    return OvhClient(
        fake.base_url,
        fake.application_key,
        fake.application_secret,
        fake.consumer_key,
        requests_per_minute=None,
        sleep=lambda _: None,
        **options,  # type: ignore[arg-type]
    )


def fault_sequence(seed: int) -> list[str | None]:
    with FakeOvh() as fake, client_for(fake, max_retries=50) as client:
        fake.set_fault_rates(http_500=0.3, http_429=0.1, seed=seed)
        for _ in range(20):
            assert api.list_services(client) == [fake.service_name]
        return [r.fault for r in fake.requests if r.path == "/sms"]


def test_seeded_fault_rates_are_reproducible_and_reads_survive_them() -> None:
    first = fault_sequence(1)
    assert first == fault_sequence(1)
    assert first != fault_sequence(2)
    assert {"http_500", "http_429", None} <= set(first)


def test_fault_rate_validation() -> None:
    fake = FakeOvh()
    with pytest.raises(ValueError, match="unknown fault"):
        fake.set_fault_rates(http_418=0.1)
    with pytest.raises(ValueError, match="more than 1"):
        fake.set_fault_rates(http_500=0.7, slow=0.6)
    with pytest.raises(ValueError, match="unknown fault"):
        fake.fail_next("explode")


def test_engine_like_loop_under_random_faults_sends_each_message_once() -> None:
    recipients = [f"+336{i:08d}" for i in range(600)]
    with FakeOvh() as fake:
        fake.set_fault_rates(
            http_500=0.15,
            http_429=0.1,
            drop_after_accept=0.1,
            drop_before_accept=0.05,
            slow=0.05,
            delay=0.6,
            seed=7,
            where="POST",
        )
        provider = OvhProvider({"reconcile_delay": 0}, env=fake.credentials, client=client_for(fake, timeout=0.3))
        outcomes: dict[str, Outcome] = {}
        for start in range(0, len(recipients), 50):
            messages = [OutgoingMessage(r, f"Hello {int(r) % 2}", f"m{r}") for r in recipients[start : start + 50]]
            batch = Batch("camp", f"b{start}", Sender("alphanumeric", "ACME"), False, "GSM-7", messages)
            since = datetime.now(UTC)
            todo = batch
            for _attempt in range(30):
                try:
                    results = provider.send(todo)
                except RetryableError:
                    continue
                except InDoubtError:
                    found = provider.reconcile(batch, since)
                    assert found is not None
                    outcomes.update({k: v.outcome for k, v in found.items()})
                    rest = [m for m in batch.messages if m.recipient not in found]
                    if not rest:
                        break
                    todo = Batch(batch.campaign_id, batch.batch_id, batch.sender, False, "GSM-7", rest)
                    continue
                outcomes.update({r.recipient: r.outcome for r in results})
                redo = [r.recipient for r in results if r.outcome in (Outcome.RETRY, Outcome.IN_DOUBT)]
                if not redo:
                    break
                found = provider.reconcile(batch, since) or {}
                outcomes.update({k: v.outcome for k, v in found.items()})
                rest = [m for m in batch.messages if m.recipient in redo and m.recipient not in found]
                if not rest:
                    break
                todo = Batch(batch.campaign_id, batch.batch_id, batch.sender, False, "GSM-7", rest)
            else:
                pytest.fail("a batch never went through")
        assert {fault for fault in (r.fault for r in fake.requests) if fault} >= {
            "http_500",
            "http_429",
            "drop_after_accept",
        }
        assert Counter(fake.sent_receivers()) == Counter(recipients)
        assert set(outcomes.values()) == {Outcome.SENT}


def test_standalone_process_with_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    def start() -> tuple[subprocess.Popen[str], dict[str, str]]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.fake_ovh",
                "--port",
                "0",
                "--state",
                str(state),
                "--application-key",
                "ak-standalone-1234",
                "--application-secret",
                "as-standalone-1234",
                "--consumer-key",
                "ck-standalone-1234",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        env = dict(process.stdout.readline().strip().split("=", 1) for _ in range(5))
        assert env["OVH_ENDPOINT"] == base_url and base_url.startswith("http://127.0.0.1:")
        return process, env

    def stop(process: subprocess.Popen[str]) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    process, env = start()
    try:
        with OvhClient(
            env["OVH_ENDPOINT"],
            env["OVH_APPLICATION_KEY"],
            env["OVH_APPLICATION_SECRET"],
            env["OVH_CONSUMER_KEY"],
            requests_per_minute=None,
        ) as client:
            sn = env["OVH_SERVICE_NAME"]
            report = api.post_job(client, sn, {"message": "Hi", "receivers": ["+33612345678"], "sender": "ACME"})
            control = env["OVH_ENDPOINT"].removesuffix("/1.0") + "/_fake"
            httpx.post(f"{control}/fail_next", json={"kind": "http_503", "where": "POST"}).raise_for_status()
            with pytest.raises(RetryableError):
                api.post_job(client, sn, {"message": "Hi", "receivers": ["+33612345679"], "sender": "ACME"})
            snapshot = httpx.get(f"{control}/state").json()
        saved = json.loads(state.read_text())
        assert [o["receiver"] for o in saved["outgoing"]] == ["+33612345678"]
        assert snapshot["outgoing"] == saved["outgoing"]
    finally:
        stop(process)

    process, env = start()  # the state survives a restart
    try:
        with OvhClient(
            env["OVH_ENDPOINT"],
            env["OVH_APPLICATION_KEY"],
            env["OVH_APPLICATION_SECRET"],
            env["OVH_CONSUMER_KEY"],
            requests_per_minute=None,
        ) as client:
            sn = env["OVH_SERVICE_NAME"]
            assert api.list_outgoing(client, sn) == report.ids
            again = api.post_job(client, sn, {"message": "Hi", "receivers": ["+33612345679"], "sender": "ACME"})
            assert again.ids[0] > report.ids[0]
    finally:
        stop(process)
