"""What a plan costs (by country, from the campaign's price table) and the safety limits it must pass."""

from __future__ import annotations

from collections import Counter
from typing import Any

from runner.campaign.model import Campaign
from runner.plan.model import Recipient, RecipientList
from runner.plan.problems import MAX_NAMED, Problem


def cost(campaign: Campaign, recipients: RecipientList, problems: list[Problem]) -> dict[str, Any]:
    from runner.audience.regions import count_regions
    from runner.message.cost import PriceTable, estimate

    table = PriceTable.from_settings(campaign.prices, campaign.default_price, campaign.price_unit)
    parts_by_region: Counter[str | None] = Counter()
    parts = recipients.parts
    assert len(parts) == len(recipients.regions)
    if parts and parts.count(parts[0]) == len(parts):  # one part count for all (one text): count regions only
        for region, count in count_regions(recipients.regions).items():
            parts_by_region[region] += parts[0] * count
    else:
        for (region, size), count in Counter(zip(recipients.regions, parts, strict=True)).items():
            parts_by_region[region] += size * count
    result = estimate(table, parts_by_region)
    if result.unpriced:
        problems.append(Problem("warning", "no price for " + ", ".join(str(c) for c in result.unpriced)
                                           + ": set cost.prices or cost.default for a complete estimate"))
    return {"total": result.total, "unit": result.unit, "by_country": result.by_country,
            "unpriced": list(result.unpriced)}


def limits(campaign: Campaign, recipients: RecipientList, cost: dict[str, Any], problems: list[Problem]) -> None:
    limits = campaign.limits
    if limits.max_recipients is not None and len(recipients) > limits.max_recipients:
        problems.append(Problem.at(campaign.where("limits.max_recipients"), "error",
                                   f"{len(recipients):,} recipients to send exceed limits.max_recipients "
                                   f"({limits.max_recipients:,})"))
    over: list[Recipient] = []
    if max(recipients.parts, default=0) > limits.max_parts:
        over = [r for r in recipients if r.parts > limits.max_parts]
    if over:
        named = ", ".join(f"{r.e164} ({r.parts} parts)" for r in over[:MAX_NAMED])
        more = f" and {len(over) - MAX_NAMED:,} more" if len(over) > MAX_NAMED else ""
        problems.append(Problem.at(campaign.where("message"), "error",
                                   f"{len(over):,} message(s) need more than limits.max_parts "
                                   f"({limits.max_parts}) SMS parts: {named}{more}"))
    if limits.max_cost is not None and cost["total"] > limits.max_cost:
        problems.append(Problem.at(campaign.where("limits.max_cost"), "error",
                                   f"estimated cost {cost['total']:,g} {cost['unit']} exceeds limits.max_cost "
                                   f"({limits.max_cost:,g})"))
