"""The ``smsrun`` command: each command parses options, calls one library function, renders the result.

Exit codes: 0 success; 1 a user-facing error (bad input, refused plan, provider refusal, usage);
2 ``plan --detailed-exitcode`` with something to send; 3 a bug (with a traceback); 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from runner import __version__
from runner.errors import SmsrunError

app = typer.Typer(
    name="smsrun",
    help="SMS campaigns as code: validate campaign files, plan (dry run), send exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ledger_app = typer.Typer(help="The ledger itself: move it between SQLite and PostgreSQL.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
optout_app = typer.Typer(help="The suppression list every campaign excludes.", no_args_is_help=True)
app.add_typer(optout_app, name="optout")

EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130
OUTBOX_LIMIT = 20  # `smsrun outbox` shows the last 20 messages unless --limit says otherwise

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="Ledger folder (default: $SMSRUN_STATE_DIR, "
                                                                     "else .smsrun/ at the repository root).")]


def _use_ledger(value: str | None) -> str | None:
    """``--ledger URL``: the backend for this command (and the smsrun processes it starts)."""
    if value:
        os.environ["SMSRUN_LEDGER"] = value
    return value


LedgerOpt = Annotated[str | None, typer.Option(
    "--ledger", callback=_use_ledger, help="The ledger: postgresql://user@host/db (a team's shared server; the "
    "password from the URL or PGPASSWORD) or a SQLite file (default: $SMSRUN_LEDGER, else ledger.sqlite in the "
    "state folder).")]
ShowNumbers = Annotated[bool, typer.Option("--show-numbers", help="Show phone numbers in full (masked by default).")]


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    github = "github"


class ListFormat(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def _json(data: Any) -> None:
    _echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _version(value: bool) -> None:
    if value:
        _echo(f"smsrun {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """SMS campaigns as code."""


# -- validate ---------------------------------------------------------------------------------------
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
    if chosen is ValidateFormat.json:
        _json(result.as_dict())
    elif chosen is ValidateFormat.github:
        from runner.cli.annotations import diagnostic_annotations

        for line in diagnostic_annotations(result.diagnostics):
            _echo(line)
        _err(result.summary())
    else:
        for d in result.diagnostics:
            _echo(str(d))
        _err(result.summary())
    if not result.ok:
        raise typer.Exit(EXIT_ERROR)


# -- plan ---------------------------------------------------------------------------------------------
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
    allow_private_urls: Annotated[bool, typer.Option("--allow-private-urls", help="Let remote CSV sources "
                                                     "fetch from private or loopback addresses.")] = False,
) -> None:
    """Dry run: who gets what, how many SMS parts, what it costs, what is held back and why."""
    from runner.check import load_campaign
    from runner.plan import PlanOptions, build_plan
    from runner.plan.planfile import save_plan
    from runner.plan.report import plan_summary

    moment = _parse_at(at)
    loaded = load_campaign(campaign)
    result = build_plan(loaded, PlanOptions(state_dir=state_dir, at=moment, allow_private_urls=allow_private_urls))
    summary = plan_summary(result, show_numbers=show_numbers)
    from runner.cli.annotations import in_github_actions, problem_annotations

    if format is Format.github or in_github_actions():  # issue 13: problems as annotations on the diff
        emit = _echo if format is Format.github else _err
        for line in problem_annotations(result.problems, loaded.where("id").path, show_numbers=show_numbers):
            emit(line)
    if json_ or format is Format.json:
        _json(summary)
    elif format is Format.markdown:
        from runner.cli.render import plan_markdown

        _echo(plan_markdown(summary))
    else:
        from runner.cli.render import plan_text

        _echo(plan_text(summary))
    if not result.ok:
        raise typer.Exit(EXIT_ERROR)
    if out is not None:
        save_plan(summary, loaded.path, result.digest, out)
        _err(f"plan saved to {out}")
    if detailed_exitcode and result.to_send:
        if result.sendable_now:
            raise typer.Exit(EXIT_CHANGES)
        from runner.cli.render import nothing_now_reason  # issue 13: 0 when nothing can go now, and why

        _err(nothing_now_reason(summary))


def _parse_at(at: str | None, option: str = "--at") -> datetime | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise SmsrunError(f"{option}: {at!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise SmsrunError(f"{option}: {at!r} needs a UTC offset, e.g. 2026-11-28T19:30:00+01:00")
    return moment


# -- send ---------------------------------------------------------------------------------------------
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
    allow_private_urls: Annotated[bool, typer.Option("--allow-private-urls", help="Let remote CSV sources "
                                                     "fetch from private or loopback addresses.")] = False,
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
    if test_to or as_row:  # issue 13: a test send, apart from the campaign
        from runner.cli.render import test_send_text
        from runner.send.testsend import run_test_send

        test = run_test_send(target, test_to or [], as_row=as_row, state_dir=state_dir, show_numbers=show_numbers,
                             allow_private_urls=allow_private_urls)
        _json(test.as_dict()) if json_ else _echo(test_send_text(test.as_dict()))
        if not test.ok:
            raise typer.Exit(EXIT_ERROR)
        return
    from runner.check import load_campaign
    from runner.cli.progress import progress_reporter
    from runner.cli.render import plan_text, report_text
    from runner.plan import PlanOptions, build_plan
    from runner.plan.planfile import check_fresh, is_plan_file, read_plan
    from runner.plan.report import plan_summary
    from runner.send import SendOptions, send_plan

    saved = read_plan(target) if is_plan_file(target) else None
    campaign_path = Path(saved["campaign_file"]) if saved else target
    loaded = load_campaign(campaign_path)
    result = build_plan(loaded, PlanOptions(state_dir=state_dir, allow_private_urls=allow_private_urls,
                                            check_history=False))  # the send asks before its first claim
    if saved:
        check_fresh(saved, result.digest, target)
    result.raise_for_problems()
    if not result.to_send and not result.in_doubt:
        report = {"campaign": loaded.id, "sent": 0, "rejected": 0, "in_doubt": 0,
                  "skipped": result.already_sent + result.rejected_before, "held": 0, "reconciled": 0,
                  "requests": 0, "retries": 0, "interrupted": False, "elapsed_s": 0.0, "rejections": {}}
        _json(report) if json_ else _echo(report_text(report) + "\nnothing to send.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise SmsrunError("refusing to send without confirmation: this run is not interactive; "
                              "review `smsrun plan` and pass --yes")
        _err(plan_text(plan_summary(result, show_numbers=show_numbers)))
        if not typer.confirm(f"Send {result.sendable_now:,} message(s) now?", default=False, err=True):
            raise SmsrunError("cancelled: nothing was sent")
    _warn_ephemeral_ledger()
    reporter = progress_reporter(result.sendable_now, quiet=json_)
    try:
        outcome = send_plan(result, SendOptions(resend_in_doubt=resend_in_doubt, wait=wait, progress=reporter.update,
                                                adopt=adopt, ignore_provider_history=ignore_provider_history,
                                                lock_timeout=lock_timeout))
    finally:
        reporter.close()
    data = outcome.as_dict()
    _json(data) if json_ else _echo(report_text(data))
    if outcome.interrupted:  # issue 15: 143 after SIGTERM, 130 after Ctrl-C
        from runner.send.guards import exit_code_for

        raise typer.Exit(exit_code_for(outcome.stop_signal))


# -- status, outbox, schema -----------------------------------------------------------------------------
def _warn_ephemeral_ledger() -> None:
    """Under CI a SQLite ledger lives on the runner's disk, which CI throws away after the job."""
    from runner.ledger.url import configured, is_postgres

    if os.environ.get("CI") == "true" and not is_postgres(configured()):
        _err("warning: CI=true and the ledger is a SQLite file on this runner: it dies with the runner unless it "
             "is kept (cache or artifact), and the next run would not know what was sent. A team sets "
             "SMSRUN_LEDGER=postgresql://... (README: Team setup)")


def _campaign_and_state(campaign: str, state_dir: Path | None) -> tuple[str, Path]:
    from runner.campaign.loader import find_repo_root
    from runner.check import load_campaign
    from runner.ledger import state_dir_for

    path = Path(campaign)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        loaded = load_campaign(path, check_files=False)
        return loaded.id, state_dir_for(state_dir, loaded.repo_root)
    return campaign, state_dir_for(state_dir, find_repo_root(Path.cwd()))


@app.command()
def status(
    campaign: Annotated[str, typer.Argument(help="A campaign file or a campaign id.")],
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
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
    from runner.cli.render import status_text
    from runner.ledger.status import campaign_status

    campaign_id, folder = _campaign_and_state(campaign, state_dir)
    if recipients:  # issue 13: per-recipient results
        from runner.cli.listing import write_csv, write_json, write_text
        from runner.ledger.recipients import FIELDS, iter_recipients, parse_statuses

        rows = iter_recipients(folder, campaign_id, statuses=parse_statuses(only), show_numbers=show_numbers)
        if format is ListFormat.csv:
            write_csv(rows, FIELDS, sys.stdout)
        elif format is ListFormat.json:
            write_json(rows, sys.stdout)
        else:
            write_text(rows, sys.stdout)
        return
    extra: dict[str, Any] = {}
    if refresh:
        from runner.reports import refresh_delivery_reports

        extra["refreshed"] = refresh_delivery_reports(Path(campaign), folder)
    data = campaign_status(folder, campaign_id, show_numbers=show_numbers) | extra
    if json_:
        _json(data)
    else:
        _echo(status_text(data))


@app.command()
def outbox(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign id.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the last N messages (default: the last 20 "
                                              "as text, all as JSON; 0: all).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    state_dir: StateDir = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """List the messages the embedded outbox provider recorded."""
    from runner.campaign.loader import find_repo_root
    from runner.ledger import state_dir_for
    from runner.masking import mask_number
    from runner.providers.outbox import list_outbox

    folder = state_dir_for(state_dir, find_repo_root(Path.cwd()))
    shown = limit if limit is not None else (None if json_ else OUTBOX_LIMIT)
    messages = list_outbox(folder, campaign_id=campaign, limit=shown or None)
    if not show_numbers:
        for m in messages:
            m["recipient"] = mask_number(m["recipient"])
    if json_:
        _json(messages)
        return
    if not messages:
        _err(f"the outbox in {folder} is empty")
        return
    from runner.cli.render import outbox_text
    from runner.providers.outbox import count_outbox

    _echo(outbox_text(messages, count_outbox(folder, campaign_id=campaign)))


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="campaign or addressbook")] = "campaign",
) -> None:
    """Print a JSON Schema (for editors: add `# yaml-language-server: $schema=...` to campaign files)."""
    from runner.campaign.schema import load_schema
    from runner.providers import registry  # noqa: F401  (installs the third-party providers' settings)

    if name not in ("campaign", "addressbook"):
        raise SmsrunError(f"unknown schema {name!r}: campaign or addressbook")
    _json(load_schema(name, plugins=True))  # with the settings of installed third-party providers


# -- optout ---------------------------------------------------------------------------------------------
def _state_here(state_dir: Path | None) -> Path:
    from runner.campaign.loader import find_repo_root
    from runner.ledger import state_dir_for

    return state_dir_for(state_dir, find_repo_root(Path.cwd()))


@optout_app.command("add")
def optout_add(
    numbers: Annotated[list[str], typer.Argument(help="Numbers, international (+33...) or national with --region.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "opt-out request",
    region: Annotated[str | None, typer.Option("--region", help="Region for national numbers, e.g. FR.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the current user).")] = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Add numbers to the suppression list."""
    from runner.optout.store import add_optouts

    added = add_optouts(_state_here(state_dir), numbers, reason=reason, who=by, region=region)
    _echo(f"{added} number(s) added to the opt-out list")


@optout_app.command("remove")
def optout_remove(
    number: Annotated[str, typer.Argument(help="The number to remove.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")] = "",
    region: Annotated[str | None, typer.Option("--region", help="Region for a national number.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the current user).")] = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Remove a number from the suppression list (needs --reason)."""
    from runner.optout.store import remove_optout

    if not remove_optout(_state_here(state_dir), number, reason=reason, who=by, region=region):
        raise SmsrunError(f"{number} is not on the opt-out list")
    _echo("removed")


@optout_app.command("list")
def optout_list(
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """List the suppression list with who added each number, when and why."""
    from dataclasses import asdict

    from runner.masking import mask_number
    from runner.optout.store import list_optouts

    rows = [asdict(o) for o in list_optouts(_state_here(state_dir))]
    if not show_numbers:
        for row in rows:
            row["number"] = mask_number(row["number"])
    if json_:
        _json(rows)
        return
    for row in rows:
        _echo(f"{row['number']}  {row['added_at']}  {row['added_by']}  {row['source']}  {row['reason']}")
    _err(f"{len(rows)} number(s) on the opt-out list")


@optout_app.command("import")
def optout_import(
    file: Annotated[Path, typer.Argument(help="A CSV or text file of numbers.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "imported opt-out list",
    region: Annotated[str | None, typer.Option("--region", help="Region for national numbers.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who (default: the current user).")] = None,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Import numbers from a file into the suppression list."""
    from runner.optout.store import import_optouts

    added, invalid = import_optouts(_state_here(state_dir), file, reason=reason, who=by, region=region)
    for line in invalid[:20]:  # issue 15: say which lines, and fail
        _err(str(line))
    _echo(f"{added} number(s) added, {len(invalid)} invalid line(s) skipped")
    if invalid:
        raise SmsrunError(f"{len(invalid)} line(s) of {file} are not phone numbers and were not added"
                          + (" (the first 20 are shown)" if len(invalid) > 20 else ""))


# == receiving: delivery reports and replies, OVHcloud recipient lists =====================================
ovh_app = typer.Typer(help="OVHcloud account tools (credentials from OVH_* environment variables).",
                      no_args_is_help=True)
ovh_lists_app = typer.Typer(help="Recipient lists stored in the OVHcloud account (slots 1-9).")
ovh_app.add_typer(ovh_lists_app, name="lists")
app.add_typer(ovh_app, name="ovh")

ServiceName = Annotated[str | None, typer.Option("--service-name", help="The OVHcloud SMS account (default: "
                                                 "$OVH_SERVICE_NAME, else the only one the credentials see).")]


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

    from runner.receiver.server import ENV_TOKEN, ReceiverConfig, check_public_url, check_token, parse_listen, serve

    host, port = parse_listen(listen)
    config = ReceiverConfig(host=host, port=port, token=check_token(os.environ.get(ENV_TOKEN)),
                            state_dir=_state_here(state_dir), public_url=check_public_url(public_url),
                            twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None, region=region)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("smsrun.receiver")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if config.twilio_auth_token is None:
        _err("warning: TWILIO_AUTH_TOKEN is not set: the twilio/ paths answer 503")
    serve(config, ready=lambda r: _err(f"listening on {r.base_url} (paths /<token>/...); ledger in "
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
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    state_dir: StateDir = None,
    ledger: LedgerOpt = None,
    show_numbers: ShowNumbers = False,
) -> None:
    """Pull new replies from the provider (OVHcloud), store them and suppress opt-outs; or list stored ones."""
    folder = _campaign_and_state(str(campaign), state_dir)[1] if campaign is not None else _state_here(state_dir)
    if stored:
        from runner.replies import stored_replies

        rows = stored_replies(folder, provider=provider, limit=limit, show_numbers=show_numbers)
        if json_:
            _json(rows)
            return
        for row in rows:
            _echo(_reply_line(row))
        _err(f"{len(rows)} repl{'y' if len(rows) == 1 else 'ies'} stored")
        return
    from runner.replies import fetch_replies

    result = fetch_replies(folder, campaign, provider, since=_parse_at(since, "--since"),
                           show_numbers=show_numbers, region=region)
    if json_:
        _json(result)
        return
    for row in result["new"]:
        _echo(_reply_line(row))
    _err(f"{len(result['new'])} new repl{'y' if len(result['new']) == 1 else 'ies'} from {result['provider']} "
         f"{result['service']} ({result['already_known']} already stored); {result['opt_outs']} opt-out(s); "
         f"{result['blacklist']} number(s) on the provider's STOP list; {result['suppressed']} number(s) added "
         "to the opt-out list")
    for why in result.get("unreadable", []):  # issue 15: a STOP-list number that could not be stored
        _err(f"warning: not added to the opt-out list: {why}")


def _reply_line(row: dict[str, Any]) -> str:
    flag = "STOP  " if row["opt_out"] else ("review" if row.get("review") else "      ")
    text = str(row["text"]).replace("\n", "⏎")
    return f"{row.get('received_at') or '':<29}  {row['provider']:<6}  {flag}  {row['sender']}  {text}"


@ovh_lists_app.callback(invoke_without_command=True)
def ovh_lists(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    service_name: ServiceName = None,
) -> None:
    """List the recipient lists stored in the OVHcloud account; `push` stores one."""
    if ctx.invoked_subcommand is not None:
        return
    from runner.ovh_lists import list_lists

    data = list_lists(service_name=service_name)
    if json_:
        _json(data)
        return
    for item in data["lists"]:
        auto = "auto-update" if item["auto_update"] else ""
        _echo(f"{item['slot_id']}  {item['description']:<40}  {item['records']:>9,} receiver(s)  "
              f"{item['created'] or '':<25}  {auto}".rstrip())
    _err(f"{len(data['lists'])} of 9 slots used on {data['service']}")


@ovh_lists_app.command("push")
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
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    service_name: ServiceName = None,
) -> None:
    """Store a recipient list in the OVHcloud account ("Gérer les destinataires")."""
    from runner.ovh_lists import push_list

    data = push_list(name, source, slot=slot, auto_update=auto_update, replace=replace, service_name=service_name)
    if json_:
        _json(data)
        return
    item = data["list"]
    replaced = f" (replaced slot {data['replaced']})" if data["replaced"] is not None else ""
    _echo(f"list {item['description']!r} stored in slot {item['slot_id']} on {data['service']}: "
          f"{item['records']:,} receiver(s){replaced}")


# -- entry point: the one error funnel ------------------------------------------------------------------
@ledger_app.command("copy")
def ledger_copy(
    source: Annotated[str, typer.Argument(metavar="FROM", help="A SQLite ledger file or a postgresql:// URL.")],
    target: Annotated[str, typer.Argument(metavar="TO", help="A SQLite ledger file or a postgresql:// URL.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Copy everything a ledger holds into another (either direction); refuses to overwrite a campaign."""
    from runner.ledger.copy import copy_ledger
    from runner.ledger.url import redact_url

    counts = copy_ledger(source, target, Path.cwd())
    if json_:
        _json({table: {"copied": c, "verified": v} for table, (c, v) in counts.items()})
        return
    lines = [f"copied {redact_url(source)} -> {redact_url(target)}; rows verified in the target:"]
    lines += [f"  {table:<15} {copied:>10,} copied, {found:>10,} found" for table, (copied, found) in counts.items()]
    _echo("\n".join(lines))


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

        _err(error_text(exc))  # from its diagnostics, never parsed from its text
        if in_github_actions():  # the refusal on the pull request's diff too
            _err(error_annotations(exc))
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _err(f"error: {exc}")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except database_errors() as exc:  # issue 15: a damaged ledger or outbox page the command did not expect
        _err(f"error: a database in the state folder is damaged or unreadable ({exc}); nothing was changed. "
             "Restore it from a backup (or recover it with `sqlite3 FILE .recover`)")
        sys.exit(EXIT_ERROR)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        _err("smsrun: internal error (a bug): please report it with the traceback above")
        sys.exit(EXIT_BUG)
    sys.exit(code if isinstance(code, int) else 0)
