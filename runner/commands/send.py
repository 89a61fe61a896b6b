"""``smsrun send``: a campaign (or a saved plan) planned again, checked, then sent exactly once per
recipient; or a test send (``--test-to``). Asking for confirmation and showing progress are the CLI's."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.campaign.model import Campaign
    from runner.plan import Plan
    from runner.send import SendOptions, SendReport
    from runner.send.testsend import SendTestResult


@dataclass
class PreparedSend:
    """A campaign planned for sending, its problems refused, a saved plan checked against it."""

    campaign: Campaign
    plan: Plan

    @property
    def nothing_to_send(self) -> bool:
        return not self.plan.to_send and not self.plan.in_doubt

    def nothing_sent(self) -> dict[str, Any]:
        """The report of a run with nothing to send (the shape of ``SendReport.as_dict``)."""
        return {"campaign": self.campaign.id, "sent": 0, "rejected": 0, "in_doubt": 0,
                "skipped": self.plan.already_sent + self.plan.rejected_before, "held": 0, "reconciled": 0,
                "requests": 0, "retries": 0, "interrupted": False, "elapsed_s": 0.0, "rejections": {}}

    def summary(self, *, show_numbers: bool = False) -> dict[str, Any]:
        """The plan as ``smsrun plan`` shows it (before the confirmation)."""
        from runner.plan.report import plan_summary

        return plan_summary(self.plan, show_numbers=show_numbers)


def prepare_send(target: Path, *, state_dir: Path | None = None, allow_private_urls: bool = False) -> PreparedSend:
    """Plan the campaign file ``target``, or the campaign of the plan file ``target`` (which must still be
    what it would send now); refuse a plan with errors."""
    from runner.check import load_campaign
    from runner.plan import PlanOptions, build_plan
    from runner.plan.planfile import check_fresh, is_plan_file, read_plan

    saved = read_plan(target) if is_plan_file(target) else None
    campaign_path = Path(saved["campaign_file"]) if saved else target
    loaded = load_campaign(campaign_path)
    plan = build_plan(loaded, PlanOptions(state_dir=state_dir, allow_private_urls=allow_private_urls,
                                          check_history=False))  # the send asks before its first claim
    if saved:
        check_fresh(saved, plan.digest, target)
    plan.raise_for_problems()
    return PreparedSend(loaded, plan)


def run_send(prepared: PreparedSend, options: SendOptions) -> SendReport:
    from runner.send import send_plan

    return send_plan(prepared.plan, options)


def exit_code(report: SendReport) -> int | None:
    """The exit code of an interrupted send (130 after Ctrl-C, 143 after SIGTERM), None otherwise."""
    if not report.interrupted:
        return None
    from runner.send.guards import exit_code_for

    return exit_code_for(report.stop_signal)


def send_test_message(target: Path, numbers: list[str], *, as_row: str | None = None, state_dir: Path | None = None,
              show_numbers: bool = False, allow_private_urls: bool = False) -> SendTestResult:
    """``send --test-to``: the message sent to these numbers only, recorded apart, counted for nobody."""
    from runner.send.testsend import run_test_send

    return run_test_send(target, numbers, as_row=as_row, state_dir=state_dir, show_numbers=show_numbers,
                         allow_private_urls=allow_private_urls)


def ephemeral_ledger_warning() -> str | None:
    """Under CI a SQLite ledger lives on the runner's disk, which CI throws away after the job."""
    from runner.ledger.url import configured, is_postgres

    if os.environ.get("CI") == "true" and not is_postgres(configured()):
        return ("warning: CI=true and the ledger is a SQLite file on this runner: it dies with the runner unless "
                "it is kept (cache or artifact), and the next run would not know what was sent. A team sets "
                "SMSRUN_LEDGER=postgresql://... (README: Team setup)")
    return None
