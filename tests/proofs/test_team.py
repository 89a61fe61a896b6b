"""Runners on different machines share one PostgreSQL ledger: proofs over the real ``smsrun send``.

* a runner frozen (SIGSTOP) while another takes its campaign over, then resumed (SIGCONT), sends nothing
  more: its lease expired, it cannot prove it holds the campaign, and its writes are fenced out;
* two runners with different state folders racing on one campaign send each recipient once;
* a runner whose connections to the ledger are cut mid-send stops with a clear error (exit 1) and
  sends nothing more; the next run resumes, with no duplicate and no silent miss.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from runner.ledger.url import split_schema
from tests.support.harness import (
    TimedFakeOvh,
    duplicates_in,
    finish,
    holds_lock,
    ledger_statuses,
    make_campaign,
    ovh_provider,
    ovh_record,
    send,
    start_send,
    status,
    verify,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only("runners on several machines share a server")]


def _check(campaign, fake: TimedFakeOvh) -> None:  # type: ignore[no-untyped-def]
    verdict = verify(campaign, ovh_record(fake, campaign.campaign_id),
                     ledger_statuses(campaign.state_dir, campaign.campaign_id), status(campaign, campaign.env(
                         fake.credentials)))
    assert verdict.ok, verdict.problems()
    assert verdict.received_once == len(campaign.recipients) and verdict.duplicates == 0


def _wait(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_frozen_runner_sends_nothing_once_another_took_over(tmp_path: Path, fake: TimedFakeOvh) -> None:
    campaign = make_campaign(tmp_path / "repo", 3000, provider=ovh_provider(fake, batch_size=50), rate=600)
    env = campaign.env(fake.credentials)
    # short enough for the takeover to come soon, long enough that the taking run's own heartbeat (a thread
    # beside a busy send loop) renews it in time on a loaded machine: at 2 s it expired once in a CI run
    env["SMSRUN_LEASE_SECONDS"] = "5"
    first = start_send(campaign, env)
    assert _wait(lambda: len(ovh_record(fake, campaign.campaign_id)) >= 300), "the first run never sent"
    os.kill(first.pid, signal.SIGSTOP)  # a frozen VM: its connections stay open, its heartbeat stops
    try:
        frozen_at = len(ovh_record(fake, campaign.campaign_id))
        started = time.monotonic()
        second = finish(start_send(campaign, env), started, ["send", "(takeover)"], timeout=240)
        assert second.code == 0, second.describe()
        after_takeover = len(ovh_record(fake, campaign.campaign_id))
        assert after_takeover > frozen_at
    finally:
        os.kill(first.pid, signal.SIGCONT)
    resumed = finish(first, started, ["send", "(resumed)"], timeout=120)
    assert resumed.code == 1, resumed.describe()
    # it stops on its own check (the lease is no longer its own) or, when it was frozen inside a transaction,
    # because the server ended that session (idle in a transaction past the lease): either way, nothing sent
    assert ("no longer held" in resumed.err or "lost or refused connection" in resumed.err), resumed.err
    assert "Traceback" not in resumed.err, resumed.err
    assert len(ovh_record(fake, campaign.campaign_id)) == after_takeover  # nothing more after SIGCONT
    assert duplicates_in(ovh_record(fake, campaign.campaign_id)) == 0
    _check(campaign, fake)


def test_two_runners_with_different_state_folders_race_on_one_campaign(tmp_path: Path, fake: TimedFakeOvh) -> None:
    root = tmp_path / "repo"
    one = make_campaign(root, 3000, provider=ovh_provider(fake, batch_size=50), state_dir=tmp_path / "a")
    two = make_campaign(root, 3000, provider=ovh_provider(fake, batch_size=50), state_dir=tmp_path / "b")
    started = time.monotonic()
    processes = [start_send(one, one.env(fake.credentials)), start_send(two, two.env(fake.credentials))]
    results = [finish(p, started, ["send", f"({i})"], timeout=240) for i, p in enumerate(processes)]
    assert [r.code for r in results] == [0, 0], [r.describe() for r in results]  # the later one waited
    assert sum(int(r.json["sent"]) for r in results) == 3000, [r.json for r in results]
    assert duplicates_in(ovh_record(fake, one.campaign_id)) == 0
    _check(one, fake)


def test_a_runner_cut_off_from_the_ledger_stops_and_the_next_run_resumes(tmp_path: Path,
                                                                         fake: TimedFakeOvh) -> None:
    campaign = make_campaign(tmp_path / "repo", 3000, provider=ovh_provider(fake, batch_size=50), rate=1500)
    env = campaign.env(fake.credentials)
    first = start_send(campaign, env)
    started = time.monotonic()
    assert _wait(lambda: holds_lock(campaign, first.pid) and len(ovh_record(fake, campaign.campaign_id)) >= 200)
    conninfo, _ = split_schema(os.environ["SMSRUN_LEDGER"])
    with psycopg.connect(conninfo, autocommit=True) as admin:  # the server drops every smsrun connection
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'smsrun' "
                      "AND pid <> pg_backend_pid()")
    cut_at = len(ovh_record(fake, campaign.campaign_id))
    result = finish(first, started, ["send", "(cut off)"], timeout=120)
    assert result.code == 1, result.describe()
    assert "connection" in result.err and "Traceback" not in result.err, result.err
    assert len(ovh_record(fake, campaign.campaign_id)) <= cut_at + 50  # at most the request on the wire
    again = send(campaign, env, timeout=240)
    assert again.code == 0, again.describe()
    _check(campaign, fake)
