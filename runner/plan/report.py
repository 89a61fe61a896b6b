"""The plan as data: the stable, documented keys of ``plan --json`` (and of saved plans).

Keys (see the README): ``campaign.{id,file,description,sender,sender_kind,commercial,provider}``,
``recipients.{rows,valid,invalid,duplicates,excluded,suppressed,already_sent,rejected_before,in_doubt,
to_send}``, ``invalid[]``, ``message.{encoding,characters_min,characters_max,parts_min,parts_max,
parts_distribution,example,stop_mention,opt_out_text,transliteration}``, ``total_parts``,
``window.{applies,sendable_now,held,next_opening,...}``, ``cost.{total,unit,by_country,unpriced}``,
``problems[]``, ``ok``, ``digest``, ``at``.
"""

from __future__ import annotations

import os
from typing import Any

from runner.masking import mask_text
from runner.plan.model import Plan
from runner.plan.problems import example_text


def plan_summary(plan: Plan, *, show_numbers: bool = False) -> dict[str, Any]:
    c = plan.campaign
    a = plan.audience
    mask = (lambda s: s) if show_numbers else mask_text
    distribution = plan.parts_distribution
    try:
        shown_file = os.path.relpath(c.path)
    except ValueError:
        shown_file = str(c.path)
    return {
        "campaign": {
            "id": c.id, "file": shown_file, "description": c.description,
            "sender": c.sender.value or "short-code", "sender_kind": c.sender.kind,
            "commercial": c.commercial, "provider": c.provider.name,
        },
        "recipients": {
            "rows": a.rows, "valid": a.valid, "invalid": a.invalid_count, "duplicates": a.duplicates,
            "excluded": a.excluded, "suppressed": a.suppressed, "suppressed_by": dict(a.suppressed_by),
            "already_sent": plan.already_sent,
            "rejected_before": plan.rejected_before, "in_doubt": plan.in_doubt, "to_send": plan.to_send,
        },
        "invalid": [{"reason": g.reason, "count": g.count, "examples": [mask(example_text(e)) for e in g.examples]}
                    for g in sorted(a.invalid.values(), key=lambda g: -g.count)],
        "message": {
            "encoding": plan.encoding,
            "characters_min": plan.characters[0], "characters_max": plan.characters[1],
            "parts_min": min(distribution) if distribution else 0,
            "parts_max": max(distribution) if distribution else 0,
            "parts_distribution": {str(k): v for k, v in distribution.items()},
            "example": plan.example,
            "stop_mention": plan.stop_mention,
            "opt_out_text": plan.appended_opt_out,
            "transliteration": plan.transliteration,
        },
        "total_parts": plan.total_parts,
        "window": plan.window,
        "cost": plan.cost,
        "problems": [p.as_dict() | {"message": mask(p.text)} for p in plan.problems],
        "ok": plan.ok,
        "digest": plan.digest,
        "at": plan.at.isoformat(),
    }
