"""Secrets and phone numbers in what smsrun prints and saves.

Every command runs as a real subprocess with provider secrets in its environment (distinctive values);
no secret may appear in any output, saved plan or file of the state folder. Phone numbers are masked
in every output unless ``--show-numbers`` is given (which, as a control, shows them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_ovh import FakeOvh
from tests.support.repo import Repo, Result

SECRETS = {
    "OVH_APPLICATION_KEY": "ovhAppKey7c1eQ9",
    "OVH_APPLICATION_SECRET": "ovhAppSecret5b9d2fW4",
    "OVH_CONSUMER_KEY": "ovhConsumer3a7e91Zk",
    "TWILIO_AUTH_TOKEN": "twilioToken8d4c6bYe",
    "KANNEL_PASSWORD": "kannelPass2f8a0eRt",
    "SMSRUN_RECEIVER_TOKEN": "receiverToken6e3bUu",
}
NOT_SECRET = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2, "KANNEL_USERNAME": "smsrun"}

# the welcome campaign's recipients (address book groups vip/paris and the newsletter CSV), as E.164 and as
# written in the files
SENT = ["+33612345678", "+33698765432", "+33781234567", "+33611223344", "+33644556677"]
WRITTEN = ["+33 6 12 34 56 78", "06 98 76 54 32", "+33 7 81 23 45 67", "06 11 22 33 44", "+33 7 55 66 77 88",
           "0033644556677", "01 23 45 67 89"]
NUMBERS = [*SENT, *(n[1:] for n in SENT), "+33755667788", *WRITTEN]


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in SECRETS.items() if value.encode() in data]


def numbers_in(text: str) -> list[str]:
    return [n for n in NUMBERS if n in text]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    repo = Repo(tmp_path / "repo")
    repo.copy_examples()
    # a variant whose plan fails and names recipients in its error (too many parts)
    repo.write("campaigns/long.yaml", (repo.path / "campaigns" / "welcome.yaml").read_text(encoding="utf-8")
               .replace("id: welcome-2026", "id: long-2026")
               .replace("limits:\n  max_recipients: 1000", "limits:\n  max_recipients: 1000\n  max_parts: 1")
               .replace("is ready in store.", "is ready in store. " + "More news soon. " * 12))
    yield repo


class Runner:
    def __init__(self, repo: Repo, env: dict[str, str]) -> None:
        self.repo = repo
        self.env = env
        self.seen: list[tuple[str, Result]] = []

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        proc = subprocess.run([sys.executable, "-m", "runner", *args], cwd=self.repo.path,
                              env=self.repo.env(**self.env), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        self.seen.append((" ".join(args), result))
        assert "Traceback" not in result.both, (args, result.both)
        if code is not None:
            assert result.code == code, (args, result.code, result.both)
        assert not leaks(result.both), (args, leaks(result.both), result.both)
        return result


def assert_no_secret_in_files(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes()), (path, leaks(path.read_bytes()))


def test_no_command_prints_or_saves_a_secret_and_numbers_are_masked(repo: Repo) -> None:
    run = Runner(repo, {**SECRETS, **NOT_SECRET})
    plans = [
        # campaigns/long.yaml needs more parts than its max_parts: validate sees it too, from the rows
        run("validate", code=1),
        run("validate", "--format", "json", code=1),
        run("validate", "--format", "github", code=1),
        run("plan", "campaigns/welcome.yaml"),
        run("plan", "campaigns/welcome.yaml", "--json"),
        run("plan", "campaigns/welcome.yaml", "--format", "markdown"),
        run("plan", "campaigns/welcome.yaml", "--out", "plan.json"),
        run("plan", "campaigns/long.yaml", code=1),
        run("plan", "campaigns/long.yaml", "--json", code=1),
        run("plan", "campaigns/black-friday.yaml", "--at", "2026-11-27T10:00:00+01:00"),
    ]
    sent = run("send", "plan.json", "--yes", "--json")
    assert json.loads(sent.out)["sent"] == 5
    after = [
        sent,
        run("send", "campaigns/welcome.yaml", "--yes", "--json"),  # nothing more to send
        run("status", "campaigns/welcome.yaml"),
        run("status", "campaigns/welcome.yaml", "--json"),
        run("status", "welcome-2026"),
        run("outbox"),
        run("outbox", "--json"),
        run("outbox", "--campaign", "welcome-2026", "--limit", "2"),
        run("optout", "add", "+33612345678", "06 98 76 54 32", "--region", "FR", "--reason", "asked by phone"),
        run("optout", "list"),
        run("optout", "list", "--json"),
        run("plan", "campaigns/welcome.yaml", "--json"),  # with opted-out numbers now
    ]
    for command, result in run.seen:
        assert not numbers_in(result.both), (command, numbers_in(result.both), result.both)
    saved = (repo.path / "plan.json").read_text(encoding="utf-8")
    assert not leaks(saved) and not numbers_in(saved)
    assert_no_secret_in_files(repo.path)

    # the plan that failed named its recipients, masked
    failed = json.loads(plans[8].out)
    parts_error = next(p["message"] for p in failed["problems"] if "max_parts" in p["message"])
    assert "+336••••••78" in parts_error
    # masked forms are there, so the masking is what hid the numbers
    assert "+336••••••78" in after[6].out and "•" in plans[4].out

    # controls: --show-numbers shows them
    shown = run("outbox", "--json", "--show-numbers")
    assert set(SENT) <= {m["recipient"] for m in json.loads(shown.out)}
    assert "01 23 45 67 89" in run("plan", "campaigns/welcome.yaml", "--json", "--show-numbers").out
    assert "+33611223344" in run("plan", "campaigns/long.yaml", "--show-numbers", code=1).out  # not opted out
    assert "+33612345678" in run("optout", "list", "--show-numbers").out


def test_kannel_and_twilio_campaigns_do_not_print_their_secrets(repo: Repo) -> None:
    welcome = (repo.path / "campaigns" / "welcome.yaml").read_text(encoding="utf-8")
    # an unreachable provider (port 9), and a run that stops at the first failed request
    welcome = welcome.replace("max_recipients: 1000", "max_recipients: 1000\n  max_consecutive_failures: 1")
    repo.write("campaigns/kannel.yaml", welcome.replace("id: welcome-2026", "id: kannel-2026")
               + "provider:\n  name: kannel\n  url: http://127.0.0.1:9/cgi-bin/sendsms\n")
    repo.write("campaigns/twilio.yaml", welcome.replace("id: welcome-2026", "id: twilio-2026")
               + "provider:\n  name: twilio\n  base_url: http://127.0.0.1:9\n")
    run = Runner(repo, {**SECRETS, **NOT_SECRET})
    for campaign in ("campaigns/kannel.yaml", "campaigns/twilio.yaml"):
        run("validate", campaign)
        run("plan", campaign, code=None)
        run("plan", campaign, "--json", code=None)
        # the send fails, and says so without secrets
        assert run("send", campaign, "--yes", "--json", code=None).code != 0
        run("status", campaign, code=None)
    for command, result in run.seen:
        assert not numbers_in(result.both), (command, numbers_in(result.both), result.both)
    assert_no_secret_in_files(repo.path)


def test_ovh_campaigns_do_not_print_their_secrets_even_when_refused(repo: Repo) -> None:
    welcome = (repo.path / "campaigns" / "welcome.yaml").read_text(encoding="utf-8")
    repo.write("campaigns/ovh.yaml", welcome.replace("id: welcome-2026", "id: ovh-2026")
               + "provider: ovh\n")
    with FakeOvh(application_key=SECRETS["OVH_APPLICATION_KEY"], application_secret=SECRETS["OVH_APPLICATION_SECRET"],
                 consumer_key=SECRETS["OVH_CONSUMER_KEY"], senders=["ACME Shop"]) as fake:
        env = {**SECRETS, **NOT_SECRET, "OVH_ENDPOINT": fake.base_url, "OVH_SERVICE_NAME": fake.service_name}
        run = Runner(repo, env)
        run("plan", "campaigns/ovh.yaml")
        run("plan", "campaigns/ovh.yaml", "--json")
        result = run("send", "campaigns/ovh.yaml", "--yes", "--json")
        assert json.loads(result.out)["sent"] == 5
        assert len(fake.requests) > 0  # the secrets were used for real signed requests
        run("status", "campaigns/ovh.yaml", "--refresh", code=None)
        run("status", "campaigns/ovh.yaml", "--json")
    # a fake that expects another secret: the credentials are refused, the error shows none of them
    with FakeOvh(application_key=SECRETS["OVH_APPLICATION_KEY"], application_secret="anotherSecretQ1",
                 consumer_key=SECRETS["OVH_CONSUMER_KEY"], senders=["ACME Shop"]) as refusing:
        env = {**SECRETS, **NOT_SECRET, "OVH_ENDPOINT": refusing.base_url,
               "OVH_SERVICE_NAME": refusing.service_name}
        run2 = Runner(repo, env)
        repo.write("campaigns/ovh2.yaml", welcome.replace("id: welcome-2026", "id: ovh-2027") + "provider: ovh\n")
        run2("plan", "campaigns/ovh2.yaml", code=None)
        refused = run2("send", "campaigns/ovh2.yaml", "--yes", "--json", code=None)
        assert refused.code != 0
    for command, result in [*run.seen, *run2.seen]:
        assert not numbers_in(result.both), (command, numbers_in(result.both), result.both)
    assert_no_secret_in_files(repo.path)
