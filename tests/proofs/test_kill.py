"""kill -9 at any moment never sends twice and never silently drops anyone.

A ~3,000-recipient campaign is sent by real ``smsrun send --yes`` processes, each killed with SIGKILL
at a chosen moment, then sent again until a run finishes:

* ``start``/``running``: a random delay after the process started / took the campaign lock;
* ``claimed``: as soon as the ledger shows claimed rows (between claim and settle);
* ``hook:after_claim|after_send|after_settle|after_reconcile``: the engine's test-only crash hook kills
  the process exactly after the claim commit (provider not called), after the provider answered
  (nothing settled), after the settle commit, or while reconciling a dead run's batch;
* ``in_call`` (OVH): the fake records the job, then stalls; the process dies waiting for the answer.

The provider's own record is the truth: each recipient is in it exactly once, or is reported in doubt
by ``smsrun status --json`` (never resent blindly); no recipient is left pending or marked sent
without being in the record. After every kill the record is also checked for duplicates.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from runner.send.claims import CLAIM_ROWS
from runner.send.pipeline import PIPELINE_DEPTH
from tests.support.harness import (
    JOB_PATH,
    TimedFakeOvh,
    finish,
    kill_campaign,
    kill_moments,
    ledger_statuses,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
    run_smsrun,
    send,
    start_send,
    status,
    verify,
)

RECIPIENTS = 3000
KILLS = 10
BATCH = 50
RATE = 1000.0  # messages/s: a full run lasts ~3 s, so kills land mid-campaign
HOOKS = {"hook:after_claim", "hook:after_send", "hook:after_settle", "hook:after_reconcile"}


def test_kill_9_outbox_exactly_once(tmp_path: Path, rng: random.Random) -> None:
    campaign = make_campaign(tmp_path / "repo", RECIPIENTS, provider={"name": "outbox", "batch_size": BATCH},
                             rate=RATE)
    moments = kill_moments(KILLS, rng, in_call=False)
    stats = kill_campaign(campaign, moments, provider="outbox", rng=rng,
                          record=lambda: outbox_record(campaign.state_dir, campaign.campaign_id))
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    assert verdict.duplicates == 0 and verdict.missing == 0
    # the outbox can always tell what it accepted: nothing stays in doubt, everyone got it once
    assert verdict.in_doubt == 0 and verdict.received_once == RECIPIENTS, stats.figures()
    assert stats.kills >= KILLS // 2, stats.figures()
    assert set(stats.by_moment) >= HOOKS, stats.figures()


def test_kill_9_ovh_exactly_once(tmp_path: Path, rng: random.Random, fake: TimedFakeOvh) -> None:
    campaign = make_campaign(tmp_path / "repo", RECIPIENTS, provider=ovh_provider(fake, batch_size=BATCH),
                             rate=RATE)
    moments = kill_moments(KILLS + 2, rng, in_call=True)
    stats = kill_campaign(campaign, moments, provider="ovh", rng=rng, fake=fake, env_extra=fake.credentials,
                          record=lambda: ovh_record(fake))
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    assert verdict.in_doubt == 0 and verdict.received_once == RECIPIENTS, stats.figures()
    assert stats.kills >= KILLS // 2, stats.figures()
    assert "in_call" in stats.by_moment, stats.figures()
    # the jobs whose answer never reached smsrun (killed during the call) were found again by tag
    unanswered = [j for j in fake.jobs if j.fault == "slow"]  # recorded, then the fake stalled until the kill
    assert unanswered, "no kill landed during a call"
    statuses = ledger_statuses(campaign.state_dir, campaign.campaign_id)
    assert {statuses[r] for j in unanswered for r in j.response["validReceivers"]} == {"sent"}


@pytest.mark.parametrize("provider", ["outbox", "ovh"])
def test_kill_9_personalised_exactly_once(tmp_path: Path, rng: random.Random, fake: TimedFakeOvh,
                                          provider: str) -> None:
    """One request per recipient: the engine claims up to 64 requests in one transaction before sending
    the first, so a kill leaves claimed requests that were never sent next to ones that were."""
    count = 800
    settings = {"name": "outbox", "batch_size": BATCH} if provider == "outbox" else ovh_provider(fake, batch_size=BATCH)
    campaign = make_campaign(tmp_path / "repo", count, provider=settings, personalised=True)
    record = (lambda: outbox_record(campaign.state_dir, campaign.campaign_id)) if provider == "outbox" else (
        lambda: ovh_record(fake))
    moments = ["claimed", "hook:after_claim", "hook:after_send", "hook:after_reconcile", "hook:after_settle",
               "claimed"]
    stats = kill_campaign(campaign, moments, provider=provider, rng=rng, fake=fake, env_extra=fake.credentials,
                          record=record)
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    assert verdict.in_doubt == 0 and verdict.received_once == count and verdict.wrong_text == 0, stats.figures()
    assert stats.kills >= 4, stats.figures()


def test_kill_9_ovh_cannot_tell_reports_in_doubt_and_never_resends(tmp_path: Path, fake: TimedFakeOvh) -> None:
    """When the provider cannot say what it accepted, the recipients are reported in doubt (not resent,
    not dropped), and settled by a later run once it can."""
    campaign = make_campaign(tmp_path / "repo", 600, provider=ovh_provider(fake, batch_size=BATCH, max_retries=0))
    env = campaign.env(fake.credentials)
    # 1. killed while OVHcloud holds the first batch's answer
    fake.fail_next("slow", where=JOB_PATH, delay=30.0)
    process = start_send(campaign, env)
    started = time.monotonic()
    while process.poll() is None and not fake.jobs:
        time.sleep(0.002)
    process.kill()
    assert finish(process, started, ["send"]).killed
    fake.clear_faults()
    assert len(fake.jobs) == 1 and fake.jobs[0].fault == "slow"
    # 2. the outgoing listing fails: the dead run's batch cannot be reconciled
    fake.set_fault_rates(http_500=1.0, where=r"^GET /sms/[^/]+/outgoing")
    second = send(campaign, env)
    assert second.code == 0, second.describe()
    reported = status(campaign, env)
    # the batch on the wire, and those claimed with it or ahead of it (runner.send.writer: up to
    # CLAIM_ROWS per claim, PIPELINE_DEPTH claims ahead): never sent, but the dead run cannot tell
    doubtful = reported["in_doubt"]
    assert BATCH <= doubtful <= CLAIM_ROWS * (1 + PIPELINE_DEPTH) and doubtful % BATCH == 0, reported
    assert reported["sent"] == 600 - doubtful and reported["pending"] == 0
    assert len(reported["in_doubt_rows"]) == min(doubtful, 50)  # status lists the first 50
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id), reported)
    assert verdict.ok, verdict.problems()
    assert verdict.in_doubt == doubtful and verdict.in_doubt_received == BATCH  # accepted, but nobody could tell
    # 3. once OVHcloud answers again, the next run settles the accepted batch without sending it again,
    # and sends the one that never left
    fake.clear_faults()
    jobs = len(fake.jobs)
    third = send(campaign, env)
    assert third.code == 0, third.describe()
    assert len(fake.jobs) == jobs + (doubtful - BATCH) // BATCH
    reported = status(campaign, env)
    assert reported["in_doubt"] == 0 and reported["sent"] == 600
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id), reported)
    assert verdict.ok and verdict.received_once == 600, verdict.problems()


def test_killed_while_the_outbox_is_created(tmp_path: Path) -> None:
    """A kill right after SQLite created ``outbox.sqlite`` but before its schema (seen by the kill test)
    leaves an empty file: ``smsrun outbox`` lists nothing (no internal error) and the next send sends."""
    campaign = make_campaign(tmp_path / "repo", 100, provider={"name": "outbox", "batch_size": BATCH})
    campaign.state_dir.mkdir()
    sqlite3.connect(campaign.state_dir / "outbox.sqlite").close()  # what the dead run left
    env = campaign.env()
    listed = run_smsrun(campaign, "outbox", "--json", env=env)
    assert listed.code == 0 and listed.json == [], listed.describe()
    result = send(campaign, env)
    assert result.code == 0, result.describe()
    verdict = verify(campaign, outbox_record(campaign.state_dir, campaign.campaign_id),
                     ledger_statuses(campaign.state_dir, campaign.campaign_id), status(campaign, env))
    assert verdict.ok and verdict.received_once == 100, verdict.problems()
    assert len(run_smsrun(campaign, "outbox", "--json", env=env).json) == 100
