"""The state folder keeps phone numbers out of git: it ignores itself; plan warns when git tracks it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.ledger.statedir import ensure_state_dir
from tests.support.repo import Repo

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
CAMPAIGN = "id: c\nmessage: Hi\ncommercial: false\nrecipients:\n  - numbers: ['+33611111111']\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": "/dev/null"}


def git(repo: Repo, *args: str) -> str:
    import os

    done = subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    r = Repo(path)
    r.write("c.yaml", CAMPAIGN)
    git(r, "add", "c.yaml")
    git(r, "commit", "-qm", "campaign")
    return r


@pytest.mark.sqlite_only("the ledger file in the state folder")
def test_the_state_folder_is_created_ignoring_itself(repo: Repo) -> None:
    result = repo.run("send", "c.yaml", "--yes", SMSRUN_STATE_DIR="")  # the default: .smsrun/ at the root
    assert result.code == 0, result.both
    state = repo.path / ".smsrun"
    assert (state / "ledger.sqlite").exists() and (state / "outbox.sqlite").exists()
    assert (state / ".gitignore").read_text().splitlines()[-1] == "*"
    assert git(repo, "status", "--porcelain") == ""  # nothing of the state shows as untracked
    plan = repo.run("plan", "c.yaml", SMSRUN_STATE_DIR="")
    assert "git tracks" not in plan.both


@pytest.mark.sqlite_only("the ledger file in the state folder")
def test_plan_warns_when_git_tracks_the_ledger_or_the_outbox(repo: Repo) -> None:
    assert repo.run("send", "c.yaml", "--yes", SMSRUN_STATE_DIR="").code == 0
    git(repo, "add", "-f", ".smsrun/ledger.sqlite", ".smsrun/outbox.sqlite")
    git(repo, "commit", "-qm", "oops")
    plan = repo.run("plan", "c.yaml", "--json", SMSRUN_STATE_DIR="")
    warnings = [p["message"] for p in __import__("json").loads(plan.out)["problems"] if p["severity"] == "warning"]
    assert any("git tracks .smsrun/ledger.sqlite" in w and "git rm --cached" in w for w in warnings), warnings
    assert any("git tracks .smsrun/outbox.sqlite" in w for w in warnings), warnings


def test_a_folder_the_user_chose_is_left_as_it_is(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    ensure_state_dir(mine)
    assert not (mine / ".gitignore").exists()
    fresh = tmp_path / "fresh" / "state"
    ensure_state_dir(fresh)
    assert (fresh / ".gitignore").exists()
    old_default = tmp_path / "old" / ".smsrun"  # made by an older smsrun: gets its .gitignore now
    old_default.mkdir(parents=True)
    ensure_state_dir(old_default)
    assert (old_default / ".gitignore").exists()
