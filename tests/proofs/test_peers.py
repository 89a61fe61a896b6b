"""The kill -9 and fault proofs for Twilio and Kannel (issue 12 §2), as test_kill.py and test_faults.py
run them for the outbox and OVHcloud: the real ``smsrun send``, judged by the peer's own record.

* Twilio (loopback fake from the official OpenAPI spec): it can list what it created, so a dead run's
  requests are reconciled: every recipient ends with exactly one message, nothing in doubt.
* Kannel: the kill -9 proof runs against the **real** gateway (bearerbox, smsbox, fakesmsc), whose
  record is what fakesmsc received; the fault proof against the loopback fake (the real one cannot be
  made to fail on cue). Kannel cannot tell after the fact what it accepted, so a request cut by a kill
  or lost on the wire leaves its recipients in doubt — reported, never resent, never dropped — and
  the engine claims one request at a time for it, so a kill leaves at most one request in doubt.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_kannel import FakeKannel
from tests.support.fake_twilio import FakeTwilio
from tests.support.harness import (
    kill_campaign,
    kill_moments,
    ledger_statuses,
    make_campaign,
    send,
    status,
    verify,
)
from tests.support.kannel import (
    KannelGateway,
    kannel_fixture,  # noqa: F401 (the session's Kannel gateway)
    kannel_listener_fixture,  # noqa: F401
)
from tests.support.peers import (
    KannelStaller,
    TwilioStaller,
    drained,
    gateway_credentials,
    gateway_record,
    kannel_env,
    kannel_provider,
    twilio_env,
    twilio_provider,
)

KILLS = 10
PER_REQUEST = 20  # Kannel recipients per request: what one kill may leave in doubt


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fake_kannel() -> Iterator[FakeKannel]:
    with FakeKannel() as fake:
        yield fake


# -- Twilio ---------------------------------------------------------------------------------------------


def test_kill_9_twilio_exactly_once(tmp_path: Path, rng: random.Random, twilio: FakeTwilio) -> None:
    count = 600
    campaign = make_campaign(tmp_path / "repo", count, provider=twilio_provider(twilio), rate=250.0)
    moments = kill_moments(KILLS + 2, rng, in_call=True)
    stats = kill_campaign(campaign, moments, provider="twilio", rng=rng, stall=TwilioStaller(twilio),
                          env_extra=twilio_env(twilio), record=twilio.record)
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    # Twilio tells what it created: the requests cut by a kill were found again, nobody is in doubt
    assert verdict.in_doubt == 0 and verdict.received_once == count, stats.figures()
    assert stats.kills >= KILLS // 2 and "in_call" in stats.by_moment, stats.figures()
    assert twilio.violations == [], twilio.violations[:5]


def test_twilio_fault_mix_every_recipient_once(tmp_path: Path, twilio: FakeTwilio) -> None:
    """10% 5xx, 5% 429 with Retry-After, 2% answers lost after the message was created, 2% answers
    later than the client's timeout: one run sends everyone exactly once, nothing left in doubt."""
    count = 400
    campaign = make_campaign(tmp_path / "repo", count, provider=twilio_provider(twilio, timeout=0.5))
    twilio.set_fault_rates(seed=5, fail=0.10, throttle=0.05, drop=0.02, hang=0.02, retry_after=0.2,
                           hang_seconds=1.5)
    env = campaign.env(twilio_env(twilio))
    result = send(campaign, env)
    twilio.clear_faults()
    assert result.code == 0, result.describe()
    report = result.json
    reported = status(campaign, env)
    verdict = verify(campaign, twilio.record(), ledger_statuses(campaign.state_dir, campaign.campaign_id), reported)
    print({"faults": len(twilio.faults), **report, **verdict.figures()})
    assert verdict.ok, verdict.problems()
    assert verdict.received_once == count and verdict.in_doubt == 0 and report["in_doubt"] == 0
    # the faults happened: every 5xx and 429 was sent again, and only those; every lost answer was
    # reconciled (found created), never sent again
    retried = sum(1 for kind in twilio.faults if kind in ("fail", "throttle"))
    lost = sum(1 for kind in twilio.faults if kind in ("drop", "hang"))
    assert retried and lost, twilio.faults
    assert len(twilio.create_requests()) == report["requests"] == count + retried, (report, twilio.faults)
    assert report["reconciled"] >= lost, (report, twilio.faults)
    assert twilio.violations == [], twilio.violations[:5]


# -- Kannel ---------------------------------------------------------------------------------------------

KANNEL_MOMENTS = ["start", "running", "claimed", "hook:after_claim", "hook:after_send", "hook:after_settle",
                  "running", "claimed", "hook:after_send", "running"]


def test_kill_9_real_kannel_never_twice_never_lost(tmp_path: Path, rng: random.Random,
                                                    kannel: KannelGateway) -> None:
    count = 1000
    since = kannel.mark()
    campaign = make_campaign(tmp_path / "repo", count, rate=300.0,
                             provider=kannel_provider(kannel.sendsms_url, max_recipients_per_request=PER_REQUEST))
    stats = kill_campaign(campaign, KANNEL_MOMENTS, provider="kannel", rng=rng,
                          env_extra=gateway_credentials(kannel), record=lambda: gateway_record(kannel, since),
                          settle=drained(kannel, since))
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    assert stats.kills >= KILLS // 2, stats.figures()
    # in doubt: only what kills cut between claim and settle, at most one request each
    cut = sum(n for moment, n in stats.by_moment.items() if moment in ("claimed", "hook:after_claim",
                                                                         "hook:after_send", "running", "start"))
    assert verdict.in_doubt <= cut * PER_REQUEST, stats.figures()
    assert verdict.received_once + verdict.in_doubt - verdict.in_doubt_received == count, stats.figures()


def test_kannel_fault_mix_every_recipient_once_or_in_doubt(tmp_path: Path, fake_kannel: FakeKannel) -> None:
    """10% 503, 3% answers lost after Kannel recorded the request, 3% answers later than the client's
    timeout: nobody twice, nobody lost; exactly the recipients of the requests whose answer was lost
    are in doubt (Kannel cannot be asked), and all of them did reach Kannel."""
    count = 1000
    campaign = make_campaign(tmp_path / "repo", count, provider=kannel_provider(
        fake_kannel.url, max_recipients_per_request=PER_REQUEST, timeout=0.5))
    fake_kannel.set_fault_rates(seed=9, retryable=0.10, in_doubt=0.03, hang=0.03)
    env = campaign.env(kannel_env(fake_kannel.username, fake_kannel.password))
    result = send(campaign, env)
    fake_kannel.clear_faults()
    assert result.code == 0, result.describe()
    report = result.json
    reported = status(campaign, env)
    verdict = verify(campaign, fake_kannel.record(), ledger_statuses(campaign.state_dir, campaign.campaign_id),
                     reported)
    print({"faults": fake_kannel.faults, **report, **verdict.figures()})
    assert verdict.ok, verdict.problems()
    lost = sum(1 for kind in fake_kannel.faults if kind in ("in_doubt", "hang"))
    retried = sum(1 for kind in fake_kannel.faults if kind == "retryable")
    assert lost and retried, fake_kannel.faults
    assert verdict.in_doubt == verdict.in_doubt_received == lost * PER_REQUEST, verdict.figures()
    assert verdict.received_once == count
    assert report["retries"] >= retried


def test_kill_9_kannel_during_the_call(tmp_path: Path, rng: random.Random, fake_kannel: FakeKannel) -> None:
    """The same kills against the loopback Kannel, plus ``in_call``: Kannel recorded the request and
    the process dies waiting for its answer; those recipients are in doubt, never sent twice."""
    count = 600
    campaign = make_campaign(tmp_path / "repo", count, rate=300.0, provider=kannel_provider(
        fake_kannel.url, max_recipients_per_request=PER_REQUEST))
    # a dead run's requests cannot be reconciled with Kannel, so there is no crash while reconciling
    moments = [m for m in kill_moments(KILLS + 2, rng, in_call=True) if m != "hook:after_reconcile"]
    stats = kill_campaign(campaign, moments, provider="kannel", rng=rng, stall=KannelStaller(fake_kannel),
                          env_extra=kannel_env(fake_kannel.username, fake_kannel.password),
                          record=fake_kannel.record)
    verdict = stats.verdict
    assert verdict is not None
    print(stats.figures())
    assert verdict.ok, verdict.problems()
    assert "in_call" in stats.by_moment and stats.kills >= KILLS // 2, stats.figures()
    cut = stats.kills - stats.by_moment["hook:after_settle"]
    assert 0 < verdict.in_doubt <= cut * PER_REQUEST, stats.figures()
    assert verdict.received_once + verdict.in_doubt - verdict.in_doubt_received == count, stats.figures()
