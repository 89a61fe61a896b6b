"""``smsrun ledger copy FROM TO`` between SQLite and PostgreSQL, both ways."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.ledger.receiving import MessageKey, record_report
from runner.ledger.store import Ledger
from runner.receiver.store import Reply, store_reply
from tests.support.repo import Repo, french_mobiles

pytestmark = pytest.mark.postgresql_only("a copy between the two backends")

CAMPAIGN = "id: c\nsender: ACME\nmessage: Hello\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def _status(repo: Repo, ledger: str) -> dict[str, object]:
    result = repo.run("status", "c", "--json", "--show-numbers", "--ledger", ledger)
    assert result.code == 0, result.both
    data: dict[str, object] = json.loads(result.out)
    return {k: data[k] for k in ("sent", "delivered", "failed", "pending", "in_doubt", "rejected")}


def test_a_sqlite_ledger_goes_to_postgresql_and_back_with_everything(repo: Repo, tmp_path: Path) -> None:
    url = os.environ["SMSRUN_LEDGER"]
    sqlite_file = str(tmp_path / "team" / "ledger.sqlite")
    numbers = french_mobiles(30)
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    assert repo.run("send", "c.yaml", "--yes", "--ledger", sqlite_file).code == 0
    assert repo.run("optout", "add", numbers[0], "--reason", "asked", "--ledger", sqlite_file).code == 0
    with Ledger(tmp_path, path=Path(sqlite_file)) as ledger:
        pid = ledger.db.execute("SELECT provider_id FROM messages WHERE provider_id IS NOT NULL LIMIT 1").fetchone()[0]
        record_report(ledger, "outbox", MessageKey(provider_id=pid), "delivered", None)
        record_report(ledger, "outbox", MessageKey(provider_id="unknown-yet"), "delivered", None)  # backlog
        store_reply(ledger, Reply("kannel", "ref-1", numbers[1], "STOP"), who="receiver")
    before = _status(repo, sqlite_file)

    copied = repo.run("ledger", "copy", sqlite_file, url, "--json")
    assert copied.code == 0, copied.both
    counts = json.loads(copied.out)
    assert counts["messages"] == {"copied": 30, "verified": 30}
    assert counts["optouts"]["copied"] == 2 and counts["optout_log"]["verified"] == 2
    assert counts["replies"]["verified"] == 1 and counts["reports"]["verified"] == 2
    assert counts["report_backlog"]["verified"] == 1
    assert _status(repo, url) == before
    optouts = repo.run("optout", "list", "--json", "--show-numbers", "--ledger", url)
    assert optouts.code == 0 and numbers[0] in optouts.out and numbers[1] in optouts.out, optouts.both

    again = repo.run("ledger", "copy", sqlite_file, url)
    assert again.code == 1 and "already holds campaign(s) c" in again.err, again.both

    back = str(tmp_path / "back.sqlite")
    returned = repo.run("ledger", "copy", url, back)
    assert returned.code == 0 and "messages" in returned.out, returned.both
    assert _status(repo, back) == before
    nothing = repo.run("send", "c.yaml", "--yes", "--json", "--ledger", back)  # the copy knows what was sent
    assert nothing.code == 0 and json.loads(nothing.out)["sent"] == 0, nothing.both
