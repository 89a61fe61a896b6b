"""The real `smsrun` command, as a new user and a CI pipeline drive it."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import pytest

from tests.support.repo import Repo, french_mobiles

CAMPAIGN = """\
id: {id}
sender: ACME
message: "{message}"
commercial: false
recipients:
  - csv: list.csv
"""


def make(repo: Repo, numbers: list[str], *, id: str = "promo", message: str = "Hello from ACME") -> None:
    repo.write("list.csv", "phone\n" + "\n".join(numbers) + "\n")
    repo.write("campaign.yaml", CAMPAIGN.format(id=id, message=message))


def test_quick_start_example_sends_through_the_outbox(repo: Repo) -> None:
    repo.copy_examples()
    assert repo.run("validate", "campaigns").code == 0
    result = repo.run("send", "campaigns/welcome.yaml", "--yes", "--json")
    assert result.code == 0, result.both
    report = json.loads(result.out)
    assert report["sent"] == 5 and report["rejected"] == 0 and report["in_doubt"] == 0
    outbox = repo.outbox()
    assert len(outbox) == 5
    assert {text.split(",")[0] for _, _, text in outbox} == {"Hello Alice", "Hello Bruno", "Hello Chloé",
                                                             "Hello Emma", "Hello Gaëlle"}
    listed = repo.run("outbox", "--json")
    assert len(json.loads(listed.out)) == 5


def test_validate_reports_every_problem_with_positions(repo: Repo) -> None:
    repo.write("bad.yaml", "id: Bad Id\nmesage: hi\ncommercial: maybe\nrecipients: []\n")
    result = repo.run("validate", "bad.yaml")
    assert result.code == 1
    assert "Traceback" not in result.both
    lines = result.out.splitlines()
    assert any(line.startswith("bad.yaml:1:5: error:") and "id" in line for line in lines), lines
    assert any(line.startswith("bad.yaml:2:1: error: unknown key 'mesage'") and "did you mean 'message'" in line
               for line in lines), lines
    assert any(line.startswith("bad.yaml:3:13: error:") and "boolean" in line for line in lines), lines
    assert any(line.startswith("bad.yaml:4:13: error:") and "empty" in line for line in lines), lines


def test_validate_json_and_github_formats(repo: Repo) -> None:
    repo.write("bad.yaml", "id: x\nmessage: hi\ncommercial: false\nrecipients:\n  - csv: missing.csv\n")
    data = json.loads(repo.run("validate", "bad.yaml", "--format", "json").out)
    assert data["ok"] is False
    assert data["files"][0]["problems"][0]["line"] == 5
    assert "no such file" in data["files"][0]["problems"][0]["message"]
    github = repo.run("validate", "bad.yaml", GITHUB_ACTIONS="true")
    assert github.code == 1
    assert github.out.startswith("::error file=bad.yaml,line=5,col=")


def test_plan_json_keys_and_detailed_exitcode(repo: Repo) -> None:
    make(repo, [*french_mobiles(3), "+33612", french_mobiles(1)[0]])
    result = repo.run("plan", "campaign.yaml", "--json", "--detailed-exitcode")
    assert result.code == 2, result.both
    plan = json.loads(result.out)
    assert plan["campaign"]["id"] == "promo"
    assert plan["recipients"] == {"rows": 5, "valid": 4, "invalid": 1, "duplicates": 1, "excluded": 0,
                                  "suppressed": 0, "suppressed_by": {}, "already_sent": 0, "rejected_before": 0,
                                  "in_doubt": 0, "to_send": 3}
    assert plan["message"]["encoding"] == "GSM-7"
    assert plan["message"]["parts_min"] == plan["message"]["parts_max"] == 1
    assert plan["total_parts"] == 3
    assert isinstance(plan["problems"], list)
    assert repo.outbox() == []  # a plan never sends
    assert repo.run("send", "campaign.yaml", "--yes").code == 0
    again = repo.run("plan", "campaign.yaml", "--json", "--detailed-exitcode")
    assert again.code == 0
    assert json.loads(again.out)["recipients"]["already_sent"] == 3


def test_plan_markdown_for_pull_requests(repo: Repo) -> None:
    make(repo, french_mobiles(2))
    result = repo.run("plan", "campaign.yaml", "--format", "markdown")
    assert result.code == 0
    assert result.out.startswith("### smsrun plan: `promo`")
    assert "| **2** |" in result.out


def test_saved_plan_is_sent_exactly_and_refused_when_stale(repo: Repo) -> None:
    make(repo, french_mobiles(4))
    assert repo.run("plan", "campaign.yaml", "--out", "plan.json").code == 0
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(5)) + "\n")  # the source changed
    stale = repo.run("send", "plan.json", "--yes")
    assert stale.code == 1 and "stale" in stale.err
    assert repo.outbox() == []
    assert repo.run("plan", "campaign.yaml", "--out", "plan.json").code == 0
    ok = repo.run("send", "plan.json", "--yes", "--json")
    assert ok.code == 0, ok.both
    assert json.loads(ok.out)["sent"] == 5
    # the ledger changed: the same saved plan is now stale
    assert repo.run("send", "plan.json", "--yes").code == 1


def test_non_interactive_send_needs_yes(repo: Repo) -> None:
    make(repo, french_mobiles(2))
    result = repo.run("send", "campaign.yaml")
    assert result.code == 1
    assert "--yes" in result.err
    assert repo.outbox() == []


def test_rerun_sends_nothing_and_new_rows_only(repo: Repo) -> None:
    make(repo, french_mobiles(3))
    assert json.loads(repo.run("send", "campaign.yaml", "--yes", "--json").out)["sent"] == 3
    assert json.loads(repo.run("send", "campaign.yaml", "--yes", "--json").out)["sent"] == 0
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(5)) + "\n")
    report = json.loads(repo.run("send", "campaign.yaml", "--yes", "--json").out)
    assert report["sent"] == 2 and report["skipped"] == 3
    assert sorted(r for _, r, _ in repo.outbox()) == sorted(french_mobiles(5))


def test_changing_the_message_after_sending_started_is_refused(repo: Repo) -> None:
    make(repo, french_mobiles(2))
    assert repo.run("send", "campaign.yaml", "--yes").code == 0
    make(repo, french_mobiles(3), message="A different text")
    plan = repo.run("plan", "campaign.yaml")
    assert plan.code == 1 and "new `id`" in plan.out
    send = repo.run("send", "campaign.yaml", "--yes")
    assert send.code == 1
    assert len(repo.outbox()) == 2
    make(repo, french_mobiles(3), id="promo-v2", message="A different text")
    assert json.loads(repo.run("send", "campaign.yaml", "--yes", "--json").out)["sent"] == 3


def _outbox_count(repo: Repo) -> int:
    path = repo.state / "outbox.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_killed_send_resumes_without_duplicate(repo: Repo) -> None:
    numbers = french_mobiles(6000)
    make(repo, numbers)
    repo.write("campaign.yaml", CAMPAIGN.format(id="promo", message="Hello") +
               "provider: {name: outbox, batch_size: 50}\n")
    proc = repo.popen("send", "campaign.yaml", "--yes")
    deadline = time.monotonic() + 60
    while _outbox_count(repo) < 500 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _outbox_count(repo)
    assert 0 < before < len(numbers), "the kill must land mid-send"
    resumed = repo.run("send", "campaign.yaml", "--yes", "--json")
    assert resumed.code == 0, resumed.both
    sent = [r for _, r, _ in repo.outbox()]
    assert len(sent) == len(set(sent)), "a recipient got the message twice"
    assert sorted(sent) == sorted(numbers), "a recipient was silently dropped"
    status = json.loads(repo.run("status", "campaign.yaml", "--json").out)
    assert status["sent"] == len(numbers) and status["in_doubt"] == 0 and status["pending"] == 0


def test_ctrl_c_settles_and_exits_130_then_resumes(repo: Repo) -> None:
    numbers = french_mobiles(4000)
    make(repo, numbers)
    repo.write("campaign.yaml", CAMPAIGN.format(id="promo", message="Hello") +
               "provider: {name: outbox, batch_size: 20}\nlimits: {rate: 4000}\n")
    proc = repo.popen("send", "campaign.yaml", "--yes")
    deadline = time.monotonic() + 60
    while _outbox_count(repo) < 200 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out + err and "Traceback" not in err
    status = json.loads(repo.run("status", "campaign.yaml", "--json").out)
    assert status["in_doubt"] == 0, "Ctrl-C must settle the in-flight request"
    assert repo.run("send", "campaign.yaml", "--yes").code == 0
    sent = [r for _, r, _ in repo.outbox()]
    assert sorted(sent) == sorted(numbers)


def test_second_concurrent_send_stops_at_once(repo: Repo) -> None:
    numbers = french_mobiles(3000)
    make(repo, numbers)
    repo.write("campaign.yaml", CAMPAIGN.format(id="promo", message="Hello") +
               "provider: {name: outbox, batch_size: 10}\nlimits: {rate: 2000}\n")
    first = repo.popen("send", "campaign.yaml", "--yes")
    deadline = time.monotonic() + 60
    while _outbox_count(repo) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # the first run is frozen while the second tries: on a busy machine it could otherwise finish before
    # the second has even started (a frozen holder keeps its lock, as a frozen CI runner does)
    first.send_signal(signal.SIGSTOP)
    try:
        second = repo.run("send", "campaign.yaml", "--yes", timeout=20)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.code == 1
    assert "already being sent" in second.err
    first.communicate(timeout=120)
    assert first.returncode == 0
    sent = [r for _, r, _ in repo.outbox()]
    assert sorted(sent) == sorted(numbers)


def test_in_doubt_without_reconciliation_is_reported_not_resent(repo: Repo) -> None:
    make(repo, french_mobiles(3))
    assert repo.run("plan", "campaign.yaml").code == 0
    # simulate a run that died between claim and settle, on a provider that cannot tell
    repo.run("send", "campaign.yaml", "--yes")
    db = sqlite3.connect(repo.state / "ledger.sqlite")
    db.execute("UPDATE messages SET status = 'claimed', batch_id = NULL WHERE recipient = ?", (french_mobiles(1)[0],))
    db.commit()
    db.close()
    status = json.loads(repo.run("status", "promo", "--json", f"--state-dir={repo.state}").out)
    assert status["in_doubt"] == 1
    plan = json.loads(repo.run("plan", "campaign.yaml", "--json").out)
    assert plan["recipients"]["in_doubt"] == 1 and plan["recipients"]["to_send"] == 0
    again = json.loads(repo.run("send", "campaign.yaml", "--yes", "--json").out)
    assert again["sent"] == 0
    assert json.loads(repo.run("status", "promo", "--json").out)["in_doubt"] == 1
    resent = json.loads(repo.run("send", "campaign.yaml", "--yes", "--json", "--resend-in-doubt").out)
    assert resent["sent"] == 1


def test_optout_list_is_excluded_from_every_campaign(repo: Repo) -> None:
    numbers = french_mobiles(3)
    make(repo, numbers)
    assert repo.run("optout", "add", numbers[0], "--reason", "replied STOP").code == 0
    listed = repo.run("optout", "list", "--json", "--show-numbers")
    assert json.loads(listed.out)[0]["number"] == numbers[0]
    assert json.loads(listed.out)[0]["reason"] == "replied STOP"
    plan = json.loads(repo.run("plan", "campaign.yaml", "--json").out)
    assert plan["recipients"]["suppressed"] == 1 and plan["recipients"]["to_send"] == 2
    assert plan["recipients"]["suppressed_by"] == {"manual": 1}
    assert "opted out        1 (manual: 1)" in repo.run("plan", "campaign.yaml").out
    refused = repo.run("optout", "remove", numbers[0])
    assert refused.code == 1 and "reason" in refused.err
    assert repo.run("optout", "remove", numbers[0], "--reason", "asked to rejoin").code == 0
    assert json.loads(repo.run("plan", "campaign.yaml", "--json").out)["recipients"]["to_send"] == 3


def test_schema_command_prints_the_schema() -> None:
    from tests.support.repo import ROOT

    repo = Repo(ROOT)
    result = repo.run("schema")
    assert json.loads(result.out)["$id"].endswith("campaign.schema.json")


@pytest.mark.parametrize("command", ["validate", "plan", "send", "status", "outbox", "schema", "optout"])
def test_every_command_has_help(repo: Repo, command: str) -> None:
    result = repo.run(command, "--help")
    assert result.code == 0
    assert "Usage:" in result.out


def test_bad_input_never_shows_a_traceback(repo: Repo) -> None:
    repo.write("c.yaml", "id: x\nmessage: 'Hi {{ name'\ncommercial: false\n"
                         "recipients:\n  - numbers: ['+33612345678']\n")
    result = repo.run("plan", "c.yaml")
    assert result.code == 1 and "Traceback" not in result.both
    assert "c.yaml:2:" in result.err and "template" in result.err
    missing = repo.run("plan", "nope.yaml")
    assert missing.code == 1 and "no such file" in missing.err
