"""Issue 11, §2: an empty ledger is not proof that nothing was sent. With each provider's fake, through the
real ``smsrun`` command: a partial send, the ledger lost, then ``send`` refuses (exit 1, nothing sent),
``plan`` shows the finding as a problem, and ``send --adopt`` sends only to the recipients the provider
had not received: no duplicate anywhere."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_ovh import FakeOvh
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.harness import (
    Campaign,
    ledger_statuses,
    make_campaign,
    outbox_record,
    ovh_provider,
    ovh_record,
    run_smsrun,
    send,
    status,
    verify,
)

RECIPIENTS = 120
BATCH = 20
SENT_BEFORE_THE_KILL = 3  # the first run dies once the provider has answered this many batches


def lose_the_ledger(campaign: Campaign) -> None:
    """The SQLite file is deleted; a PostgreSQL ledger's schema is dropped (a new database, a wiped server)."""
    from tests.support import ledgerdb

    if ledgerdb.is_postgres():
        ledgerdb.drop()
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{campaign.state_dir / 'ledger.sqlite'}{suffix}").unlink(missing_ok=True)


@contextmanager
def provider_setup(kind: str, root: Path) -> Iterator[tuple[Campaign, dict[str, str], Callable[[], list[Any]]]]:
    """(campaign, environment, the provider's record) for ``kind``."""
    if kind == "outbox":
        campaign = make_campaign(root, RECIPIENTS, provider={"name": "outbox", "batch_size": BATCH})
        yield campaign, campaign.env(), lambda: outbox_record(campaign.state_dir, campaign.campaign_id)
    elif kind == "ovh":
        with FakeOvh() as fake:
            campaign = make_campaign(root, RECIPIENTS, provider=ovh_provider(fake, batch_size=BATCH))
            yield campaign, campaign.env(fake.credentials), lambda: ovh_record(fake)
    else:
        with FakeTwilio() as fake:
            campaign = make_campaign(root, RECIPIENTS, provider={"name": "twilio", "base_url": fake.url,
                                                                 "from": "+15005550006"})
            env = campaign.env({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN})

            def record() -> list[tuple[str, str]]:
                return [(m["to"], m["body"]) for m in fake.messages.values()]

            yield campaign, env, record


def partial_send(campaign: Campaign, env: Mapping[str, str], kind: str) -> None:
    """A first run that dies (kill -9, the engine's test hook) after part of the campaign reached the provider.

    The hook counts provider answers on the sending thread (``after_send``), not settles: settles run on the
    ledger writer's thread, and on a busy machine every batch could be on the wire before the n-th settle,
    so counting settles made the partial send whole now and then."""
    # Twilio sends one recipient per request
    nth = 30 if kind == "twilio" else SENT_BEFORE_THE_KILL
    result = send(campaign, {**env, "SMSRUN_TEST_CRASH_AT": f"after_send:{nth}"})
    assert result.killed, result.describe()


@pytest.mark.parametrize("kind", ["outbox", "ovh", "twilio"])
def test_a_lost_ledger_is_refused_then_adopted_without_any_duplicate(kind: str, tmp_path: Path) -> None:
    with provider_setup(kind, tmp_path / kind) as (campaign, env, record):
        partial_send(campaign, env, kind)
        before = record()
        assert 0 < len(before) < RECIPIENTS
        lose_the_ledger(campaign)

        plan = run_smsrun(campaign, "plan", str(campaign.path), "--json", env=env)
        assert plan.code == 1, plan.describe()
        problems = [p for p in plan.json["problems"] if p["severity"] == "error"]
        assert any(f"{len(before)} SMS of this campaign" in p["message"] for p in problems), problems

        refused = send(campaign, env)
        assert refused.code == 1, refused.describe()
        assert f"already holds {len(before)} SMS of this campaign since" in refused.err
        assert "--adopt" in refused.err and "Traceback" not in refused.err
        assert record() == before  # nothing sent

        adopted = send(campaign, env, "--adopt")
        assert adopted.code == 0, adopted.describe()
        assert adopted.json["adopted"] == len(before)
        assert adopted.json["sent"] == RECIPIENTS - len(before)
        after = record()
        assert Counter(r for r, _ in after) == Counter(campaign.recipients)  # each exactly once
        statuses = ledger_statuses(campaign.state_dir, campaign.campaign_id)
        verdict = verify(campaign, after, statuses, status(campaign, env))
        assert verdict.ok, verdict.problems()

        again = send(campaign, env)  # the ledger now knows the campaign: nothing left, nothing asked
        assert again.code == 0 and again.json["sent"] == 0, again.describe()


def test_ignore_provider_history_is_the_explicit_opt_out(tmp_path: Path) -> None:
    with provider_setup("outbox", tmp_path) as (campaign, env, record):
        partial_send(campaign, env, "outbox")
        before = len(record())
        lose_the_ledger(campaign)
        result = send(campaign, env, "--ignore-provider-history")
        assert result.code == 0, result.describe()
        assert len(record()) == before + RECIPIENTS  # as asked: everyone, again


def test_the_first_run_of_a_campaign_tags_its_first_request_derivably(tmp_path: Path) -> None:
    from runner.providers.ovh.provider import job_tag

    with FakeOvh() as fake:
        campaign = make_campaign(tmp_path, RECIPIENTS, provider=ovh_provider(fake, batch_size=BATCH))
        result = send(campaign, campaign.env(fake.credentials))
        assert result.code == 0 and result.json["sent"] == RECIPIENTS, result.describe()
        # the provider had nothing, so this was run "1": its first request's tag can be looked up later
        first = job_tag(campaign.campaign_id, f"{campaign.campaign_id}.1.1")
        assert sum(1 for s in fake.outgoing if s["tag"] == first) == BATCH


def test_without_expanded_listings_the_first_tag_and_the_export_tell(tmp_path: Path) -> None:
    from runner.providers.ovh.provider import job_tag

    with FakeOvh(expanded_listings=False) as fake:
        campaign = make_campaign(tmp_path, RECIPIENTS, provider=ovh_provider(fake, batch_size=BATCH))
        env = campaign.env(fake.credentials)
        partial_send(campaign, env, "ovh")
        first = job_tag(campaign.campaign_id, f"{campaign.campaign_id}.1.1")
        assert sum(1 for s in fake.outgoing if s["tag"] == first) == BATCH
        sent_before = len(fake.outgoing)
        lose_the_ledger(campaign)
        refused = send(campaign, env)
        assert refused.code == 1 and "OVHcloud already holds" in refused.err, refused.describe()
        assert len(fake.outgoing) == sent_before  # nothing sent
        # the detail comes from the bulk export: adopting works, and nobody gets it twice
        adopt = send(campaign, env, "--adopt")
        assert adopt.code == 0 and adopt.json["adopted"] == sent_before, adopt.describe()
        assert Counter(r for r, _ in ovh_record(fake)) == Counter(campaign.recipients)


def test_kannel_plan_says_it_keeps_no_history(tmp_path: Path) -> None:
    from runner.plan.history import plan_problems
    from runner.providers.kannel import KannelProvider

    campaign = make_campaign(tmp_path, 3)
    from runner.check import load_campaign
    from runner.plan import PlanOptions, build_plan

    plan = build_plan(load_campaign(campaign.path), PlanOptions(state_dir=campaign.state_dir, check_provider=False))
    provider = KannelProvider({"url": "http://127.0.0.1:9/cgi-bin/sendsms"},
                              state_dir=campaign.state_dir)
    [problem] = plan_problems(plan, provider)
    assert problem.severity == "info" and "kannel keeps no history" in problem.message


def test_a_provider_that_cannot_be_asked_stops_the_first_send_before_anything_is_sent(tmp_path: Path) -> None:
    with FakeOvh() as fake:
        campaign = make_campaign(tmp_path, RECIPIENTS,
                                 provider=ovh_provider(fake, batch_size=BATCH, max_retries=0))
        fake.fail_next("http_500", count=100, where=r"^GET /sms/[^/]+/outgoing$")
        refused = send(campaign, campaign.env(fake.credentials))
        assert refused.code == 1 and "asking the provider whether it already sent it failed" in refused.err
        assert "Traceback" not in refused.err and not fake.jobs


def test_status_refresh_learns_the_ids_a_reconciliation_could_not_pair(tmp_path: Path) -> None:
    """Issue 11: without expanded listings, an accepted in-doubt batch is settled from its count alone;
    `status --refresh` then learns its ids in bulk, so its delivery reports match."""
    with FakeOvh(expanded_listings=False) as fake:
        campaign = make_campaign(tmp_path, 40, provider=ovh_provider(fake, batch_size=BATCH))
        env = campaign.env(fake.credentials)
        fake.fail_next("drop_after_accept", where=r"^POST /sms/[^/]+/jobs$")
        result = send(campaign, env)
        assert result.code == 0 and result.json["sent"] == 40 and result.json["reconciled"] == BATCH
        fake.deliver()
        refreshed = run_smsrun(campaign, "status", str(campaign.path), "--refresh", "--json", env=env)
        assert refreshed.code == 0, refreshed.describe()
        assert set(ledger_statuses(campaign.state_dir, campaign.campaign_id).values()) == {"delivered"}
        assert Counter(r for r, _ in ovh_record(fake)) == Counter(campaign.recipients)
