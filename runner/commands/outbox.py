"""``smsrun outbox``: the messages the embedded outbox provider recorded, the last ones first asked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.commands.common import state_here

OUTBOX_LIMIT = 20  # `smsrun outbox` shows the last 20 messages as text unless --limit says otherwise


@dataclass
class OutboxListing:
    folder: Path  # the state folder holding the outbox
    messages: list[dict[str, Any]]  # oldest first, numbers masked unless asked
    total: int  # how many the outbox holds for the campaign asked (or all)


def outbox_messages(*, campaign: str | None = None, limit: int | None = None, all_by_default: bool = False,
                    state_dir: Path | None = None, show_numbers: bool = False) -> OutboxListing:
    """The last ``limit`` messages (None: :data:`OUTBOX_LIMIT`, or all with ``all_by_default``; 0: all)."""
    from runner.masking import mask_number
    from runner.providers.outbox import count_outbox, list_outbox

    folder = state_here(state_dir)
    shown = limit if limit is not None else (None if all_by_default else OUTBOX_LIMIT)
    messages = list_outbox(folder, campaign_id=campaign, limit=shown or None)
    if not show_numbers:
        for m in messages:
            m["recipient"] = mask_number(m["recipient"])
    total = count_outbox(folder, campaign_id=campaign) if messages and not all_by_default else len(messages)
    return OutboxListing(folder, messages, total)
