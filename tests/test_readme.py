"""The README is tested against the real command: every option of every command is documented, and the
quick start's smsrun commands run as written."""

from __future__ import annotations

import re

import pytest

from tests.support.repo import ROOT, Repo

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ["validate", "plan", "send", "status", "outbox", "schema", "optout add", "optout remove",
            "optout list", "optout import", "receive", "replies", "ovh lists", "ovh lists push"]


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text)) - {"--help"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_documented(command: str) -> None:
    result = Repo(ROOT).run(*command.split(), "--help")
    assert result.code == 0, result.both
    options = _options(result.out)
    section = README.split("## CLI reference", 1)[1].split("## CI example", 1)[0]
    name = command.split()[0]
    assert f"smsrun {name}" in section, f"`smsrun {name}` has no section in the README's CLI reference"
    missing = sorted(o for o in options if o not in section)
    assert not missing, f"`smsrun {command}` options missing from the README: {missing}"


def test_quick_start_runs_as_written(repo: Repo) -> None:
    repo.copy_examples()
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    steps = [s.strip() for s in block.strip().split("&&")]
    smsrun_steps = [s for s in steps if s.startswith(".venv/bin/smsrun ")]
    assert len(smsrun_steps) >= 3
    for step in smsrun_steps:
        result = repo.run(*step.split()[1:])
        assert result.code == 0, f"{step}: {result.both}"
    assert len(repo.outbox()) == 5
