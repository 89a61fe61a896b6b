"""A gateway's burst of delivery reports: every one answered 2xx, every 2xx in the ledger, none refused.

Counts only (this suite asserts no wall time): ``bench/bench_receiver.py`` prints the 20,000-report
figure with its latencies. The ledger's location is the one fixture :func:`ledger_at`, so that the same
proof runs on every ledger backend (the PostgreSQL variant is a new parameter there).
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import LedgerError
from runner.ledger.status import campaign_status
from runner.ledger.store import Ledger
from runner.receiver import Receiver, ReceiverConfig
from runner.receiver.store import MessageKey, ensure_backlog, record_report
from runner.receiver.writer import LedgerWriter
from tests.support.burst import burst, numbers, seed_sent
from tests.support.repo import Repo, french_mobiles

TOKEN = "burst-receiver-token-0123456789"
REPORTS = 2_000
CONNECTIONS = 256


@pytest.fixture(params=["sqlite"])
def ledger_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where the ledger lives (one place to add a backend)."""
    assert request.param == "sqlite"
    return tmp_path / "state"


@pytest.fixture
def receiver(ledger_at: Path) -> Iterator[Receiver]:
    r = Receiver(ReceiverConfig("127.0.0.1", 0, TOKEN, ledger_at)).start()
    yield r
    r.stop()


def test_a_burst_over_256_new_connections_is_all_answered_and_all_stored(ledger_at: Path, receiver: Receiver) -> None:
    recipients = numbers(REPORTS)
    seed_sent(ledger_at, "burst", recipients)
    result = burst("127.0.0.1", receiver.port, TOKEN, "burst", recipients, concurrency=CONNECTIONS, timeout=120)
    assert dict(result.outcomes) == {"200": REPORTS}, result.summary()  # none refused, reset or timed out
    assert sorted(result.answered_2xx) == sorted(recipients)
    assert campaign_status(ledger_at, "burst")["delivered"] == REPORTS  # every 2xx is in the ledger
    assert receiver.stats["reports_delivered"] == REPORTS


def test_reports_of_a_burst_share_transactions_and_each_is_answered_after_its_commit(ledger_at: Path) -> None:
    """Jobs queued before the ledger thread starts are one group: one commit, then every answer."""
    recipients = numbers(50)
    seed_sent(ledger_at, "g", recipients)
    ledger = Ledger(ledger_at)
    ensure_backlog(ledger)
    writer = LedgerWriter(ledger)
    futures = [writer.report("kannel", MessageKey(campaign_id="g", recipient=r), "delivered", None)
               for r in recipients]
    assert not any(f.done() for f in futures)
    writer.start()
    outcomes = [f.result(timeout=60) for f in futures]
    writer.close()
    assert [o.updated for o in outcomes] == [1] * 50
    assert writer.groups == 1
    assert campaign_status(ledger_at, "g")["delivered"] == 50


def test_one_bad_report_does_not_cost_the_others_their_answer(ledger_at: Path) -> None:
    recipients = numbers(6)
    seed_sent(ledger_at, "g", recipients)
    ledger = Ledger(ledger_at)
    ensure_backlog(ledger)
    writer = LedgerWriter(ledger)
    calls: list[str] = []

    def breaks_the_group(ledger: Ledger) -> None:  # fails once inside the shared transaction, then works
        calls.append("broken")
        if len(calls) == 1:
            with ledger.transaction() as db:
                db.execute("INSERT INTO reports (provider) VALUES ('x')")  # NOT NULL columns: refused
        raise LedgerError("still broken")

    futures: list[concurrent.futures.Future[object]] = []
    for i, r in enumerate(recipients):
        futures.append(writer.report("kannel", MessageKey(campaign_id="g", recipient=r), "delivered", None))
        if i == 2:
            futures.append(writer.submit(breaks_the_group, grouped=True))
            futures.append(writer.submit(lambda ledger: record_report(ledger, "kannel", MessageKey(
                campaign_id="g", recipient=recipients[0]), "no-such-status", None), grouped=True))
    writer.start()
    done = concurrent.futures.wait(futures, timeout=60).done
    assert len(done) == len(futures)
    writer.close()
    errors = [type(f.exception()).__name__ if f.exception() else None for f in futures]
    assert errors == [None] * 3 + ["LedgerError", "ValueError"] + [None] * 3
    assert calls == ["broken", "broken"]  # the group failed, then each report ran alone
    assert campaign_status(ledger_at, "g")["delivered"] == 6


@pytest.mark.kannel
def test_a_real_kannel_sending_two_requests_of_100_gets_all_200_reports_recorded(repo: Repo, tmp_path: Path) -> None:
    """One text to 200 recipients through a real Kannel (fakesmsc): 2 sendsms requests of 100, then
    Kannel's delivery reports (SMSC submit and delivered for each) burst into the receiver; every
    message ends delivered."""
    from tests.support.kannel import KannelGateway, kannel_env, skip_if_kannel_missing, wait_until

    skip_if_kannel_missing()
    r = Receiver(ReceiverConfig("127.0.0.1", 0, TOKEN, repo.state)).start()
    try:
        with KannelGateway(tmp_path / "kannel") as gateway:
            recipients = french_mobiles(200, start=500)
            repo.write("list.csv", "phone\n" + "\n".join(recipients) + "\n")
            repo.write("k.yaml", f"""\
id: kburst
sender: ACME
message: Bonjour, nouvelle offre
commercial: false
recipients:
  - csv: list.csv
provider:
  name: kannel
  url: {gateway.sendsms_url}
  dlr_url: {r.url("kannel/dlr")}
""")
            sent = repo.run("send", "k.yaml", "--yes", "--json", timeout=180, **kannel_env(gateway))
            assert sent.code == 0, sent.both
            assert json.loads(sent.out)["sent"] == 200
            assert len(gateway.wait_for_messages(200)) == 200
            wait_until(lambda: campaign_status(repo.state, "kburst")["delivered"] == 200, 120,
                       "200 delivered reports in the ledger")
    finally:
        r.stop()
    counts = campaign_status(repo.state, "kburst")
    assert (counts["delivered"], counts["sent"], counts["failed"]) == (200, 0, 0)
    stats = r.stats
    assert stats.get("errors", 0) == 0 and stats.get("malformed", 0) == 0
    assert stats["reports_delivered"] == 200
