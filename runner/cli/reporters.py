"""How each command's result is shown: one reporter class per output format, as check-jsonschema does.

A command picks its reporter from ``--format``/``--json`` (:func:`reporter_for`) and hands it the typed
result its library call returned (:mod:`runner.commands`). :class:`TextReporter` shows everything for
people (stdout the result, stderr the summaries); :class:`JsonReporter` one JSON document on stdout;
:class:`MarkdownReporter` the plan as a pull-request comment; :class:`GithubReporter` problems as
GitHub annotations on the diff, then the text. A format a command does not have falls back to text.
The text itself is drawn by :mod:`runner.cli.render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.cli.options import echo, echo_json, err

if TYPE_CHECKING:
    from runner.commands.ledger import CopyResult
    from runner.commands.optout import ImportResult
    from runner.commands.outbox import OutboxListing
    from runner.commands.plan import PlanRun
    from runner.commands.replies import PulledReplies
    from runner.commands.validate import ValidationResult
    from runner.send.testsend import SendTestResult

SHOWN_INVALID = 20


class TextReporter:
    """For people: results on stdout, counts and summaries on stderr."""

    def validation(self, result: ValidationResult) -> None:
        for d in result.diagnostics:
            echo(str(d))
        err(result.summary())

    def plan(self, run: PlanRun) -> None:
        from runner.cli.render import plan_text

        _annotations_on_stderr(run)
        echo(plan_text(run.summary))

    def send(self, report: dict[str, Any], *, nothing: bool = False) -> None:
        from runner.cli.render import report_text

        echo(report_text(report) + ("\nnothing to send." if nothing else ""))

    def test_send(self, result: SendTestResult) -> None:
        from runner.cli.render import test_send_text

        echo(test_send_text(result.as_dict()))

    def status(self, data: dict[str, Any]) -> None:
        from runner.cli.render import status_text

        echo(status_text(data))

    def outbox(self, listing: OutboxListing) -> None:
        from runner.cli.render import outbox_text

        if not listing.messages:
            err(f"the outbox in {listing.folder} is empty")
            return
        echo(outbox_text(listing.messages, listing.total))

    def stored_replies(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            echo(_reply_line(row))
        err(f"{len(rows)} repl{'y' if len(rows) == 1 else 'ies'} stored")

    def pulled_replies(self, result: PulledReplies) -> None:
        for row in result.new:
            echo(_reply_line(row))
        err(f"{len(result.new)} new repl{'y' if len(result.new) == 1 else 'ies'} from {result.provider} "
            f"{result.service} ({result.already_known} already stored); {result.opt_outs} opt-out(s); "
            f"{result.blacklist} number(s) on the provider's STOP list; {result.suppressed} number(s) added "
            "to the opt-out list")
        for why in result.unreadable:  # issue 15: a STOP-list number that could not be stored
            err(f"warning: not added to the opt-out list: {why}")

    def optouts(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            echo(f"{row['number']}  {row['added_at']}  {row['added_by']}  {row['source']}  {row['reason']}")
        err(f"{len(rows)} number(s) on the opt-out list")

    def optout_import(self, result: ImportResult) -> None:
        for line in result.invalid[:SHOWN_INVALID]:  # issue 15: say which lines, and fail
            err(str(line))
        echo(f"{result.added} number(s) added, {len(result.invalid)} invalid line(s) skipped")

    def ledger_copy(self, result: CopyResult) -> None:
        from runner.ledger.url import redact_url

        lines = [f"copied {redact_url(result.source)} -> {redact_url(result.target)}; rows verified in the target:"]
        lines += [f"  {table:<15} {copied:>10,} copied, {found:>10,} found"
                  for table, (copied, found) in result.counts.items()]
        echo("\n".join(lines))


class JsonReporter(TextReporter):
    """One JSON document on stdout (for scripts)."""

    def validation(self, result: ValidationResult) -> None:
        echo_json(result.as_dict())

    def plan(self, run: PlanRun) -> None:
        _annotations_on_stderr(run)
        echo_json(run.summary)

    def send(self, report: dict[str, Any], *, nothing: bool = False) -> None:
        echo_json(report)

    def test_send(self, result: SendTestResult) -> None:
        echo_json(result.as_dict())

    def status(self, data: dict[str, Any]) -> None:
        echo_json(data)

    def outbox(self, listing: OutboxListing) -> None:
        echo_json(listing.messages)

    def stored_replies(self, rows: list[dict[str, Any]]) -> None:
        echo_json(rows)

    def pulled_replies(self, result: PulledReplies) -> None:
        echo_json(result.as_dict())

    def optouts(self, rows: list[dict[str, Any]]) -> None:
        echo_json(rows)

    def ledger_copy(self, result: CopyResult) -> None:
        echo_json({table: {"copied": c, "verified": v} for table, (c, v) in result.counts.items()})


class MarkdownReporter(TextReporter):
    """The plan as a pull-request comment."""

    def plan(self, run: PlanRun) -> None:
        from runner.cli.render import plan_markdown

        _annotations_on_stderr(run)
        echo(plan_markdown(run.summary))


class GithubReporter(TextReporter):
    """Problems as GitHub annotations (``::error file=...``) on stdout, then the text."""

    def validation(self, result: ValidationResult) -> None:
        from runner.cli.annotations import diagnostic_annotations

        for line in diagnostic_annotations(result.diagnostics):
            echo(line)
        err(result.summary())

    def plan(self, run: PlanRun) -> None:
        from runner.cli.annotations import problem_annotations
        from runner.cli.render import plan_text

        for line in problem_annotations(run.plan.problems, run.campaign_file, show_numbers=run.show_numbers):
            echo(line)
        echo(plan_text(run.summary))


REPORTERS: dict[str, type[TextReporter]] = {"text": TextReporter, "json": JsonReporter,
                                            "markdown": MarkdownReporter, "github": GithubReporter}


def reporter_for(name: str = "text", *, json: bool = False) -> TextReporter:
    """The reporter of ``--format NAME`` (``--json`` wins: it is ``--format json``)."""
    return REPORTERS["json" if json else name]()


def _reply_line(row: dict[str, Any]) -> str:
    flag = "STOP  " if row["opt_out"] else ("review" if row.get("review") else "      ")
    text = str(row["text"]).replace("\n", "⏎")
    return f"{row.get('received_at') or '':<29}  {row['provider']:<6}  {flag}  {row['sender']}  {text}"


def _annotations_on_stderr(run: PlanRun) -> None:
    """Issue 13: under GitHub Actions a plan's problems are annotations on the diff whatever the format."""
    from runner.cli.annotations import in_github_actions, problem_annotations

    if in_github_actions():
        for line in problem_annotations(run.plan.problems, run.campaign_file, show_numbers=run.show_numbers):
            err(line)
