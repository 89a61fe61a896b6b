"""``smsrun optout ...``: options parsed, :mod:`runner.commands.optout` called, the result rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.cli.options import Json, LedgerOpt, ShowNumbers, StateDir, echo
from runner.cli.reporters import reporter_for

app = typer.Typer(help="The suppression list every campaign excludes.", no_args_is_help=True)

Region = Annotated[str | None, typer.Option("--region", help="Region for national numbers.")]
By = Annotated[str | None, typer.Option("--by", help="Who (default: the current user).")]


@app.command("add")
def optout_add(
    numbers: Annotated[list[str], typer.Argument(help="Numbers, international (+33...) or national with --region.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "opt-out request",
    region: Annotated[str | None, typer.Option("--region", help="Region for national numbers, e.g. FR.")] = None,
    by: By = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Add numbers to the suppression list."""
    from runner.commands import optout

    added = optout.add(numbers, reason=reason, region=region, who=by, state_dir=state_dir)
    echo(f"{added} number(s) added to the opt-out list")


@app.command("remove")
def optout_remove(
    number: Annotated[str, typer.Argument(help="The number to remove.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")] = "",
    region: Annotated[str | None, typer.Option("--region", help="Region for a national number.")] = None,
    by: By = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Remove a number from the suppression list (needs --reason)."""
    from runner.commands import optout

    optout.remove(number, reason=reason, region=region, who=by, state_dir=state_dir)
    echo("removed")


@app.command("list")
def optout_list(
    json_: Json = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """List the suppression list with who added each number, when and why."""
    from runner.commands import optout

    reporter_for(json=json_).optouts(optout.entries(state_dir=state_dir, show_numbers=show_numbers))


@app.command("import")
def optout_import(
    file: Annotated[Path, typer.Argument(help="A CSV or text file of numbers.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "imported opt-out list",
    region: Region = None,
    by: By = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Import numbers from a file into the suppression list."""
    from runner.commands import optout

    result = optout.import_file(file, reason=reason, region=region, who=by, state_dir=state_dir)
    reporter_for().optout_import(result)
    result.raise_for_invalid()
