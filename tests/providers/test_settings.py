"""Typed provider settings (issue 12 §1): what each provider declares is what validate checks, what the
schema says, and what plan and send use.

* a wrong type or an unknown key is a positioned error of `smsrun validate` (exit 1), and `plan`/`send`
  refuse the file the same way instead of dying with a traceback (exit 3);
* the committed JSON Schema's provider part is the one generated from the settings;
* capabilities come from the settings: with a `stop_mention` of its own, the plan counts the parts and
  the cost the provider is charged for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ConfigError
from runner.providers import create_provider, provider_capabilities
from runner.providers.registry import BUILTIN_NAMES, specs
from runner.providers.schema import main as schema_main
from tests.support.fake_ovh import FakeOvh
from tests.support.repo import Repo, french_mobiles

BASE = """\
id: typed
message: hi
commercial: false
recipients:
  - numbers: ['+33612345678']
"""


@pytest.mark.parametrize(
    ("provider", "where", "message"),
    [
        ("provider: {name: ovh, batch_size: lots}", (6, 35), "provider.batch_size must be an integer, not a string"),
        ("provider:\n  name: ovh\n  service_nme: sms-ab12345-1", (8, 3),
         "unknown key 'service_nme' in provider (did you mean 'service_name'?)"),
        ("provider: {name: outbox, batchsize: 1}", (6, 26), "unknown key 'batchsize' in provider (did you mean "
                                                            "'batch_size'?)"),
        ("provider: {name: kannel, url: 'http://127.0.0.1:9/x', dlr_mask: 32}", (6, 65),
         "provider.dlr_mask: 32 is greater than the maximum of 31"),
        ("provider: {name: twilio, form: '+15005550006'}", (6, 26), "unknown key 'form' in provider (did you mean "
                                                                    "'from'?)"),
        ("provider: {name: ovh, priority: urgent}", (6, 33), "provider.priority must be one of"),
    ],
)
def test_bad_settings_are_positioned_errors_of_every_command(repo: Repo, provider: str, where: tuple[int, int],
                                                              message: str) -> None:
    repo.write("c.yaml", BASE + provider + "\n")
    done = repo.run("validate", "c.yaml")
    assert done.code == 1, done
    assert f"c.yaml:{where[0]}:{where[1]}: error: {message}" in done.out + done.err
    for command in (("plan", "c.yaml"), ("send", "c.yaml", "--yes")):
        again = repo.run(*command)
        assert again.code == 1, again  # never 3 (a traceback)
        assert "Traceback" not in again.err and message in again.out + again.err


def test_a_secret_looking_key_is_refused_as_a_secret(repo: Repo) -> None:
    repo.write("c.yaml", BASE + "provider: {name: kannel, url: 'http://127.0.0.1:9/x', api_key: abc}\n")
    done = repo.run("validate", "c.yaml")
    assert done.code == 1 and "provider.api_key looks like a secret" in done.out + done.err
    assert "unknown key" not in done.out + done.err


def test_the_committed_schema_is_the_generated_one() -> None:
    assert schema_main([]) == 0, "run: python -m runner.providers.schema --write"


def test_every_setting_is_in_the_schema_with_a_description() -> None:
    schema = json.loads((Path(__file__).parents[2] / "schema" / "campaign.schema.json").read_text("utf-8"))
    branches = schema["properties"]["provider"]["else"]["allOf"]
    by_name = {b["if"]["properties"]["name"]["const"]: b["then"] for b in branches}
    assert list(by_name) == list(specs()) == list(BUILTIN_NAMES) == ["outbox", "ovh", "kannel", "twilio"]
    for name, spec in specs().items():
        properties = by_name[name]["properties"]
        assert set(properties) == {"name", *spec.settings.keys()}
        assert all(p.get("description") for key, p in properties.items() if key != "name")
        assert by_name[name]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("name", "settings", "match"),
    [
        ("ovh", {"batch_size": "lots"}, r"provider ovh: settings\.batch_size must be an integer, not a string"),
        ("ovh", {"service_nme": "x"}, r"unknown setting 'service_nme' \(did you mean 'service_name'\?\)"),
        ("outbox", {"batchsize": 1}, r"unknown setting 'batchsize' \(did you mean 'batch_size'\?\)"),
        ("outbox", {"batch_size": True}, r"batch_size must be an integer, not a boolean"),
        ("kannel", {"url": "http://127.0.0.1:9/x", "timeout": 0}, r"settings\.timeout must be from 0\.1 to 3600"),
        ("twilio", {"validity_period": 1.5}, r"settings\.validity_period must be an integer"),
    ],
)
def test_the_provider_checks_its_settings_the_same_way(tmp_path: Path, name: str, settings: dict[str, Any],
                                                       match: str) -> None:
    """A library user building a provider directly gets the same checks (ConfigError, never a crash)."""
    with pytest.raises(ConfigError, match=match):
        create_provider(name, settings, state_dir=tmp_path)


def test_capabilities_are_computed_from_the_settings(tmp_path: Path) -> None:
    caps = provider_capabilities("ovh", {"batch_size": 7, "stop_mention": "\nSTOP 36180"})
    assert (caps.max_recipients_per_request, caps.stop_mention) == (7, "\nSTOP 36180")
    provider = create_provider("ovh", {"batch_size": 7, "stop_mention": "\nSTOP 36180"}, state_dir=tmp_path)
    assert provider.capabilities == caps  # the provider itself agrees
    assert provider_capabilities("outbox", {"batch_size": 3}).max_recipients_per_request == 3
    kannel = {"url": "http://127.0.0.1:9/x", "dlr_url": "http://127.0.0.1:9/dlr?id={message_id}"}
    assert provider_capabilities("kannel", kannel).max_recipients_per_request == 1  # ids only: one a request
    assert create_provider("kannel", kannel, state_dir=tmp_path).capabilities == provider_capabilities("kannel", kannel)


# -- plan and send agree on parts and cost -------------------------------------------------------------------------
MENTION = "\nSTOP au 36180 pour ne plus recevoir nos offres"  # what this (fake) account appends
TEXT = "Bonjour, " + "x" * 130  # 139 characters: 1 part alone, 1 with STOP:36111, 2 with MENTION


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh(stop_clause=MENTION) as f:
        yield f


def test_plan_counts_what_the_provider_is_charged_with_its_own_stop_mention(repo: Repo, fake: FakeOvh) -> None:
    numbers = french_mobiles(3, start=700)
    stop = json.dumps(MENTION)
    repo.write("c.yaml", f"""\
id: mention
sender: ACME
message: "{TEXT}"
commercial: true
recipients:
  - numbers: {json.dumps(numbers)}
window: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00", holidays: true}}
provider: {{name: ovh, service_name: {fake.service_name}, stop_mention: {stop}}}
""")
    env = {**fake.credentials, "OVH_REQUESTS_PER_MINUTE": "0"}
    planned = repo.run("plan", "c.yaml", "--json", **env)
    assert planned.code == 0, planned
    plan = json.loads(planned.out)
    before = fake.credits
    sent = repo.run("send", "c.yaml", "--yes", **env)
    assert sent.code == 0, sent
    charged = before - fake.credits
    assert plan["total_parts"] == 2 * len(numbers) == charged  # the mention makes each text 2 parts
    assert plan["cost"]["total"] == charged
    assert [job.body["message"] for job in fake.jobs] == [TEXT]  # OVHcloud appends the mention, not smsrun
