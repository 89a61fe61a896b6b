"""Build a :class:`~runner.plan.model.Plan`: the campaign, its audience, the messages, windows, cost and
problems, each computed by its own module (``messages``, ``windows``, ``cost``, ``problems``, ``digest``,
``provider``, ``history``); this one reads the ledger and puts them together.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime
from pathlib import Path

from runner.audience.build import build_audience
from runner.audience.numbers import E164List
from runner.campaign.model import Campaign
from runner.errors import PlanError
from runner.ledger.store import FINAL_STATUSES, Ledger, state_dir_for
from runner.message.template import compile_template
from runner.plan.cost import cost as plan_cost
from runner.plan.cost import limits
from runner.plan.digest import content_hash, plan_digest
from runner.plan.history import check_history
from runner.plan.messages import render_messages
from runner.plan.model import Plan, PlanOptions
from runner.plan.problems import Problem, invalid_problems, legacy_optouts
from runner.plan.provider import import_provider, provider_preflight
from runner.plan.windows import windows
from runner.sources import SourceContext

__all__ = ["Plan", "PlanOptions", "build_plan", "content_hash", "open_ledger_if_exists"]


def open_ledger_if_exists(state_dir: Path) -> Ledger | None:
    """A dry run never creates state: an absent ledger is an empty one."""
    from runner.ledger.url import ledger_exists

    if not ledger_exists(state_dir):
        return None
    return Ledger(state_dir)


def _warm_up(provider_name: str) -> None:
    """Imports the parent would otherwise make once the audience is read (see ``build_audience``'s
    ``meanwhile``): the provider's module, the send windows' and the cost's."""
    import_provider(provider_name)
    import runner.message.cost
    import runner.message.window  # noqa: F401


def build_plan(campaign: Campaign, options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    at = options.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise PlanError("--at needs a UTC offset (e.g. 2026-11-28T19:30:00+01:00)")
    repo_root = campaign.repo_root or campaign.path.parent
    state_dir = state_dir_for(options.state_dir, repo_root)
    problems: list[Problem] = [Problem.from_diagnostic(d) for d in campaign.warnings]

    from runner.providers import provider_capabilities, provider_class

    template = compile_template(campaign.message)
    ledger = open_ledger_if_exists(state_dir)
    try:
        with ledger.reading() if ledger else contextlib.nullcontext():  # issue 15: a damaged page, a clear error
            if ledger:
                ledger.check_readable(campaign.id)  # issue 15: a newer smsrun's ledger is refused
            suppressed = _suppressed(ledger)
            legacy_optouts(suppressed, problems)  # issue 15
            ctx = SourceContext(repo_root=repo_root, allow_private_urls=options.allow_private_urls,
                                cache_dir=None)
            # the provider's module (httpx...) and the plan's later stages are imported while the audience's
            # workers run, not before or after
            audience = build_audience(campaign, ctx, wanted_fields=template.fields, suppressed=suppressed,
                                      meanwhile=functools.partial(_warm_up, campaign.provider.name))
            statuses = ledger.statuses(campaign.id) if ledger else {}
            ledger_fingerprint = ledger.fingerprint(campaign.id) if ledger else "empty"
            if ledger and ledger.content_changed(campaign.id, content_hash(campaign)):
                problems.append(Problem("error", f"campaign {campaign.id!r} changed its message, sender or "
                                                 "commercial flag after sending started; give it a new `id` to "
                                                 "make a new campaign"))
    finally:
        if ledger:
            ledger.close()

    provider_cls = provider_class(campaign.provider.name)
    # from the settings, as the provider computes them when it sends: plan and send agree on parts and cost
    capabilities = provider_capabilities(campaign.provider.name, campaign.provider.settings)
    stop_mention = capabilities.stop_mention if campaign.commercial else None
    appended = campaign.opt_out_text if campaign.commercial and stop_mention is None else None

    already_sent = rejected_before = in_doubt = 0
    todo = E164List()
    pending_numbers: set[str] = set()
    if not statuses:  # nothing in the ledger yet: everyone, and the audience's list (8 bytes a recipient)
        todo = audience.recipients
    for e164 in audience.recipients if statuses else ():
        status = statuses.get(e164)
        if status is None:
            todo.append(e164)
        elif status == "pending":
            todo.append(e164)
            pending_numbers.add(e164)
        elif status in FINAL_STATUSES:
            if status == "rejected":
                rejected_before += 1
            else:
                already_sent += 1
        else:
            in_doubt += 1
    if in_doubt:
        problems.append(Problem("warning", f"{in_doubt:,} recipient(s) are in doubt from an interrupted run: they "
                                           "will be reconciled with the provider, or resent only with "
                                           "--resend-in-doubt (see `smsrun status`)"))

    recipients, message_info = render_messages(campaign, audience, todo, stop_mention, appended, problems)
    recipients.in_ledger = pending_numbers
    pending = len(pending_numbers)
    window, sendable = windows(campaign, recipients, at, problems)
    cost = plan_cost(campaign, recipients, problems)
    limits(campaign, recipients, cost, problems)
    invalid_problems(audience, problems)
    if audience.rows == 0:
        problems.append(Problem("warning", "the sources hold no recipients"))

    plan = Plan(campaign=campaign, at=at, state_dir=state_dir, audience=audience, recipients=recipients,
                already_sent=already_sent, rejected_before=rejected_before, in_doubt=in_doubt,
                pending_in_ledger=pending, stop_mention=stop_mention, appended_opt_out=appended,
                window=window, sendable=sendable, cost=cost, problems=problems, **message_info)
    plan.digest = plan_digest(campaign, audience, ledger_fingerprint)
    from runner.ledger.statedir import tracked_state_files  # issue 13: phone numbers must not end up in git

    for name in tracked_state_files(state_dir, repo_root):
        plan.problems.append(Problem("warning", f"git tracks {name}, which holds phone numbers: run "
                                                f"`git rm --cached {name}` and commit (the state folder ignores "
                                                "itself from now on)"))
    if options.check_provider and plan.ok and recipients:
        provider_preflight(plan, provider_cls)
        if options.check_history and not statuses and plan.ok:
            check_history(plan, provider_cls)
    return plan


def _suppressed(ledger: Ledger | None) -> dict[str, str]:
    if ledger is None:
        return {}
    return ledger.optout_sources()
