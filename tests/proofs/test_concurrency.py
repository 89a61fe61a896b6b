"""Two ``smsrun send`` at once: the same campaign is sent by one of them only; different campaigns
sharing one state folder (one ledger, one outbox) both complete, nothing twice, no lock-up."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.harness import (
    Campaign,
    TimedFakeOvh,
    finish,
    holds_lock,
    ledger_statuses,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
    start_send,
    status,
    verify,
)

LOCKED = "is already being sent by another smsrun process"


def _lock_holder(campaign: Campaign, pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holds_lock(campaign, pid):
            return True
        time.sleep(0.005)
    return False


def _check(campaign: Campaign, record: list[tuple[str, str]]) -> None:
    env = campaign.env()
    verdict = verify(campaign, record, ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     status(campaign, env))
    assert verdict.ok, verdict.problems()
    assert verdict.received_once == len(campaign.recipients) and verdict.in_doubt == 0


def test_same_campaign_while_it_is_being_sent_stops_at_once(tmp_path: Path) -> None:
    campaign = make_campaign(tmp_path / "repo", 3000, provider={"name": "outbox", "batch_size": 50}, rate=1000)
    env = campaign.env()
    env.pop("SMSRUN_LOCK_TIMEOUT", None)  # stop at once, naming the holder
    first_started = time.monotonic()
    first = start_send(campaign, env)
    assert _lock_holder(campaign, first.pid), "the first run never took the campaign lock"
    second_started = time.monotonic()
    second = finish(start_send(campaign, env), second_started, ["send", "(second)"], timeout=60)
    assert second.code == 1, second.describe()
    assert LOCKED in second.err and f"(pid {first.pid} since" in second.err, second.err
    assert "Traceback" not in second.err
    assert first.poll() is None, "the first run should still be sending while the second is refused"
    done = finish(first, first_started, ["send", "(first)"])
    assert done.code == 0, done.describe()
    assert done.json["sent"] == 3000
    _check(campaign, outbox_record(campaign.state_dir, campaign.campaign_id))


def test_same_campaign_started_twice_together_sends_once(tmp_path: Path) -> None:
    campaign = make_campaign(tmp_path / "repo", 3000, provider={"name": "outbox", "batch_size": 50}, rate=1500)
    env = campaign.env()
    env.pop("SMSRUN_LOCK_TIMEOUT", None)  # stop at once, naming the holder
    started = time.monotonic()
    processes = [start_send(campaign, env), start_send(campaign, env)]
    results = [finish(p, started, ["send", f"({i})"]) for i, p in enumerate(processes)]
    assert sorted(r.code for r in results) == [0, 1], [r.describe() for r in results]
    refused = next(r for r in results if r.code == 1)
    assert LOCKED in refused.err, refused.err
    _check(campaign, outbox_record(campaign.state_dir, campaign.campaign_id))


def test_different_campaigns_share_one_state_dir(tmp_path: Path, fake: TimedFakeOvh) -> None:
    """Three campaigns at once in one state folder: two through the (shared) outbox, with the very same
    recipients, and one through OVHcloud. All complete; each recipient gets each campaign once."""
    root = tmp_path / "repo"
    state = tmp_path / "state"
    campaigns = [
        make_campaign(root, 3000, campaign_id="alpha", provider={"name": "outbox", "batch_size": 50}, state_dir=state),
        make_campaign(root, 3000, campaign_id="bravo", provider={"name": "outbox", "batch_size": 20}, state_dir=state),
        make_campaign(root, 2000, campaign_id="charlie", seed=5, provider=ovh_provider(fake, batch_size=50),
                      state_dir=state),
    ]
    assert campaigns[0].recipients == campaigns[1].recipients
    env = campaigns[0].env(fake.credentials)
    started = time.monotonic()
    processes = [start_send(c, env) for c in campaigns]
    results = [finish(p, started, ["send", c.campaign_id], timeout=120) for p, c in zip(processes, campaigns,
                                                                                        strict=True)]
    for result in results:
        assert result.code == 0, result.describe()
    assert [r.json["sent"] for r in results] == [3000, 3000, 2000]
    for campaign in campaigns[:2]:
        _check(campaign, outbox_record(state, campaign.campaign_id))
    _check(campaigns[2], ovh_record(fake, "charlie"))
    assert ovh_record(fake) == ovh_record(fake, "charlie")  # nothing of the outbox campaigns leaked there
