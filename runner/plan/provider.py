"""The plan's read-only provider checks: the provider's own preflight (sender, credits), run when its
credentials are present, and importing its module early (while the audience's workers run)."""

from __future__ import annotations

import contextlib
from typing import Any

from runner.plan.model import Plan
from runner.plan.problems import Problem


def import_provider(name: str) -> None:
    from runner.errors import SmsrunError
    from runner.providers import provider_class

    with contextlib.suppress(SmsrunError):  # reported where the plan needs the provider
        provider_class(name)


def provider_preflight(plan: Plan, provider_cls: Any) -> None:
    campaign = plan.campaign
    try:
        from runner.providers import expand_settings

        provider = provider_cls(expand_settings(campaign.provider.settings), state_dir=plan.state_dir)
    except Exception as exc:
        from runner.errors import SmsrunError

        if isinstance(exc, SmsrunError):
            plan.problems.append(Problem("warning", f"provider checks skipped: {exc}"))
            return
        raise
    try:
        for message in provider.preflight(sender=campaign.sender, total_parts=plan.total_parts):
            plan.problems.append(Problem("warning", f"provider: {message}"))
    except Exception as exc:
        from runner.errors import SmsrunError

        if not isinstance(exc, SmsrunError):
            raise
        plan.problems.append(Problem("error", f"provider: {exc}"))
    finally:
        provider.close()
