"""Issue 15, group 3: campaign input that must be refused, with a bounded, positioned error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.campaign.schema import _ecma_regex
from runner.check import load_campaign
from runner.errors import CampaignError
from tests.support.repo import Repo

BASE = "id: c\nsender: ACME\nmessage: Hello\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def _errors(repo: Repo, text: str) -> str:
    repo.write("list.csv", "phone\n+33612345678\n")
    path = repo.write("c.yaml", text)
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    return str(info.value)


@pytest.mark.parametrize("line", ['id: "x\\n"', 'sender: "ACME\\n"', 'sender: "+33612345678\\n"',
                                  'window: {start: "09:00\\n", end: "18:00"}'])
def test_a_trailing_newline_does_not_pass_an_anchored_pattern(repo: Repo, line: str) -> None:
    key = line.split(":")[0]
    text = "\n".join(line if ln.startswith(key + ":") else ln for ln in BASE.splitlines()) + "\n"
    if key not in [ln.split(":")[0] for ln in BASE.splitlines()]:
        text = BASE + line + "\n"
    assert "error" in _errors(repo, text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True), st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_ecma_end_anchor(value: str, tail: str) -> None:
    pattern = _ecma_regex("^[a-z0-9][a-z0-9._-]{0,63}$")
    assert pattern.search(value) is not None
    assert pattern.search(value + tail) is None


@pytest.mark.parametrize("merge, key", [
    ("<<: [{commercial: true}, {commercial: false}]", "commercial"),
    ("<<: [{commercial: false}, {commercial: true}]", "commercial"),
    ("<<: [{commercial: false, sender: ACME}, {<<: {commercial: true}}]", "commercial"),
])
def test_a_merge_setting_a_key_twice_is_refused(repo: Repo, merge: str, key: str) -> None:
    text = "id: c\nsender: ACME\nmessage: Hello\n" + merge + "\nrecipients:\n  - csv: list.csv\n"
    errors = _errors(repo, text)
    assert f"sets {key!r} more than once" in errors, errors


def test_a_merge_setting_each_key_once_is_read_as_the_spec_says(repo: Repo) -> None:
    repo.write("list.csv", "phone\n+33612345678\n")
    path = repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hello\nopt_out_text: STOP 36111\n"
                                "<<: [{commercial: true}, {transliterate: true}]\nrecipients:\n  - csv: list.csv\n")
    campaign = load_campaign(path)
    assert campaign.commercial is True and campaign.transliterate is True


@pytest.mark.parametrize("setting", ["limits: {rate: 1.0e-320}", "limits: {rate: .inf}", "limits: {rate: .nan}",
                                     "limits: {max_cost: .nan}", "limits: {max_recipients: 100000000000}",
                                     "limits: {max_consecutive_failures: 0}", "cost: {default: .inf}",
                                     "limits: {rate: 1.0e+400}"])
def test_numeric_settings_are_bounded(repo: Repo, setting: str) -> None:
    assert "limits" in _errors(repo, BASE + setting + "\n") or "cost" in _errors(repo, BASE + setting + "\n")


@pytest.mark.parametrize("message", ['""', '"   "', '"\\n\\t \\n"'])
def test_an_empty_message_is_refused(repo: Repo, message: str) -> None:
    text = BASE.replace("message: Hello", f"message: {message}")
    assert "message" in _errors(repo, text)


def test_error_lines_quote_a_bounded_excerpt(repo: Repo) -> None:
    huge = "é" * 25_000
    for text in (BASE.replace("sender: ACME", f"sender: {huge}"), BASE.replace("id: c", f"id: {huge}"),
                 BASE + f"limits: {{rate: {'9' * 90}}}\n", BASE + f"window: {{start: '{huge}'}}\n"):
        errors = _errors(repo, text)
        assert all(len(line) < 600 for line in errors.splitlines()), max(len(x) for x in errors.splitlines())


def test_a_plan_of_a_long_message_stays_readable(repo: Repo) -> None:
    repo.write("list.csv", "phone\n+33612345678\n")
    repo.write("c.yaml", BASE.replace("message: Hello", "message: " + "x" * 25_000))
    result = repo.run("plan", "c.yaml")
    assert result.code == 1
    assert all(len(line) < 2_000 for line in result.both.splitlines()), max(len(x) for x in result.both.splitlines())


def test_two_campaign_files_with_one_id_are_invalid(repo: Repo) -> None:
    repo.write("campaigns/list.csv", "phone\n+33612345678\n")
    repo.write("campaigns/a.yaml", BASE)
    repo.write("campaigns/b.yaml", "# the same campaign, copied\n" + BASE)
    result = repo.run("validate", "campaigns", "--format", "json")
    assert result.code == 1
    data = json.loads(result.out)
    messages = [(f["path"], d["line"], d["message"]) for f in data["files"] for d in f["problems"]]
    assert any(p.endswith("a.yaml") and line == 1 and "b.yaml" in m for p, line, m in messages), messages
    assert any(p.endswith("b.yaml") and line == 2 and "a.yaml" in m for p, line, m in messages), messages


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_campaign_symlinked_to_dev_zero_is_read_with_the_cap(repo: Repo) -> None:
    (repo.path / "c.yaml").symlink_to("/dev/zero")
    limit = 400 * 1024 * 1024  # address space: far above smsrun's needs, far below an unbounded read
    code = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
            "sys.argv = ['smsrun'] + sys.argv[1:]; from runner.cli.main import run; run()")
    for args in (["plan", "c.yaml"], ["validate", "c.yaml"], ["send", "c.yaml", "--yes"]):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=repo.path, env=repo.env(), timeout=120,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        said = result.stdout + result.stderr
        assert ("larger than" in said or "not a regular file" in said) and "Traceback" not in said, said
