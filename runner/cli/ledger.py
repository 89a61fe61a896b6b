"""``smsrun ledger ...``: options parsed, :mod:`runner.commands.ledger` called, the result rendered."""

from __future__ import annotations

from typing import Annotated

import typer

from runner.cli.reporters import reporter_for

app = typer.Typer(help="The ledger itself: move it between SQLite and PostgreSQL.", no_args_is_help=True)


@app.command("copy")
def ledger_copy(
    source: Annotated[str, typer.Argument(metavar="FROM", help="A SQLite ledger file or a postgresql:// URL.")],
    target: Annotated[str, typer.Argument(metavar="TO", help="A SQLite ledger file or a postgresql:// URL.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Copy everything a ledger holds into another (either direction); refuses to overwrite a campaign."""
    from runner.commands.ledger import copy

    reporter_for(json=json_).ledger_copy(copy(source, target))
