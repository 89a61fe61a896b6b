"""Issue 15, group 3: every rendered message is checked; a plan has a total render budget; ``plan --out``
never overwrites what is not a plan; CSV headers that collide after slugging are refused."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.check import load_campaign
from runner.errors import PlanError
from runner.message import checks
from runner.plan import PlanOptions, build_plan
from tests.support.repo import Repo, french_mobiles

TEMPLATE = "id: c\nsender: ACME\nmessage: '{message}'\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def _plan(repo: Repo, rows: list[tuple[str, str]], message: str = "Hi {{ name }}") -> object:
    repo.write("list.csv", "phone,name\n" + "\n".join(f"{p},{n}" for p, n in rows) + "\n")
    path = repo.write("c.yaml", TEMPLATE.format(message=message))
    return build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, check_provider=False))


@pytest.mark.parametrize("bad", ["\x1b[31m", "a\tb", "\x07", "\x00", "x\x7f"])
def test_a_control_character_in_any_row_fails_the_plan(repo: Repo, bad: str) -> None:
    numbers = french_mobiles(50)
    rows = [(n, f"N{i}") for i, n in enumerate(numbers)]
    rows[37] = (numbers[37], f'"{bad}"')
    plan = _plan(repo, rows)
    errors = [p.message for p in plan.problems if p.severity == "error"]  # type: ignore[attr-defined]
    assert errors and "list.csv:39" in errors[0], errors
    assert numbers[37] not in plan.recipients.numbers  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ['""', '"   "'])
def test_a_message_rendering_empty_is_refused(repo: Repo, name: str) -> None:
    numbers = french_mobiles(3)
    plan = _plan(repo, [(numbers[0], "Ann"), (numbers[1], name), (numbers[2], "Bob")], message="{{ name }}")
    errors = [p.message for p in plan.problems if p.severity == "error"]  # type: ignore[attr-defined]
    assert any("empty" in e and "list.csv:3" in e for e in errors), errors


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
                min_size=1, max_size=8))
def test_every_rendered_text_passes_the_checks_or_is_named(values: list[str]) -> None:
    """Property: the plan's texts are exactly the values that pass the checks; none slips through."""
    from runner.message.encoding import check_text

    found = checks.RenderChecks()
    kept = [v for v in values if found.check(v, lambda: "origin")]
    assert all(not check_text(v) and v.strip() for v in kept)
    refused = len(values) - len(kept)
    assert sum(found.counts.values()) == refused


def test_the_plan_has_a_total_render_budget(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounded by renders, not by wall time: a clock that moves one second per look."""
    ticks = itertools.count()
    monkeypatch.setattr(checks, "CLOCK", lambda: float(next(ticks)))
    monkeypatch.setattr(checks, "PLAN_RENDER_SECONDS", 100.0)
    numbers = french_mobiles(1000)
    with pytest.raises(PlanError, match="longer than 100 s in total") as info:
        _plan(repo, [(n, f"N{i}") for i, n in enumerate(numbers)])
    assert "of 1,000 rendered" in str(info.value)
    looks = next(ticks)
    assert looks <= 103  # it stopped at the budget, not after rendering everyone


def test_a_constant_message_is_not_charged(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "PLAN_RENDER_SECONDS", 0.0)
    plan = _plan(repo, [(n, "x") for n in french_mobiles(5)], message="Hello")
    assert plan.ok  # type: ignore[attr-defined]


def test_plan_out_refuses_to_overwrite_what_is_not_a_plan(repo: Repo) -> None:
    repo.write("list.csv", "phone\n+33612345678\n")
    campaign = repo.write("c.yaml", TEMPLATE.format(message="Hello"))
    before = campaign.read_text()
    for target in ("c.yaml", "list.csv", "notes.json"):
        if target == "notes.json":
            repo.write("notes.json", '{"mine": true}\n')
        result = repo.run("plan", "c.yaml", "--out", target)
        assert result.code == 1 and "refusing to overwrite" in result.err, result.both
    assert campaign.read_text() == before and (repo.path / "list.csv").read_text() == "phone\n+33612345678\n"
    (repo.path / "link.json").symlink_to(repo.path / "c.yaml")
    assert repo.run("plan", "c.yaml", "--out", "link.json").code == 1
    assert repo.run("plan", "c.yaml", "--out", "plan.json").code == 0
    assert repo.run("plan", "c.yaml", "--out", "plan.json").code == 0  # a plan replaces a plan
    assert repo.run("send", "plan.json", "--yes").code == 0


@pytest.mark.parametrize("header", ["phone,Prénom,prenom,PRENOM", "phone,prenom,prenom", "phone,First Name,first_name"])
def test_headers_colliding_after_slugging_are_refused(repo: Repo, header: str) -> None:
    field = "first_name" if "irst" in header else "prenom"
    repo.write("list.csv", header + "\n+33612345678," + ",".join("abc"[: header.count(",") - 1]) + "\n")
    repo.write("c.yaml", TEMPLATE.format(message="Hi {{ " + field + " }}"))
    result = repo.run("plan", "c.yaml")
    assert result.code == 1, result.both
    assert "matches several columns" in result.both and "column 2" in result.both


def test_distinct_headers_still_work(repo: Repo) -> None:
    repo.write("list.csv", "phone,Prénom,nom\n+33612345678,Zoé,Roy\n")
    repo.write("c.yaml", TEMPLATE.format(message="Hi {{ prenom }} {{ nom }}"))
    result = repo.run("send", "c.yaml", "--yes")
    assert result.code == 0, result.both
    assert repo.outbox()[0][2].startswith("Hi Zoé Roy")


def test_error_and_warning_lines_quote_bounded_excerpts(repo: Repo) -> None:
    repo.write("list.csv", "phone,name\n+33612345678," + "N" * 25_000 + "\n+33 6 12 CALL ME" + "x" * 25_000 + ",b\n")
    repo.write("c.yaml", TEMPLATE.format(message="Hi {{ name }}") + "exclude:\n  - csv: list.csv\n")
    for args in (["plan", "c.yaml"], ["plan", "c.yaml", "--format", "markdown"], ["send", "c.yaml", "--yes"]):
        result = repo.run(*args)
        assert result.code == 1, result.both
        assert max(len(line) for line in result.both.splitlines()) < 2_000, args
