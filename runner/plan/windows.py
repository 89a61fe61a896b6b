"""When a plan's recipients can be sent: the campaign's schedule and each locality's send window."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from runner.campaign.model import Campaign
from runner.plan.model import RecipientList
from runner.plan.problems import Problem


def windows(campaign: Campaign, recipients: RecipientList, at: datetime,
             problems: list[Problem]) -> tuple[dict[str, Any], int | None]:
    from runner.message.window import WindowPolicy, count_localities, effective_window, group_by_window

    schedule = campaign.schedule
    info: dict[str, Any] = {"applies": False, "sendable_now": len(recipients), "held": 0, "next_opening": None,
                            "by_locality": []}
    if schedule.not_after and at >= schedule.not_after:
        problems.append(Problem("warning", f"the schedule ended at {schedule.not_after.isoformat()}: "
                                           "nothing more will be sent"))
        info.update(sendable_now=0, held=len(recipients), next_opening=None, schedule_ended=True)
        return info, 0
    if schedule.not_before and at < schedule.not_before:
        info.update(sendable_now=0, held=len(recipients), next_opening=schedule.not_before.isoformat(),
                    not_before=schedule.not_before.isoformat())
        problems.append(Problem("info", f"nothing is sent before {schedule.not_before.isoformat()} (schedule)"))
        return info, 0
    window = effective_window(campaign.commercial, campaign.window)
    if window is None or not recipients:
        return info, None
    policy = WindowPolicy(window)
    localities: Counter[Any] = count_localities(recipients.numbers)
    summary = group_by_window(policy, localities, at)
    open_now = {(lw.region, lw.zones) for lw in summary.localities if lw.open_now}
    open_localities = {loc for loc in localities if (loc.region, loc.zones) in open_now}
    sendable: int | None = None  # every locality open: everyone is sendable now
    if len(open_localities) < len(localities):
        sendable = sum(count for loc, count in localities.items() if loc in open_localities)
    next_opening = summary.next_opening
    if next_opening and schedule.not_after and next_opening >= schedule.not_after:
        next_opening = None
    info.update(
        applies=True,
        days=list(window.days), start=window.start, end=window.end, holidays_allowed=window.holidays,
        sendable_now=summary.sendable_now, held=summary.held,
        next_opening=next_opening.isoformat() if next_opening else None,
        by_locality=[{"region": lw.region, "zones": list(lw.zones), "count": lw.count, "open_now": lw.open_now,
                      "next_opening": lw.next_opening.isoformat() if lw.next_opening else None,
                      "next_opening_local": _local_time(lw.next_opening, lw.zones)}
                     for lw in summary.localities],
    )
    for warning in summary.warnings:
        problems.append(Problem("warning", f"send window: {warning}"))
    if summary.held:
        held = [lw for lw in summary.localities if not lw.open_now and lw.next_opening is not None]
        first = min(held, key=lambda lw: lw.next_opening or at) if held else None
        when = ""
        if first is not None and first.zones:  # in the locality's own time, as its recipients live it
            when = f"; the next opens {_local_time(first.next_opening, first.zones)} {first.zones[0]}"
        problems.append(Problem("info", f"{summary.held:,} recipient(s) are outside their send window now{when}"))
    return info, sendable


def _local_time(moment: datetime | None, zones: tuple[str, ...] | list[str]) -> str | None:
    """``moment`` on the wall clock of the locality's (first) zone: ``Mon 2026-12-07 08:00``."""
    if moment is None or not zones:
        return None
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zones[0])).strftime("%a %Y-%m-%d %H:%M")
