"""What a reviewer notices: the outbox's header and limit, held times in each locality's own time, one
problem listed once, one number format, and `--detailed-exitcode` when nothing can be sent now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli.render import _n
from tests.support.repo import Repo, french_mobiles

WORLD = """\
id: w
message: "Hi"
commercial: true
opt_out_text: STOP 36111
recipients:
  - numbers: ["+33611111111", "+590690001122", "+15145551234", "+33622222222"]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_one_number_format() -> None:
    assert [_n(45597), _n(45597.0), _n(1234.5), _n(0.0395), _n(2_000_000.0), _n("x")] == \
        ["45,597", "45,597", "1,234.5", "0.0395", "2,000,000", "x"]


def test_outbox_has_a_header_and_a_default_limit_with_how_many_more(repo: Repo) -> None:
    numbers = ", ".join(f'"{n}"' for n in french_mobiles(25))
    repo.write("c.yaml", f"id: c\nmessage: Hi\ncommercial: false\nrecipients:\n  - numbers: [{numbers}]\n")
    assert repo.run("send", "c.yaml", "--yes").code == 0
    out = repo.run("outbox").out.splitlines()
    assert out[0].split() == ["id", "recorded", "at", "(UTC)", "campaign", "to", "text"]
    assert len(out) == 1 + 20 + 1 and out[-1].startswith("… 5 more (older;")
    assert out[-2].split()[0] == "25"  # the newest last
    assert len(repo.run("outbox", "--limit", "0").out.splitlines()) == 26
    assert len(json.loads(repo.run("outbox", "--json").out)) == 25


def test_held_recipients_show_when_their_window_opens_in_their_own_time(repo: Repo) -> None:
    repo.write("w.yaml", WORLD)
    # Saturday 21:30 in Paris: the window (mon-sat 08-20) reopens Monday 08:00, in each locality's time
    result = repo.run("plan", "w.yaml", "--at", "2026-12-05T21:30:00+01:00")
    assert "FR ×2 until Mon 2026-12-07 08:00 Europe/Paris" in result.out, result.out
    data = json.loads(repo.run("plan", "w.yaml", "--at", "2026-12-05T21:30:00+01:00", "--json").out)
    fr = next(lw for lw in data["window"]["by_locality"] if lw["region"] == "FR")
    assert fr["next_opening_local"] == "Mon 2026-12-07 08:00" and fr["next_opening"] == "2026-12-07T08:00:00+01:00"
    info = [p["message"] for p in data["problems"] if "outside their send window" in p["message"]]
    assert info == ["2 recipient(s) are outside their send window now; the next opens Mon 2026-12-07 08:00 "
                    "Europe/Paris"]


def test_detailed_exitcode_is_0_when_nothing_can_be_sent_now_and_says_why(repo: Repo) -> None:
    repo.write("w.yaml", WORLD)
    closed = repo.run("plan", "w.yaml", "--at", "2026-12-06T23:30:00+01:00", "--detailed-exitcode")
    assert closed.code == 0, closed.both
    assert "nothing can be sent now: all 4 recipient(s) are outside their send window" in closed.err
    assert "Europe/Paris" in closed.err
    open_now = repo.run("plan", "w.yaml", "--at", "2026-12-05T21:30:00+01:00", "--detailed-exitcode")
    assert open_now.code == 2 and "nothing can be sent now" not in open_now.err
    later = WORLD.replace("id: w", "id: later") + 'schedule: {not_before: "2027-01-04T09:00:00+01:00"}\n'
    repo.write("later.yaml", later)
    waiting = repo.run("plan", "later.yaml", "--at", "2026-12-05T21:30:00+01:00", "--detailed-exitcode")
    assert waiting.code == 0 and "the schedule starts at 2027-01-04T09:00:00+01:00" in waiting.err


def test_invalid_numbers_are_listed_once_with_counts_in_one_format(repo: Repo) -> None:
    repo.write("list.csv", "phone\n" + "not a number\n" * 1200 + "+33611111111\n")
    repo.write("c.yaml", "id: c\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n")
    out = repo.run("plan", "c.yaml").out
    assert out.count("not a phone number") == 1, out
    assert "warning: 1,200 invalid number(s), not a phone number" in out and "and 1,195 more" in out
