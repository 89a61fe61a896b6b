"""A third-party provider registers through the ``smsrun.providers`` entry point group (issue 12 §1): an
installed distribution (here a real ``.dist-info`` folder on the path) declares its ProviderSpec, and
smsrun validates its settings, computes its capabilities and sends through it like a built-in one."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.campaign import schema as campaign_schema
from runner.errors import ConfigError
from runner.providers import create_provider, provider_capabilities, registry
from tests.support.repo import ROOT, Repo

PLUGIN = '''\
from __future__ import annotations

from dataclasses import dataclass

import typer

from runner.providers.base import Capabilities, Outcome, Provider, RecipientResult
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import IncomingReply, ProviderSpec


@dataclass(frozen=True)
class EchoSettings(ProviderSettings):
    level: int = setting(1, "how loud", minimum=1, maximum=3)
    greeting: str | None = setting(None, "what to say first")


def capabilities(settings: EchoSettings) -> Capabilities:
    return Capabilities(max_recipients_per_request=settings.level * 10, one_text_many_recipients=True)


admin = typer.Typer(help="Echo account tools.", no_args_is_help=True)


@admin.command("ping")
def ping() -> None:
    """Answer pong."""
    print("pong")


class EchoReplies:
    service = "echo-account"
    stop_list_name = "muted"

    def __init__(self, settings=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def incoming(self, since):
        return ["1", "2"]

    def read(self, ref):
        return IncomingReply(ref, "+3361234567" + ref, "STOP" if ref == "1" else "hello", "2026-12-01T10:00:00+00:00")

    def stop_list(self):
        return ["+33612345670"]


PROVIDER = ProviderSpec(name="echo", title="Echo", description="a plug-in that accepts everything",
                        factory="smsrun_echo:EchoProvider", settings=EchoSettings, capabilities=capabilities,
                        env=("ECHO_TOKEN",), replies="smsrun_echo:EchoReplies", admin="smsrun_echo:admin")


class EchoProvider(Provider):
    name = "echo"
    spec = PROVIDER

    def send(self, batch):
        return [RecipientResult(m.recipient, Outcome.SENT, provider_id=f"echo-{i}")
                for i, m in enumerate(batch.messages)]
'''

NOT_A_SPEC = "PROVIDER = 42\n"


def install(root: Path, module: str, text: str, entry: str) -> Path:
    (root / f"{module}.py").write_text(text, encoding="utf-8")
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[smsrun.providers]\n{entry} = {module}:PROVIDER\n", encoding="utf-8")
    return root


def forget() -> None:
    registry.reset()
    campaign_schema.load_schema.cache_clear()
    campaign_schema._validator.cache_clear()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "site").mkdir()
    root = install(tmp_path / "site", "smsrun_echo", PLUGIN, "echo")
    monkeypatch.syspath_prepend(str(root))
    forget()
    yield root
    sys.modules.pop("smsrun_echo", None)
    monkeypatch.undo()
    forget()


def test_a_plugin_is_in_the_registry_after_the_builtins(plugin: Path, tmp_path: Path) -> None:
    assert registry.names() == ["outbox", "ovh", "kannel", "twilio", "echo"]
    assert provider_capabilities("echo", {"level": 2}).max_recipients_per_request == 20
    provider = create_provider("echo", {"level": 3}, state_dir=tmp_path)
    assert provider.capabilities.max_recipients_per_request == 30
    with pytest.raises(ConfigError, match=r"unknown setting 'levle' \(did you mean 'level'\?\)"):
        create_provider("echo", {"levle": 3}, state_dir=tmp_path)


def test_the_schema_validates_a_plugins_settings(plugin: Path) -> None:
    assert "echo" not in campaign_schema.load_schema("campaign")["properties"]["provider"]["then"]["enum"]
    provider = campaign_schema.load_schema("campaign", plugins=True)["properties"]["provider"]
    assert "echo" in provider["then"]["enum"]
    branch = next(b["then"] for b in provider["else"]["allOf"] if b["if"]["properties"]["name"]["const"] == "echo")
    assert branch["properties"]["level"] == {"description": "how loud", "type": "integer", "minimum": 1,
                                             "maximum": 3}


def test_validate_plan_and_send_through_a_plugin(plugin: Path, repo: Repo) -> None:
    campaign = textwrap.dedent("""\
        id: plug
        message: hi
        commercial: false
        recipients:
          - numbers: ['+33612345678', '+33612345679']
        provider: {name: echo, %s}
        """)
    pythonpath = os.pathsep.join([str(plugin), str(ROOT)])
    repo.write("bad.yaml", campaign % "levle: 2")
    bad = repo.run("validate", "bad.yaml", PYTHONPATH=pythonpath)
    assert bad.code == 1 and "bad.yaml:6:24: error: unknown key 'levle' in provider (did you mean 'level'?)" in bad.out
    repo.write("good.yaml", campaign % "level: 2")
    assert repo.run("validate", "good.yaml", PYTHONPATH=pythonpath).code == 0
    sent = repo.run("send", "good.yaml", "--yes", PYTHONPATH=pythonpath)
    assert sent.code == 0, sent
    assert repo.run("status", "good.yaml", PYTHONPATH=pythonpath).code == 0


def test_a_plugin_brings_its_admin_commands_and_its_replies(plugin: Path, repo: Repo) -> None:
    """Issue 12: `smsrun <provider> ...` and `smsrun replies` come from the spec, for a plug-in too."""
    pythonpath = os.pathsep.join([str(plugin), str(ROOT)])
    ping = repo.run("echo", "ping", PYTHONPATH=pythonpath)
    assert (ping.code, ping.out.strip()) == (0, "pong"), ping.both
    assert "Echo account tools." in repo.run("--help", PYTHONPATH=pythonpath).out
    pulled = repo.run("replies", "--provider", "echo", "--json", "--show-numbers", PYTHONPATH=pythonpath)
    assert pulled.code == 0, pulled.both
    data = json.loads(pulled.out)
    assert (data["service"], [r["text"] for r in data["new"]], data["opt_outs"], data["blacklist"]) == (
        "echo-account", ["STOP", "hello"], 1, 1)
    again = json.loads(repo.run("replies", "--provider", "echo", "--json", PYTHONPATH=pythonpath).out)
    assert (again["new"], again["already_known"]) == ([], 2)  # each reply is read and stored once
    optouts = json.loads(repo.run("optout", "list", "--json", "--show-numbers").out)
    assert {(o["number"], o["source"]) for o in optouts} >= {("+33612345670", "echo:muted")}
    refused = repo.run("replies", "--provider", "twilio", PYTHONPATH=pythonpath)
    assert refused.code == 1 and "(only ovh, echo)" in refused.err and "Kannel and Twilio push them" in refused.err


def test_a_broken_plugin_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "site").mkdir()
    root = install(tmp_path / "site", "smsrun_broken", NOT_A_SPEC, "broken")
    monkeypatch.syspath_prepend(str(root))
    forget()
    try:
        with pytest.raises(ConfigError, match=r"'broken' .* is not a smsrun ProviderSpec"):
            registry.specs()
    finally:
        sys.modules.pop("smsrun_broken", None)
        monkeypatch.undo()
        forget()


def test_the_receiver_serves_the_routes_the_providers_declare() -> None:
    from runner.providers.twilio.receiver import check_request
    from runner.receiver import handlers
    from runner.receiver.app import provider_routes

    routes = provider_routes()  # the built-ins' declarations give the receiver's table, handlers and all
    assert {path: route.handler for path, route in routes.items()} == {
        ("health",): handlers.health, ("kannel", "dlr"): handlers.kannel_dlr, ("kannel", "mo"): handlers.kannel_mo,
        ("twilio", "status"): handlers.twilio_status, ("twilio", "inbound"): handlers.twilio_inbound,
        ("ovh", "dlr"): handlers.ovh_dlr}
    # the Twilio-named secret and the signature check are Twilio's declaration, not the receiver's
    assert {path: (route.secrets, route.check) for path, route in routes.items() if route.secrets} == {
        ("twilio", "status"): (("TWILIO_AUTH_TOKEN",), check_request),
        ("twilio", "inbound"): (("TWILIO_AUTH_TOKEN",), check_request)}
