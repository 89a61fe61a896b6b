"""OVHcloud's admin commands, ``smsrun ovh ...``: declared by the provider (``ProviderSpec.admin``), mounted
by the CLI from the registry. ``smsrun ovh lists`` lists the recipient lists stored in the account;
``smsrun ovh lists push`` stores one (the library side: :mod:`runner.providers.ovh.lists`).

Options are parsed here and the results rendered as text or JSON; every error is a ``SmsrunError`` the
CLI's one funnel shows (exit 1).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

app = typer.Typer(help="OVHcloud account tools (credentials from OVH_* environment variables).",
                  no_args_is_help=True)
lists_app = typer.Typer(help="Recipient lists stored in the OVHcloud account (slots 1-9).")
app.add_typer(lists_app, name="lists")

ServiceName = Annotated[str | None, typer.Option("--service-name", help="The OVHcloud SMS account (default: "
                                                 "$OVH_SERVICE_NAME, else the only one the credentials see).")]
Json = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _json(data: Any) -> None:
    _out(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@lists_app.callback(invoke_without_command=True)
def ovh_lists(ctx: typer.Context, json_: Json = False, service_name: ServiceName = None) -> None:
    """List the recipient lists stored in the OVHcloud account; `push` stores one."""
    if ctx.invoked_subcommand is not None:
        return
    from runner.providers.ovh.lists import list_lists

    data = list_lists(service_name=service_name)
    if json_:
        _json(data)
        return
    for item in data["lists"]:
        auto = "auto-update" if item["auto_update"] else ""
        _out(f"{item['slot_id']}  {item['description']:<40}  {item['records']:>9,} receiver(s)  "
             f"{item['created'] or '':<25}  {auto}".rstrip())
    sys.stderr.write(f"{len(data['lists'])} of 9 slots used on {data['service']}\n")


@lists_app.command("push")
def ovh_lists_push(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The list's name (its description, up to 40 "
                                                                 "characters).")],
    source: Annotated[str, typer.Argument(metavar="FILE_OR_URL", help="A local CSV file (uploaded) or an "
                                                                      "http(s) URL OVHcloud downloads.")],
    slot: Annotated[int | None, typer.Option("--slot", help="The slot (1-9; default: the first free "
                                                            "one).")] = None,
    auto_update: Annotated[bool, typer.Option("--auto-update", help="OVHcloud downloads the URL again before "
                                                                    "each send (URLs only).")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the list of the same name (or in "
                                                            "--slot).")] = False,
    json_: Json = False,
    service_name: ServiceName = None,
) -> None:
    """Store a recipient list in the OVHcloud account ("Gérer les destinataires")."""
    from runner.providers.ovh.lists import push_list

    data = push_list(name, source, slot=slot, auto_update=auto_update, replace=replace, service_name=service_name)
    if json_:
        _json(data)
        return
    item = data["list"]
    replaced = f" (replaced slot {data['replaced']})" if data["replaced"] is not None else ""
    _out(f"list {item['description']!r} stored in slot {item['slot_id']} on {data['service']}: "
         f"{item['records']:,} receiver(s){replaced}")
