"""Issue 15, group 2: a damaged ledger, a ledger written by a newer smsrun, a relative state folder and a
read-only one never lead to a duplicate or a traceback: a clear error (exit 1), or a correct read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.ledger.store import SCHEMA_VERSION, Ledger, state_dir_for
from tests.support.harness import launcher
from tests.support.repo import ROOT, Repo, french_mobiles

pytestmark = pytest.mark.sqlite_only("damaged pages, PRAGMAs and file modes are the SQLite file's; the PostgreSQL "
                                     "equivalents are in tests/ledger/test_postgres.py")

CAMPAIGN = "id: c\nsender: ACME\nmessage: Hello\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def _sent_campaign(repo: Repo, count: int = 100) -> list[str]:
    numbers = french_mobiles(count)
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("c.yaml", CAMPAIGN)
    assert repo.run("send", "c.yaml", "--yes").code == 0
    assert len(repo.outbox()) == count
    return numbers


def _clean(result_both: str) -> None:
    assert "Traceback" not in result_both and "internal error" not in result_both, result_both


def _sql(repo: Repo, *statements: str) -> None:
    db = sqlite3.connect(repo.state / "ledger.sqlite", isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def test_a_damaged_primary_key_index_refuses_the_send(repo: Repo) -> None:
    _sent_campaign(repo)
    path = repo.state / "ledger.sqlite"
    db = sqlite3.connect(path)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_messages_1'").fetchone()[0]
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as handle:  # 800 bytes of the index's root page
        handle.seek((root - 1) * page + 100)
        handle.write(os.urandom(800))
    result = repo.run("send", "c.yaml", "--yes")
    assert result.code == 1, result.both
    _clean(result.both)
    assert "damaged" in result.err and "backup" in result.err
    assert len(repo.outbox()) == 100  # nobody twice


def test_garbage_ledger_pages_give_clean_errors_everywhere(repo: Repo) -> None:
    _sent_campaign(repo, 5)
    path = repo.state / "ledger.sqlite"
    data = bytearray(path.read_bytes())
    data[100:] = os.urandom(len(data) - 100)  # the header survives, every page is garbage
    path.write_bytes(bytes(data))
    (repo.state / "outbox.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(8000))
    for args in (["plan", "c.yaml"], ["send", "c.yaml", "--yes"], ["status", "c.yaml"], ["outbox"],
                 ["optout", "list"]):
        result = repo.run(*args)
        assert result.code == 1, (args, result.both)
        _clean(result.both)
        assert "error" in result.err, (args, result.err)


@pytest.mark.parametrize("change", [
    f"PRAGMA user_version = {SCHEMA_VERSION + 1}",
    "UPDATE messages SET status = 'archived' WHERE rowid = 1",
    "ALTER TABLE messages RENAME COLUMN reason TO why",
])
def test_a_newer_smsrun_ledger_is_refused(repo: Repo, change: str) -> None:
    _sent_campaign(repo, 5)
    _sql(repo, change)
    for args in (["plan", "c.yaml"], ["status", "c.yaml"], ["send", "c.yaml", "--yes"]):
        result = repo.run(*args)
        assert result.code == 1, (args, result.both)
        _clean(result.both)
        assert "written by a newer smsrun" in result.err, (args, result.err)
    assert len(repo.outbox()) == 5


def test_a_new_ledger_is_stamped_with_its_version(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state") as ledger:
        assert ledger.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_relative_state_dir_is_taken_from_the_repository_root(repo: Repo) -> None:
    numbers = french_mobiles(4)
    repo.write("campaigns/list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("campaigns/c.yaml", CAMPAIGN)
    env = {k: v for k, v in repo.env().items()}
    env["SMSRUN_STATE_DIR"] = "state"
    for cwd, target in ((repo.path, "campaigns/c.yaml"), (repo.path / "campaigns", "c.yaml")):
        result = subprocess.run([sys.executable, "-m", "runner", "send", target, "--yes"], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (repo.path / "state" / "ledger.sqlite").exists()
    assert not (repo.path / "campaigns" / "state").exists()
    db = sqlite3.connect(repo.path / "state" / "outbox.sqlite")
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 4  # once each, not twice
    db.close()
    # --state-dir too; an absolute one is kept as it is
    assert state_dir_for("s", repo.path) == repo.path / "s"
    assert state_dir_for(str(repo.path / "abs"), repo.path / "elsewhere") == repo.path / "abs"


@pytest.fixture
def read_only_prefix(tmp_path: Path) -> list[str]:
    prefix = launcher(drop_dac=True) if os.geteuid() == 0 else []
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        attempt = subprocess.run([*prefix, shutil.which("touch") or "touch", str(probe / "x")],
                                 capture_output=True, text=True, check=False)
    finally:
        probe.chmod(0o755)
    if attempt.returncode == 0:
        pytest.skip("cannot make a folder read-only for this user")
    return prefix


def test_a_read_only_ledger_is_still_read_by_status_and_plan(repo: Repo, read_only_prefix: list[str]) -> None:
    _sent_campaign(repo, 5)
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(7)) + "\n")  # two more to send
    assert not (repo.state / "ledger.sqlite-wal").exists()  # closed cleanly: nothing beside it
    for path in [repo.state, *repo.state.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*read_only_prefix, sys.executable, "-m", "runner", *args], cwd=repo.path,
                                  env=repo.env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120,
                                  check=False)

        status = run("status", "c.yaml", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["sent"] == 5
        plan = run("plan", "c.yaml", "--json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert json.loads(plan.stdout)["recipients"]["already_sent"] == 5
        send = run("send", "c.yaml", "--yes")
        assert send.returncode == 1 and "Traceback" not in send.stderr, send.stdout + send.stderr
        assert str(repo.state) in send.stderr
    finally:
        for path in [repo.state, *repo.state.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert len(repo.outbox()) == 5
