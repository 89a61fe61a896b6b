"""Under CI=true a SQLite ledger dies with the runner: `send` says so; a PostgreSQL ledger is kept."""

from __future__ import annotations

from tests.support.repo import Repo, french_mobiles

CAMPAIGN = "id: c\nsender: ACME\nmessage: Hello\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def test_send_under_ci_warns_about_a_sqlite_ledger_only(repo: Repo, ledger_backend: str) -> None:
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(2)) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    result = repo.run("send", "c.yaml", "--yes", CI="true")
    assert result.code == 0, result.both
    warned = "the ledger is a SQLite file on this runner" in result.err
    assert warned == (ledger_backend == "sqlite"), result.err
    quiet = repo.run("send", "c.yaml", "--yes", CI="false")
    assert "SQLite file on this runner" not in quiet.err
