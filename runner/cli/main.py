"""The ``smsrun`` command: each command parses options, calls one library function, renders the result.

The library calls are in :mod:`runner.commands` (typed results); rendering is :mod:`runner.cli.reporters`
(text, JSON, Markdown, GitHub annotations); ``optout`` and ``ledger`` are sub-apps of their own modules,
and a provider's admin commands (``smsrun ovh lists``) are its own, mounted from the registry.

Exit codes: 0 success; 1 a user-facing error (bad input, refused plan, provider refusal, usage);
2 ``plan --detailed-exitcode`` with something to send; 3 a bug (with a traceback); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from runner import __version__
from runner.cli import ledger as ledger_cli
from runner.cli import optout as optout_cli
from runner.cli.options import (
    AllowPrivateUrls,
    Format,
    Json,
    LedgerOpt,
    ListFormat,
    ShowNumbers,
    StateDir,
    ValidateFormat,
    echo,
    err,
)
from runner.cli.providers import CommandsAndProviderAdmin
from runner.cli.reporters import reporter_for
from runner.errors import SmsrunError

EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130


app = typer.Typer(
    name="smsrun",
    cls=CommandsAndProviderAdmin,
    help="SMS campaigns as code: validate campaign files, plan (dry run), send exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(optout_cli.app, name="optout")


def _version(value: bool) -> None:
    if value:
        echo(f"smsrun {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """SMS campaigns as code."""


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Campaign or address-book files, or folders "
                                                             "(default: campaigns/).")] = None,
    format: Annotated[ValidateFormat | None, typer.Option("--format", help="text, json, or github annotations "
                                                          "(default: github when GITHUB_ACTIONS is set).")] = None,
) -> None:
    """Validate campaign and address-book files against the schema; report every problem."""
    from runner.commands import validate_paths

    chosen = format or (ValidateFormat.github if os.environ.get("GITHUB_ACTIONS") == "true" else ValidateFormat.text)
    result = validate_paths(paths or [Path("campaigns")])
    reporter_for(chosen.value).validation(result)
    if not result.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command()
def plan(
    campaign: Annotated[Path, typer.Argument(help="The campaign file.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the plan as JSON (same as --format json).")] = False,
    format: Annotated[Format, typer.Option("--format", help="text, json, markdown (for a pull-request comment) "
                                                            "or github (annotations, then the text).")] = Format.text,
    out: Annotated[Path | None, typer.Option("--out", help="Save the plan; `smsrun send FILE` sends exactly "
                                                           "it.")] = None,
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 2 when something can be "
                                                    "sent now, 0 when nothing can (and say why).")] = False,
    at: Annotated[str | None, typer.Option("--at", help="Plan as if run at this instant (ISO 8601 with "
                                                       "offset).")] = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
    allow_private_urls: AllowPrivateUrls = False,
) -> None:
    """Dry run: who gets what, how many SMS parts, what it costs, what is held back and why."""
    from runner.commands.plan import plan_campaign

    run = plan_campaign(campaign, at=at, state_dir=state_dir, allow_private_urls=allow_private_urls,
                        show_numbers=show_numbers)
    reporter_for(format.value, json=json_).plan(run)
    if not run.ok:
        raise typer.Exit(EXIT_ERROR)
    if out is not None:
        run.save(out)
        err(f"plan saved to {out}")
    if detailed_exitcode and run.to_send:
        if run.sendable_now:
            raise typer.Exit(EXIT_CHANGES)
        from runner.cli.render import nothing_now_reason  # issue 13: 0 when nothing can go now, and why

        err(nothing_now_reason(run.summary))


@app.command()
def send(
    target: Annotated[Path, typer.Argument(help="A campaign file, or a plan saved with `plan --out`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed when not "
                                                          "interactive, e.g. in CI).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the result summary as JSON.")] = False,
    resend_in_doubt: Annotated[bool, typer.Option("--resend-in-doubt", help="Send again to recipients whose "
                                                  "earlier send is in doubt (may duplicate).")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Stay and send each held group when its window "
                                                      "opens.")] = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
    allow_private_urls: AllowPrivateUrls = False,
    test_to: Annotated[list[str] | None, typer.Option("--test-to", help="Send only a test, to this number "
                       "(repeatable), through the campaign's provider; recorded apart, counted for nobody.")] = None,
    as_row: Annotated[str | None, typer.Option("--as", help="With --test-to: render as this recipient (a "
                      "position, a file:line or a number; default: the first).")] = None,
    adopt: Annotated[bool, typer.Option("--adopt", help="The ledger never saw this campaign but the provider "
                                        "already sent some of it: record those as sent, send the rest.")] = False,
    ignore_provider_history: Annotated[bool, typer.Option("--ignore-provider-history", help="Do not ask the "
                                       "provider what it already sent for a campaign the ledger never saw.")] = False,
    lock_timeout: Annotated[float, typer.Option(
        "--lock-timeout", envvar="SMSRUN_LOCK_TIMEOUT", help="Seconds to wait when another run is sending this "
        "campaign (default: stop at once, naming it).")] = 0.0,
) -> None:
    """Send a campaign (or a saved plan) exactly once per recipient; resumable after any interruption."""
    from runner.commands import send as command

    reporter = reporter_for(json=json_)
    if test_to or as_row:  # issue 13: a test send, apart from the campaign
        test = command.send_test_message(target, test_to or [], as_row=as_row, state_dir=state_dir,
                                         show_numbers=show_numbers, allow_private_urls=allow_private_urls)
        reporter.test_send(test)
        if not test.ok:
            raise typer.Exit(EXIT_ERROR)
        return
    prepared = command.prepare_send(target, state_dir=state_dir, allow_private_urls=allow_private_urls)
    if prepared.nothing_to_send:
        reporter.send(prepared.nothing_sent(), nothing=True)
        return
    if not yes:
        _confirm(prepared, show_numbers=show_numbers)
    warning = command.ephemeral_ledger_warning()
    if warning:
        err(warning)
    from runner.cli.progress import progress_reporter
    from runner.send import SendOptions

    progress = progress_reporter(prepared.plan.sendable_now, quiet=json_)
    try:
        outcome = command.run_send(prepared, SendOptions(
            resend_in_doubt=resend_in_doubt, wait=wait, progress=progress.update, adopt=adopt,
            ignore_provider_history=ignore_provider_history, lock_timeout=lock_timeout))
    finally:
        progress.close()
    reporter.send(outcome.as_dict())
    code = command.exit_code(outcome)  # issue 15: 143 after SIGTERM, 130 after Ctrl-C
    if code is not None:
        raise typer.Exit(code)


def _confirm(prepared: Any, *, show_numbers: bool) -> None:
    """The plan on stderr, then a question; refused when nobody can answer it."""
    from runner.cli.render import plan_text

    if not sys.stdin.isatty():
        raise SmsrunError("refusing to send without confirmation: this run is not interactive; "
                          "review `smsrun plan` and pass --yes")
    err(plan_text(prepared.summary(show_numbers=show_numbers)))
    if not typer.confirm(f"Send {prepared.plan.sendable_now:,} message(s) now?", default=False, err=True):
        raise SmsrunError("cancelled: nothing was sent")


@app.command()
def status(
    campaign: Annotated[str, typer.Argument(help="A campaign file or a campaign id.")],
    json_: Json = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Pull delivery reports from the provider "
                                                            "first.")] = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
    recipients: Annotated[bool, typer.Option("--recipients", help="One line per recipient (status, reason, "
                                             "provider id, cost, parts, times), streamed.")] = False,
    format: Annotated[ListFormat, typer.Option("--format", help="With --recipients: text, csv or json.")]
    = ListFormat.text,
    only: Annotated[str | None, typer.Option("--status", help="With --recipients: only these statuses, e.g. "
                                             "failed,in_doubt.")] = None,
) -> None:
    """Ledger counts for a campaign (sent, delivered, failed, pending, in doubt, rejected)."""
    from runner.commands import status as command

    if recipients:  # issue 13: per-recipient results, streamed
        from runner.cli.listing import write_csv, write_json, write_text

        listing = command.recipient_rows(campaign, state_dir=state_dir, statuses=only, show_numbers=show_numbers)
        if format is ListFormat.csv:
            write_csv(listing.rows, listing.fields, sys.stdout)
        elif format is ListFormat.json:
            write_json(listing.rows, sys.stdout)
        else:
            write_text(listing.rows, sys.stdout)
        return
    data = command.campaign_status_of(campaign, state_dir=state_dir, refresh=refresh, show_numbers=show_numbers)
    reporter_for(json=json_).status(data)


@app.command()
def outbox(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign id.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the last N messages (default: the last 20 "
                                              "as text, all as JSON; 0: all).")] = None,
    json_: Json = False,
    state_dir: StateDir = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """List the messages the embedded outbox provider recorded."""
    from runner.commands.outbox import outbox_messages

    listing = outbox_messages(campaign=campaign, limit=limit, all_by_default=json_, state_dir=state_dir,
                              show_numbers=show_numbers)
    reporter_for(json=json_).outbox(listing)


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="campaign or addressbook")] = "campaign",
) -> None:
    """Print a JSON Schema (for editors: add `# yaml-language-server: $schema=...` to campaign files)."""
    from runner.cli.options import echo_json
    from runner.commands.schema import schema_document

    echo_json(schema_document(name))  # with the settings of installed third-party providers


@app.command()
def receive(
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on (port 0: any free "
                                                         "port).")] = "127.0.0.1:8080",
    public_url: Annotated[str | None, typer.Option("--public-url", help="The base URL gateways call when the "
                                                   "receiver sits behind a proxy (for Twilio's signature), e.g. "
                                                   "https://sms.example.com.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region for replies from national numbers, "
                                                                "e.g. FR.")] = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Record delivery reports and replies (Kannel, Twilio, OVHcloud) in the ledger until SIGTERM/SIGINT.

    Paths: /<token>/kannel/dlr, /<token>/kannel/mo, /<token>/twilio/status, /<token>/twilio/inbound,
    /<token>/ovh/dlr, /<token>/health, with the token from $SMSRUN_RECEIVER_TOKEN.
    """
    import logging

    from runner.commands.receive import receiver_config, unconfigured
    from runner.receiver.server import serve

    config = receiver_config(listen=listen, public_url=public_url, region=region, state_dir=state_dir)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("smsrun.receiver")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for secret, provider in unconfigured(config):
        err(f"warning: {secret} is not set: the {provider}/ paths answer 503")
    serve(config, ready=lambda r: err(f"listening on {r.base_url} (paths /<token>/...); ledger in "
                                      f"{config.state_dir}"))


@app.command()
def replies(
    campaign: Annotated[Path | None, typer.Argument(help="A campaign file: pull from its provider, with its "
                                                         "settings.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Pull from this provider (ovh) with "
                                                 "settings from the environment.")] = None,
    stored: Annotated[bool, typer.Option("--stored", help="List the replies already stored (those `smsrun "
                                                          "receive` recorded too); no provider call.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only replies received since (ISO 8601 with "
                                                              "offset).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="With --stored: only the last N.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region for national numbers, e.g. FR.")] = None,
    json_: Json = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """Pull new replies from the provider (OVHcloud), store them and suppress opt-outs; or list stored ones."""
    from runner.commands.common import campaign_and_state, parse_moment, state_here
    from runner.commands.replies import fetch_replies, stored_replies

    folder = campaign_and_state(str(campaign), state_dir)[1] if campaign is not None else state_here(state_dir)
    reporter = reporter_for(json=json_)
    if stored:
        reporter.stored_replies(stored_replies(folder, provider=provider, limit=limit, show_numbers=show_numbers))
        return
    reporter.pulled_replies(fetch_replies(folder, campaign, provider, since=parse_moment(since, "--since"),
                                          show_numbers=show_numbers, region=region))


def database_errors() -> tuple[type[BaseException], ...]:
    """The database errors no command expected (a damaged SQLite page...): a clear error, not a bug."""
    from runner.ledger.store import DATABASE_ERRORS

    return DATABASE_ERRORS


def run(argv: list[str] | None = None) -> None:
    from runner.redaction import install

    install()  # issue 15: no secret value reaches the output, whatever prints it
    # typer's own exception types: typer >= 0.29 vendors click, which need not be installed
    try:
        code = app(args=argv, standalone_mode=False)
    except SmsrunError as exc:
        from runner.cli.annotations import in_github_actions
        from runner.cli.errors import error_annotations, error_text

        err(error_text(exc))  # from its diagnostics, never parsed from its text
        if in_github_actions():  # the refusal on the pull request's diff too
            err(error_annotations(exc))
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err(f"error: {exc}")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except database_errors() as exc:  # issue 15: a damaged ledger or outbox page the command did not expect
        err(f"error: a database in the state folder is damaged or unreadable ({exc}); nothing was changed. "
            "Restore it from a backup (or recover it with `sqlite3 FILE .recover`)")
        sys.exit(EXIT_ERROR)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        err("smsrun: internal error (a bug): please report it with the traceback above")
        sys.exit(EXIT_BUG)
    sys.exit(code if isinstance(code, int) else 0)
