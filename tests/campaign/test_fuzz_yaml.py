"""Hostile and broken campaign files: the loader answers every input with a valid Campaign or a
CampaignError whose diagnostics all have a position (``path:line:col``, line >= 1) - never another
exception, never a hang. Valid results are planned too: a plan is a Plan or an SmsrunError.

Property tests feed random bytes, random text, YAML-token soup, wrong-typed values in a valid campaign
and random edits of a valid campaign; fixed cases cover the classic bombs (billion laughs, deep nesting,
huge strings, recursive aliases, NUL bytes, BOMs, tabs, duplicate keys).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.campaign.model import Campaign
from runner.check import load_campaign
from runner.errors import CampaignError, SmsrunError
from tests.support.budget import budget

VALID = """\
id: fuzz-campaign
description: A campaign the fuzzer starts from
sender: ACME Shop
message: "Hello {{ first_name | default('there') }}, -30% today!"
commercial: false
region: FR
recipients:
  - numbers: ["+33612345678", "06 98 76 54 32"]
  - csv: list.csv
    column: phone
exclude:
  - numbers: ["+33755667788"]
schedule:
  not_before: "2026-12-01T09:00:00+01:00"
window:
  days: [mon, tue, wed]
  start: "09:00"
  end: "18:00"
limits:
  max_recipients: 100
  max_parts: 3
cost:
  unit: credits
  prices: {FR: 1}
provider: outbox
"""

CSV = "phone;first_name\n+33611111111;Alice\n+33622222222;Bruno\n"
POSITION = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (error|warning): .+", re.S)

# SMSRUN_FUZZ_EXAMPLES=20000 for a deeper run. No wall-time deadline (a busy CI machine must not fail the suite):
# each load and plan runs under a work budget instead (calls and the growth of the peak resident size; the
# heaviest fixed case, "long list", takes about 17 M calls and 51 MB), and pytest-timeout catches a hang in C
# code (a generous guard: the call counting makes loads slower, and CI machines are busy).
LOAD_CALLS, LOAD_BYTES, PLAN_CALLS = 50_000_000, 512 * 2**20, 20_000_000
FAST = settings(max_examples=int(os.environ.get("SMSRUN_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository with the CSV the valid campaign names (module-scoped: hypothesis reuses it)."""
    root = tmp_path_factory.mktemp("fuzzrepo")
    (root / ".git").mkdir()
    (root / "list.csv").write_text(CSV, encoding="utf-8")
    yield root


def check_outcome(path: Path, data: bytes, *, plan: bool = True) -> Campaign | CampaignError:
    """Load ``data`` as a campaign file: a Campaign, or a CampaignError whose every diagnostic is
    positioned inside the file. Any other exception fails the test."""
    path.write_bytes(data)
    shown = os.path.relpath(path)
    lines = len(re.findall(rb"\r\n?|\n", data)) + 1  # as editors count them
    try:
        with budget(calls=LOAD_CALLS, rss_growth=LOAD_BYTES):
            campaign = load_campaign(path)
    except CampaignError as exc:
        assert exc.diagnostics, f"a CampaignError without positions: {exc}"
        for diagnostic in exc.diagnostics:
            assert diagnostic.path == shown, diagnostic
            assert 1 <= diagnostic.line <= lines + 1, (diagnostic, lines)
            assert diagnostic.col >= 1, diagnostic
            assert diagnostic.message.strip(), diagnostic
            assert POSITION.match(str(diagnostic)), str(diagnostic)
        assert "Traceback" not in str(exc)
        return exc
    assert isinstance(campaign, Campaign)
    if plan:
        check_plan(campaign, path.parent)
    return campaign


def check_plan(campaign: Campaign, root: Path) -> None:
    """A loaded campaign plans, or fails with a user error (never a crash)."""
    from runner.plan import PlanOptions, build_plan

    try:
        with budget(calls=PLAN_CALLS):
            result = build_plan(campaign, PlanOptions(state_dir=root / "state",
                                                      at=datetime(2026, 12, 2, 10, tzinfo=UTC), check_provider=False))
    except SmsrunError as exc:
        assert str(exc).strip()
        return
    assert result.digest


# -- random input ---------------------------------------------------------------------------------------------------
@FAST
@given(data=st.binary(max_size=3000))
@example(data=b"\xff\xfe\x00i\x00d\x00:")  # UTF-16 with BOM
@example(data=b"\xef\xbb\xbf\xef\xbb\xbfid: x")  # two BOMs
@example(data=b"id: \xc3\x28")  # invalid UTF-8
@example(data=b"\x00")
def test_random_bytes(workdir: Path, data: bytes) -> None:
    check_outcome(workdir / "bytes.yaml", data)


@FAST
@given(text=st.text(max_size=2000))
@example(text="\t")
@example(text="\ufeff")
@example(text="id: x\u2028message: y")
@example(text="\x85\x85")
def test_random_unicode(workdir: Path, text: str) -> None:
    check_outcome(workdir / "text.yaml", text.encode("utf-8"))


TOKENS = [
    "id", "message", "commercial", "recipients", "numbers", "csv", "addressbook", "sender", "schedule", "window",
    "limits", "cost", "provider", "exclude", "region", "not_before", "days", "max_parts", "prices", "url",
    ":", ": ", "-", "- ", "[", "]", "{", "}", ",", "\n", "\n  ", "\n    ", "  ", "\t", "\r\n", "\r", "#",
    "&a ", "*a", "&b ", "*b", "<<: ", "!!int ", "!!bool ", "!!float ", "!!str ", "!!binary ", "!!timestamp ",
    "!!set ", "!!omap ", "!!python/object:os.system ", "!foo ", "? ", "|", ">", "|-", "---", "...", "%YAML 1.1",
    "'", '"', "\\", "\\x00", "\\ud800", "~", "null", "true", "false", "NO", "yes", "0x1F", "0o17", "1e999",
    ".nan", ".inf", "-.inf", "007", "+33612345678", "06 12 34 56 78", "2026-12-01", "2026-12-01T09:00:00+01:00",
    "24:00", "short-code", "ACME", "outbox", "ovh", "{{ first_name }}", "{%", "%}", "{{", "}}", "{#",
    "'{{ x * 10**9 }}'", "list.csv", "../../etc/passwd", "/etc/passwd", "http://127.0.0.1/x", "\ufeff", "\x00",
    "\x01", "\u2028", "\xa0", "é", "😀", "9" * 120, "a" * 300,
]


@FAST
@given(parts=st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=80))
def test_yaml_token_soup(workdir: Path, parts: list[str]) -> None:
    check_outcome(workdir / "soup.yaml", "".join(parts).encode("utf-8", "surrogatepass"))


def json_values() -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
               | st.sampled_from(["+33612345678", "list.csv", "../outside.csv", "short-code", "ABCDEFGHIJKL",
                                  "mon", "25:00", "2026-13-01T00:00:00Z", "http://x.example/a", "{{ x", "", "FR"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12) | st.sampled_from(TOKENS[:20]), inner, max_size=4),
                        max_leaves=12)


def valid_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(VALID)
    return data


KEY_PATHS = [("id",), ("sender",), ("message",), ("commercial",), ("region",), ("recipients",), ("recipients", 0),
             ("recipients", 0, "numbers"), ("recipients", 0, "numbers", 0), ("recipients", 1, "csv"),
             ("recipients", 1, "column"), ("exclude",), ("exclude", 0), ("schedule",), ("schedule", "not_before"),
             ("window",), ("window", "days"), ("window", "start"), ("limits",), ("limits", "max_parts"),
             ("limits", "max_recipients"), ("cost",), ("cost", "prices"), ("cost", "prices", "FR"), ("provider",),
             ("description",), ("opt_out_text",), ("transliterate",), ("recipients", 1, "delimiter"),
             ("recipients", 1, "encoding"), ("recipients", 1, "header")]


def set_path(data: Any, key: tuple[Any, ...], value: Any) -> None:
    for part in key[:-1]:
        data = data[part]
    if isinstance(data, list):
        data[key[-1]] = value
    else:
        data[key[-1]] = value


@FAST
@given(changes=st.lists(st.tuples(st.sampled_from(KEY_PATHS), json_values()), min_size=1, max_size=4),
       flow=st.booleans())
@example(changes=[(("limits", "max_parts"), float("nan"))], flow=False)
@example(changes=[(("id",), 2026)], flow=False)
@example(changes=[(("recipients", 0, "numbers", 0), 33612345678)], flow=True)
@example(changes=[(("recipients", 1, "encoding"), "utf-16")], flow=False)
def test_wrong_types_everywhere(workdir: Path, changes: list[tuple[tuple[Any, ...], Any]], flow: bool) -> None:
    data = valid_data()
    for key, value in changes:
        try:
            set_path(data, key, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced the parent
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    check_outcome(workdir / "types.yaml", text.encode("utf-8"))


@FAST
@given(data=st.data())
def test_random_edits_of_a_valid_campaign(workdir: Path, data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        kind = data.draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line", "swap-lines"]))
        piece = data.draw(st.sampled_from(TOKENS) | st.text(max_size=3), label="piece")
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20)):]
        elif kind == "replace":
            text = text[:at] + piece + text[at + len(piece):]
        else:
            lines = text.split("\n")
            i = data.draw(st.integers(0, len(lines) - 1))
            j = data.draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate-line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    check_outcome(workdir / "edited.yaml", text.encode("utf-8", "surrogatepass"))


def test_the_valid_campaign_is_valid(workdir: Path) -> None:
    campaign = check_outcome(workdir / "valid.yaml", VALID.encode())
    assert isinstance(campaign, Campaign) and campaign.id == "fuzz-campaign"


# -- bombs and classics ---------------------------------------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def campaign_with(extra: str) -> str:
    return VALID + extra


BOMBS: dict[str, tuple[str | bytes, str]] = {
    # name: (content, a fragment of the expected first message; "" = any positioned error)
    "billion laughs": (billion_laughs(), "alias bomb"),
    "billion laughs in the message": (
        billion_laughs() + "id: x\nmessage: *a9\ncommercial: false\nrecipients: [{numbers: ['+33612345678']}]\n",
        "alias bomb"),
    "quadratic blowup": ("a: &a " + "x" * 100_000 + "\nb: [" + ",".join(["*a"] * 10_000) + "]\n", ""),
    "deep flow nesting": ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "nest"),
    "deep block nesting": ("".join(" " * i + "a:\n" for i in range(200)) + " " * 200 + "a: 1\n", "nested deeper"),
    "deep mapping": ("a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nest"),
    "recursive list alias": ("recipients: &r [*r]\n", "recursive alias"),
    "recursive mapping alias": ("&m {provider: *m}\n", "recursive alias"),
    "recursive provider settings": (campaign_with("").replace("provider: outbox",
                                                              "provider: &p {name: outbox, x: *p}"), "recursive"),
    "too large": ("message: '" + "x" * (3 * 1024 * 1024) + "'\n", "larger than"),
    "huge message under the cap": (campaign_with("").replace('message: "', 'message: "' + "x" * 1_500_000),
                                   "message"),
    "huge single line": ("a" * 1_500_000 + "\n", ""),
    "too many keys": ("\n".join(f"k{i}: {i}" for i in range(100_000)) + "\n", "nodes"),
    "many unknown keys": ("\n".join(f"k{i}: {i}" for i in range(20_000)) + "\n", "unknown key"),
    "long list": ("recipients: [" + ",".join(["{numbers: ['+33612345678']}"] * 20_000) + "]\n", ""),
    "too many nodes": ("a: [" + ",".join(["1"] * 210_000) + "]\n", "nodes"),
    "NUL byte": (b"id: x\nmessage: a\x00b\n", "NUL"),
    "invalid UTF-8": (b"id: x\nmessage: \xe9t\xe9\n", "UTF-8"),
    "UTF-16": ("id: x\n".encode("utf-16"), ""),
    "tab indentation": ("recipients:\n\t- numbers: ['+33612345678']\n", "tab"),
    "duplicate key": (VALID + "id: other\n", "duplicate key 'id'"),
    "python tag": ("id: !!python/object/apply:os.system ['echo hacked']\n", "constructor"),
    "bad bool tag": ("commercial: !!bool maybe\n", "cannot read 'maybe' as bool"),
    "bad int tag": ("limits: {max_parts: !!int many}\n", "cannot read 'many' as int"),
    "bad timestamp tag": ("schedule: {not_before: !!timestamp 2026-13-01}\n", "month"),
    "bad binary": ("x: !!binary 'not base64!'\n", ""),
    "int key": ("1: x\n", "quote it"),
    "null key": ("~: x\n", "quote it"),
    "list key": ("? [a, b]\n: x\n", "plain name"),
    "control character": ("id: x\nmessage: a\x07b\n", "U+0007"),
    "U+FFFE": ("id: x\nmessage: a\ufffeb\n", "U+FFFE"),
    "surrogate escape": ('message: "\\ud800"\n', ""),
    "two documents": ("id: a\n---\nid: b\n", ""),
    "long number": ("limits: {max_recipients: " + "9" * 5000 + "}\n", "too long"),
    "long hex number": ("limits: {max_recipients: 0x" + "f" * 5000 + "}\n", "too long"),
    "nan limit": (campaign_with("").replace("max_parts: 3", "max_parts: 3\n  rate: .nan"), "finite"),
    "inf price": (campaign_with("").replace("{FR: 1}", "{FR: .inf}"), "finite"),
    "merge key of a scalar": ("<<: 3\n", "merging"),
    "undefined alias": ("id: *nope\n", "undefined alias"),
    "CR line endings": (VALID.replace("\n", "\r").replace("id: fuzz-campaign", "id: Fuzz"), ""),
    "CRLF line endings": (VALID.replace("\n", "\r\n"), ""),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_and_classics(workdir: Path, name: str) -> None:
    content, expected = BOMBS[name]
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    outcome = check_outcome(workdir / "bomb.yaml", data)  # within the work budget of every load
    if expected:
        assert isinstance(outcome, CampaignError), outcome
        assert any(expected.lower() in d.message.lower() for d in outcome.diagnostics), outcome.diagnostics


def test_crlf_campaign_loads_like_the_lf_one(workdir: Path) -> None:
    lf = check_outcome(workdir / "lf.yaml", VALID.encode())
    crlf = check_outcome(workdir / "crlf.yaml", VALID.replace("\n", "\r\n").encode())
    bom = check_outcome(workdir / "bom.yaml", b"\xef\xbb\xbf" + VALID.encode())
    assert isinstance(lf, Campaign) and isinstance(crlf, Campaign) and isinstance(bom, Campaign)
    for key in ("limits", "recipients", "provider"):
        assert (lf.positions[key].line, lf.positions[key].col) == (crlf.positions[key].line, crlf.positions[key].col) \
            == (bom.positions[key].line, bom.positions[key].col)


def test_a_line_separator_inside_a_message_does_not_shift_later_positions(workdir: Path) -> None:
    """YAML counts U+2028 as a line break; editors and GitHub annotations do not."""
    text = VALID.replace("-30% today!", "-30%\u2028today!") + "mesage: typo\n"
    outcome = check_outcome(workdir / "ls.yaml", text.encode())
    assert isinstance(outcome, CampaignError)
    typo_line = text.split("\n").index("mesage: typo") + 1
    assert [(d.line, d.col) for d in outcome.diagnostics] == [(typo_line, 1)], outcome.diagnostics


def test_every_problem_of_a_hostile_file_is_reported_at_its_line(workdir: Path) -> None:
    text = ("id: a\n"
            "message: !!int x\n"
            "commercial: !!bool perhaps\n"
            "1: one\n"
            "limits: {max_parts: " + "7" * 200 + "}\n"
            "recipients: [{numbers: ['+33612345678']}]\n")
    outcome = check_outcome(workdir / "multi.yaml", text.encode())
    assert isinstance(outcome, CampaignError)
    assert [(d.line, d.col) for d in outcome.diagnostics] == [(2, 10), (3, 13), (4, 1), (5, 21)], outcome.diagnostics
