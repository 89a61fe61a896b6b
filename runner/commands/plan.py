"""``smsrun plan``: the dry run of a campaign, its summary, and the plan file ``send`` can replay."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.commands.common import parse_moment

if TYPE_CHECKING:
    from runner.campaign.model import Campaign
    from runner.plan import Plan


@dataclass
class PlanRun:
    """A plan with what the renderers show of it (``summary``, numbers masked unless asked)."""

    campaign: Campaign
    plan: Plan
    summary: dict[str, Any]
    show_numbers: bool = False  # the summary and the annotations show numbers unmasked

    @property
    def ok(self) -> bool:
        return bool(self.plan.ok)

    @property
    def to_send(self) -> int:
        return int(self.plan.to_send)

    @property
    def sendable_now(self) -> int:
        return int(self.plan.sendable_now)

    @property
    def campaign_file(self) -> str:
        """The campaign file as its diagnostics name it (annotations are placed on it)."""
        return str(self.campaign.where("id").path)

    def save(self, out: Path) -> None:
        """The plan file: ``smsrun send FILE`` sends exactly this plan, or refuses if anything changed."""
        from runner.plan.planfile import save_plan

        save_plan(self.summary, self.campaign.path, self.plan.digest, out)


def plan_campaign(campaign: Path, *, at: str | None = None, state_dir: Path | None = None,
                  allow_private_urls: bool = False, show_numbers: bool = False) -> PlanRun:
    """Load ``campaign``, plan it as if run at ``at`` (ISO 8601 with offset; default now)."""
    from runner.check import load_campaign
    from runner.plan import PlanOptions, build_plan
    from runner.plan.report import plan_summary

    moment = parse_moment(at)
    loaded = load_campaign(campaign)
    plan = build_plan(loaded, PlanOptions(state_dir=state_dir, at=moment, allow_private_urls=allow_private_urls))
    return PlanRun(loaded, plan, plan_summary(plan, show_numbers=show_numbers), show_numbers)
