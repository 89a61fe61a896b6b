"""Plan problems as GitHub annotations: `--format github`, and on stderr under GITHUB_ACTIONS=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.annotations import annotation, problem_annotations
from runner.errors import Diagnostic
from runner.plan.problems import Problem
from tests.support.repo import Repo

CAMPAIGN = """\
id: c
sender: ACME Shop
message: "{message}"
commercial: false
recipients:
  - csv: list.csv
{column}limits:
  max_parts: 1
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.write("list.csv", "phone,name\n+33611111111,Alice\n")
    return r


def test_annotation_escapes_data_and_properties() -> None:
    assert annotation("error", "a%b\nc", "dir/a,b:c.yaml", 3, 4) == \
        "::error file=dir/a%2Cb%3Ac.yaml,line=3,col=4::a%25b%0Ac"
    assert annotation("info", "x") == "::notice::x"
    assert annotation("warning", "provider: c.yaml:3:1: warning: late") == \
        "::warning::provider: c.yaml:3:1: warning: late"  # a message is never parsed for a position


def test_a_plan_problem_is_annotated_from_its_fields() -> None:
    """Issue 12 §6: the plan's text names a campaign check's position; its annotation reads the fields."""
    late = Problem.from_diagnostic(Diagnostic("c.yaml", 3, 1, "late", "warning", (("list.csv", 4, 1, "here"),)))
    assert late.text == "c.yaml:3:1: warning: late\n  list.csv:4:1: note: here"
    assert problem_annotations([late, Problem("error", "no file +33611111111")], "d.yaml") == [
        "::warning file=c.yaml,line=3,col=1::late%0Alist.csv:4: here",
        "::error file=d.yaml::no file +336••••••11",
    ]


def test_plan_annotates_a_campaign_warning_at_its_key_and_shows_it_with_its_position(repo: Repo) -> None:
    repo.write("c.yaml", CAMPAIGN.format(message="Hi", column="") + "opt_out_text: STOP 36111\n")
    result = repo.run("plan", "c.yaml", "--format", "github")
    assert result.code == 0, result.out + result.err
    assert "::warning file=c.yaml,line=9,col=15::opt_out_text is ignored: the campaign is not commercial" \
        in result.out.splitlines(), result.out
    assert "warning: c.yaml:9:15: warning: opt_out_text is ignored: the campaign is not commercial" in result.out


def test_plan_format_github_puts_each_problem_at_its_campaign_key(repo: Repo) -> None:
    repo.write("c.yaml", CAMPAIGN.format(message="x" * 200, column=""))
    result = repo.run("plan", "c.yaml", "--format", "github")
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert len(lines) == 1 and lines[0].startswith("::error file=c.yaml,line=3,col=10::1 message(s) need more than "
                                                   "limits.max_parts (1)"), result.out
    assert "Campaign   c" in result.out  # then the plan as text


def test_under_github_actions_markdown_stays_clean_and_annotations_go_to_stderr(repo: Repo) -> None:
    repo.write("c.yaml", CAMPAIGN.format(message="x" * 200, column=""))
    result = repo.run("plan", "c.yaml", "--format", "markdown", GITHUB_ACTIONS="true")
    assert "::error" not in result.out and "::error file=c.yaml,line=3,col=10::" in result.err
    plain = repo.run("plan", "c.yaml", "--format", "markdown", GITHUB_ACTIONS="")
    assert "::error" not in plain.out + plain.err


def test_a_plan_refused_by_a_source_is_annotated_at_the_key_at_fault(repo: Repo) -> None:
    repo.write("c.yaml", CAMPAIGN.format(message="Hi", column="    column: phon\n"))
    result = repo.run("plan", "c.yaml", GITHUB_ACTIONS="true")
    assert result.code == 1
    assert "::error file=c.yaml,line=7,col=13::list.csv: no column named 'phon'" in result.err, result.err


def test_annotations_mask_numbers_as_the_plan_does(repo: Repo) -> None:
    repo.write("list.csv", "phone,name\n+33611111111,Alice\n01 23 45 67 89,Fixed\n")
    repo.write("c.yaml", CAMPAIGN.format(message="Hi", column="    region: FR\n"))
    result = repo.run("plan", "c.yaml", "--format", "github")
    assert "::warning file=c.yaml::1 invalid number(s)" in result.out, result.out
    assert "01 23 45 67 89" not in result.out + result.err
    shown = repo.run("plan", "c.yaml", "--format", "github", "--show-numbers")
    assert "01 23 45 67 89" in shown.out
