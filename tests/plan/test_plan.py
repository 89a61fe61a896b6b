"""What the plan says: audience counts, the text the phone shows, parts, windows, cost and limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runner.check import load_campaign
from runner.plan import PlanOptions, build_plan
from runner.plan.report import plan_summary
from tests.support.repo import Repo, french_mobiles


def plan(repo: Repo, body: str, *, at: str | None = None, numbers: list[str] | None = None) -> dict[str, Any]:
    repo.write("list.csv", "phone,first_name\n" + "\n".join(f"{n},Zoe" for n in (numbers or french_mobiles(3)))
               + "\n")
    path = repo.write("c.yaml", body)
    moment = datetime.fromisoformat(at) if at else None
    result = build_plan(load_campaign(path), PlanOptions(state_dir=repo.state, at=moment, check_provider=False))
    return plan_summary(result, show_numbers=True)


BASE = "id: c\ncommercial: false\nrecipients:\n  - csv: list.csv\n"


def test_commercial_mention_is_appended_and_counted(repo: Repo) -> None:
    text = "x" * 147  # 147 + "\nSTOP au 36111" (14) = 161 septets: two parts
    s = plan(repo, f"id: c\ncommercial: true\nopt_out_text: STOP au 36111\nmessage: {text}\n"
                   "recipients:\n  - csv: list.csv\n", at="2026-11-24T10:00:00+01:00")
    assert s["message"]["example"] == text + "\nSTOP au 36111"
    assert s["message"]["opt_out_text"] == "STOP au 36111"
    assert s["message"]["parts_max"] == 2
    s2 = plan(repo, f"{BASE}message: {text}\n")
    assert s2["message"]["parts_max"] == 1 and s2["message"]["opt_out_text"] is None


def test_ovh_counts_its_own_stop_mention(repo: Repo) -> None:
    text = "y" * 150  # OVHcloud appends its STOP mention: 150 + 11 > 160
    s = plan(repo, f"id: c\ncommercial: true\nmessage: {text}\nprovider: {{name: ovh, service_name: sms-x}}\n"
                   "recipients:\n  - csv: list.csv\n", at="2026-11-24T10:00:00+01:00")
    assert s["message"]["stop_mention"]
    assert s["message"]["parts_max"] == 2


def test_missing_template_field_names_the_rows(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: 'Hi {{{{ last_name }}}}'\n")
    assert not s["ok"]
    problem = next(p["message"] for p in s["problems"] if p["severity"] == "error")
    assert "last_name" in problem and "list.csv:2" in problem and "3 recipient" in problem


def test_template_default_and_fields(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: \"Hi {{{{ first_name }}}} {{{{ last_name | default('!') }}}}\"\n")
    assert s["ok"] and s["message"]["example"] == "Hi Zoe !"


def test_max_parts_fails_and_names_recipients(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: {'z' * 400}\nlimits: {{max_parts: 2}}\n")
    assert not s["ok"]
    assert any("max_parts" in p["message"] and "+33610000000" in p["message"] for p in s["problems"])


def test_max_recipients_and_max_cost(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: hi\nlimits: {{max_recipients: 2, max_cost: 1}}\n")
    errors = [p["message"] for p in s["problems"] if p["severity"] == "error"]
    assert any("max_recipients" in e for e in errors) and any("max_cost" in e for e in errors)


def test_cost_by_country_and_total(repo: Repo) -> None:
    numbers = [*french_mobiles(2), "+32470123456"]
    s = plan(repo, f"{BASE}message: hi\ncost: {{prices: {{BE: 2.5}}}}\n", numbers=numbers)
    assert s["cost"]["total"] == 4.5
    assert s["cost"]["by_country"]["FR"]["parts"] == 2
    assert s["cost"]["by_country"]["BE"]["cost"] == 2.5


def test_commercial_window_saturday_evening_and_sunday(repo: Repo) -> None:
    body = "id: c\ncommercial: true\nopt_out_text: STOP 36111\nmessage: promo\nrecipients:\n  - csv: list.csv\n"
    open_ = plan(repo, body, at="2026-11-28T19:59:00+01:00")
    assert open_["window"]["sendable_now"] == 3 and open_["window"]["held"] == 0
    closed = plan(repo, body, at="2026-11-28T20:00:00+01:00")
    assert closed["window"]["sendable_now"] == 0 and closed["window"]["held"] == 3
    assert closed["window"]["next_opening"].startswith("2026-11-30T08:00:00+01:00")
    holiday = plan(repo, body, at="2026-12-25T10:00:00+01:00")
    assert holiday["window"]["held"] == 3


def test_non_commercial_has_no_window_unless_set(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: hi\n", at="2026-11-29T23:00:00+01:00")
    assert s["window"]["applies"] is False and s["window"]["sendable_now"] == 3
    s2 = plan(repo, f"{BASE}message: hi\nwindow: {{days: [mon], start: '09:00', end: '10:00'}}\n",
              at="2026-11-30T09:30:00+01:00")
    assert s2["window"]["sendable_now"] == 3


def test_schedule_not_after_wins(repo: Repo) -> None:
    s = plan(repo, f"{BASE}message: hi\nschedule: {{not_after: '2026-01-01T00:00:00+01:00'}}\n",
             at="2026-11-24T10:00:00+01:00")
    assert s["window"]["sendable_now"] == 0
    assert any("schedule ended" in p["message"] for p in s["problems"])


def test_transliteration_suggested_and_applied(repo: Repo) -> None:
    text = "C’est l’été « déjà » …"
    suggested = plan(repo, f"{BASE}message: \"{text}\"\n")
    assert suggested["message"]["encoding"] == "UCS-2"
    assert any("transliterate: true would save" in p["message"] for p in suggested["problems"]) or \
        suggested["message"]["parts_max"] == 1
    applied = plan(repo, f"{BASE}message: \"{text}\"\ntransliterate: true\n")
    assert applied["message"]["encoding"] == "GSM-7"
    assert applied["message"]["example"] == "C'est l'été \" déjà \" ..."
    assert applied["message"]["transliteration"]["changes"]


def test_duplicates_exclusions_and_invalid(repo: Repo) -> None:
    numbers = [*french_mobiles(3), french_mobiles(1)[0], "0145678901", "garbage"]
    s = plan(repo, f"{BASE}message: hi\nregion: FR\nexclude:\n  - numbers: ['{french_mobiles(1)[0]}']\n",
             numbers=numbers)
    r = s["recipients"]
    assert (r["rows"], r["valid"], r["invalid"], r["duplicates"], r["excluded"], r["to_send"]) == (6, 4, 2, 1, 1, 2)
    reasons = {g["reason"] for g in s["invalid"]}
    assert any("fixed" in reason for reason in reasons)
