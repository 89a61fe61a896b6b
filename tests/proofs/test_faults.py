"""Provider faults never send twice, never lose anyone, and never make smsrun spin.

The real ``smsrun send`` talks to the loopback OVHcloud fake, which injects faults on **every** API call
(the job POSTs and the reads of reconciliation alike): 10% 5xx (500/502/503), 5% 429, 2% connection
dropped after the job was recorded, 2% answers slower than the client's timeout. Every recipient must
end sent (or rejected, or reconciled) exactly once in the fake's record; retries are bounded, spaced by
a jittered backoff and honour Retry-After; a server that fails everything stops the run with a clear
message (exit 1) after ``limits.max_consecutive_failures``, losing nothing and resending nothing.
The embedded outbox's own fault injection (``SMSRUN_OUTBOX_FAULTS``) is checked the same way.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.harness import (
    JOB_PATH,
    RETRYABLE_FAULTS,
    TimedFakeOvh,
    inject_fault_mix,
    job_attempts,
    ledger_statuses,
    longest_failure_streak,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
    retry_gaps,
    send,
    status,
    verify,
)

RETRYABLE = RETRYABLE_FAULTS
ENGINE_MAX_RETRIES = 8  # SendOptions.max_retries
ENGINE_BACKOFF_CAP = 60.0  # SendOptions.backoff_cap
OUTGOING = r"^GET /sms/[^/]+/outgoing$"


def test_ovh_fault_mix_every_recipient_once(tmp_path: Path, fake: TimedFakeOvh) -> None:
    recipients = 3000
    campaign = make_campaign(tmp_path / "repo", recipients, provider=ovh_provider(fake, batch_size=50, timeout=0.5))
    inject_fault_mix(fake, seed=3, delay=0.75)
    # reconciliation reads one listing per batch (issue 11), too few for the random mix to be sure to hit
    # one: the first after the lost-ledger guard's two listings fails for sure
    fake.fail_next("http_500", where=OUTGOING, after=2)
    result = send(campaign, campaign.env(fake.credentials))
    fake.clear_faults()
    assert result.code == 0, result.describe()
    report = result.json
    reported = status(campaign, campaign.env(fake.credentials))
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     reported)
    faults = [fault for _, _, _, fault in fake.timeline if fault]
    print({"elapsed_s": round(result.elapsed, 1), "faults": len(faults), **report, **verdict.figures()})
    assert verdict.ok, verdict.problems()
    assert verdict.received_once == recipients and verdict.in_doubt == 0 and verdict.rejected == 0
    assert report["sent"] == recipients and report["in_doubt"] == 0
    # the faults really happened, on the jobs and on the reads of reconciliation
    posts = job_attempts(fake)
    assert sum(1 for _, f in posts if f in RETRYABLE) == report["retries"] > 0
    assert any(f in ("drop_after_accept", "slow") for _, f in posts) and report["reconciled"] > 0
    assert any(f for t, m, p, f in fake.timeline if m == "GET" and "outgoing" in p)
    # retries are bounded and spaced by a capped, jittered backoff
    assert longest_failure_streak(fake, RETRYABLE) <= ENGINE_MAX_RETRIES
    gaps = retry_gaps(fake, RETRYABLE)
    assert gaps and max(gaps) <= ENGINE_BACKOFF_CAP + 5
    assert len({round(g, 2) for g in gaps}) >= len(gaps) // 2, gaps  # jitter: not one fixed delay


def test_retry_after_is_honoured(tmp_path: Path, fake: TimedFakeOvh) -> None:
    campaign = make_campaign(tmp_path / "repo", 200, provider=ovh_provider(fake, batch_size=100))
    fake.fail_next("http_503", where=JOB_PATH)
    fake.fail_next("http_429", count=2, where=JOB_PATH, retry_after=0.6)
    result = send(campaign, campaign.env(fake.credentials))
    assert result.code == 0, result.describe()
    assert result.json["retries"] == 3
    posts = job_attempts(fake)
    assert [f for _, f in posts] == ["http_503", "http_429", "http_429", None, None]
    after_429 = [posts[i + 1][0] - posts[i][0] for i in (1, 2)]
    assert all(0.6 <= gap < 2.0 for gap in after_429), after_429
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id), None)
    assert verdict.ok and verdict.received_once == 200, verdict.problems()


def test_server_failing_everything_stops_after_max_consecutive_failures(tmp_path: Path,
                                                                        fake: TimedFakeOvh) -> None:
    campaign = make_campaign(tmp_path / "repo", 500, provider=ovh_provider(fake, batch_size=50),
                             max_consecutive_failures=4)
    env = campaign.env(fake.credentials)
    fake.set_fault_rates(http_500=1.0, where=JOB_PATH)
    result = send(campaign, env, timeout=60)
    assert result.code == 1, result.describe()
    assert "stopped after 4 failed request(s) in a row" in result.err and "Traceback" not in result.err
    assert "HTTP 500" in result.err
    assert len(job_attempts(fake)) == 4  # stopped, not spinning
    assert ovh_record(fake) == []
    reported = status(campaign, env)
    assert reported["pending"] == 500 and reported["in_doubt"] == 0 and reported["sent"] == 0  # nothing lost
    verdict = verify(campaign, [], ledger_statuses(campaign.state_dir, campaign.campaign_id), reported, interim=True)
    assert verdict.ok, verdict.problems()
    # the server recovers: the same command resumes and sends everyone exactly once
    fake.clear_faults()
    again = send(campaign, env)
    assert again.code == 0, again.describe()
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     status(campaign, env))
    assert verdict.ok and verdict.received_once == 500, verdict.problems()


def test_server_accepting_then_failing_everything_stops_and_reports_in_doubt(tmp_path: Path,
                                                                             fake: TimedFakeOvh) -> None:
    """Every job is accepted but its answer lost, and the listing that would tell fails too: the run
    stops after max_consecutive_failures, the batches are reported in doubt, never resent."""
    campaign = make_campaign(tmp_path / "repo", 500, provider=ovh_provider(fake, batch_size=50, max_retries=0),
                             max_consecutive_failures=2)
    env = campaign.env(fake.credentials)
    fake.fail_next("drop_after_accept", count=1000, where=JOB_PATH)
    fake.fail_next("http_500", count=1000, where=OUTGOING)
    # (the lost-ledger guard would refuse first, the listing failing: this is about the send loop)
    result = send(campaign, env, "--ignore-provider-history", timeout=120)
    assert result.code == 1, result.describe()
    assert "stopped after 2 failed request(s) in a row" in result.err and "Traceback" not in result.err
    assert len(job_attempts(fake)) == 2
    reported = status(campaign, env)
    assert reported["in_doubt"] == 100 and reported["pending"] == 400 and reported["sent"] == 0
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id), reported,
                     interim=True)
    assert verdict.ok and verdict.in_doubt_received == 100, verdict.problems()
    # recovered: the dead batches are reconciled (not resent), the rest is sent, everyone once
    fake.clear_faults()
    again = send(campaign, env)
    assert again.code == 0, again.describe()
    assert again.json["reconciled"] == 100 and again.json["sent"] == 400
    verdict = verify(campaign, ovh_record(fake), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     status(campaign, env))
    assert verdict.ok and verdict.received_once == 500 and verdict.in_doubt == 0, verdict.problems()


def test_outbox_fault_env_every_recipient_once(tmp_path: Path) -> None:
    recipients = 3000
    campaign = make_campaign(tmp_path / "repo", recipients, provider={"name": "outbox", "batch_size": 50})
    for faults in ("retry=0.1,in_doubt_after_accept=0.02,seed=7", "retry=0.2,in_doubt_after_accept=0.1,seed=11"):
        # a fresh campaign id per fault setting, same recipients, same state folder
        campaign_id = "proof-" + faults.rsplit("=", 1)[1]
        current = make_campaign(campaign.root, recipients, campaign_id=campaign_id,
                                provider={"name": "outbox", "batch_size": 50}, state_dir=campaign.state_dir)
        env = current.env({"SMSRUN_OUTBOX_FAULTS": faults})
        result = send(current, env)
        assert result.code == 0, result.describe()
        report = result.json
        verdict = verify(current, outbox_record(current.state_dir, current.campaign_id),
                         ledger_statuses(current.state_dir, current.campaign_id), status(current, env))
        print(faults, report, verdict.figures())
        assert verdict.ok and verdict.received_once == recipients and verdict.in_doubt == 0, verdict.problems()
        assert report["retries"] > 0 and report["reconciled"] > 0, report
