"""The README is tested against the real command: every option of every command is documented, and the
quick start's smsrun commands run as written."""

from __future__ import annotations

import re

import pytest

from tests.support.repo import ROOT, Repo

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ["validate", "plan", "send", "status", "outbox", "schema", "optout add", "optout remove",
            "optout list", "optout import", "receive", "replies", "ovh lists", "ovh lists push", "ledger copy"]


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


#: packages only the `test` extra installs (or that only they pull in): the product must not import them
TEST_ONLY = ["click", "ovh", "openapi_core", "smpp34", "hypothesis", "pytest", "_pytest"]


def test_quick_start_needs_only_runtime_dependencies(repo: Repo) -> None:
    """The test environment has more packages than `pip install -e .` gives a user; block them and run
    the quick start's commands. (uvicorn, a dependency for `smsrun receive`, brings click: the other
    commands must not need it, nor load uvicorn.)"""
    import subprocess
    import sys

    repo.copy_examples()
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    steps = [s.strip() for s in block.strip().split("&&") if s.strip().startswith(".venv/bin/smsrun ")]
    for step in steps:
        args = step.split()[1:]
        code = (f"import sys; sys.modules.update(dict.fromkeys({TEST_ONLY!r})); "
                f"from runner.cli.main import run; run({args!r})")
        proc = subprocess.run([sys.executable, "-c", code], cwd=repo.path, env=repo.env(), capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{step}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr
