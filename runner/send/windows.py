"""Send windows and the schedule during a send: who may be sent to now, and ``send --wait``.

A recipient outside their window (quiet hours, weekends, holidays of their locality) or outside the
campaign's schedule is *held*: written as pending and left for a later run, or, with ``--wait``, for
:func:`wait_for_next_window`, which sleeps until the earliest held recipient's window opens."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from runner.plan.build import Plan
from runner.send import guards
from runner.send.options import SendOptions, SendReport
from runner.send.stop import Stop


def sendable_checker(plan: Plan, clock: Callable[[], datetime]) -> Callable[[str], bool] | None:
    """Is this recipient inside its window and the schedule, now? Cached per locality for a minute.
    None when the campaign has neither a window nor a schedule: everyone is always sendable."""
    from runner.message.window import WindowPolicy, effective_window, locality_of

    campaign = plan.campaign
    window = effective_window(campaign.commercial, campaign.window)
    schedule = campaign.schedule
    if window is None and not schedule.not_before and not schedule.not_after:
        return None
    policy = WindowPolicy(window) if window else None
    cache: dict[Any, tuple[float, bool]] = {}

    def check(e164: str) -> bool:
        now = clock()
        if schedule.not_after and now >= schedule.not_after:
            return False
        if schedule.not_before and now < schedule.not_before:
            return False
        if policy is None:
            return True
        locality = locality_of(e164)
        hit = cache.get(locality)
        stamp = time.monotonic()
        if hit is None or stamp - hit[0] > 60:
            hit = (stamp, policy.is_open(locality, now))
            cache[locality] = hit
        return hit[1]

    return check


def wait_for_next_window(plan: Plan, report: SendReport, options: SendOptions, stop: Stop) -> bool:
    """Sleep until the earliest held recipient's window opens. False when none will open."""
    from runner.plan.build import PlanOptions, build_plan

    fresh = build_plan(plan.campaign, PlanOptions(state_dir=plan.state_dir, at=options.clock(), check_provider=False))
    opening = fresh.window.get("next_opening")
    if not opening or not fresh.recipients:
        return False
    delay = (datetime.fromisoformat(opening) - options.clock()).total_seconds()
    while delay > 0 and not stop.requested:
        step = min(delay, 30.0)
        guards.pause(options.sleep, stop.event, step)  # issue 15: a stop ends the wait at once
        delay = (datetime.fromisoformat(opening) - options.clock()).total_seconds()
        if options.progress:
            options.progress(report)
    plan.recipients = fresh.recipients
    plan.at = options.clock()
    return not stop.requested
