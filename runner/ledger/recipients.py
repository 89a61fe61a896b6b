"""Per-recipient results of a campaign (``smsrun status CAMPAIGN --recipients``), streamed.

:func:`iter_recipients` is a generator over keyset pages of the ledger (``Ledger.recipients_page``): it holds
one page at a time, so listing a million recipients takes the same memory as listing a hundred.

Times: ``claimed_at`` is when a send claimed the recipient; ``sent_at`` when the provider's answer settled
it (sent or rejected); ``delivered_at`` when a delivery report (delivered or failed) was applied. The
ledger keeps one "last change" time per recipient, so a delivered recipient's sent time is not kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from runner.errors import SmsrunError
from runner.ledger.store import Ledger, Status
from runner.ledger.url import ledger_exists
from runner.masking import mask_number

PAGE = 1000
FIELDS = ("recipient", "status", "reason", "provider_id", "cost", "parts", "attempts", "batch_id", "claimed_at",
          "sent_at", "delivered_at")
KNOWN = tuple(s.value for s in Status)


def parse_statuses(text: str | None) -> list[str] | None:
    """``failed,in_doubt`` -> the list; an unknown status is a user error naming the known ones."""
    if not text:
        return None
    wanted = [s.strip().replace("-", "_") for s in text.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in KNOWN]
    if unknown:
        raise SmsrunError(f"--status: unknown status {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN)})")
    if "in_doubt" in wanted and "claimed" not in wanted:
        wanted.append("claimed")  # a claim no run holds is in doubt (as `status` counts it)
    return wanted


def iter_recipients(state_dir: Path, campaign_id: str, *, statuses: Sequence[str] | None = None,
                    show_numbers: bool = False, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """One dict per recipient (:data:`FIELDS`), in number order, one ledger page in memory at a time."""
    if not ledger_exists(state_dir):
        return
    with Ledger(state_dir) as ledger:
        after = ""
        while True:
            rows = ledger.recipients_page(campaign_id, after, page, statuses)
            for recipient, status, reason, provider_id, cost, parts, attempts, batch_id, claimed, updated in rows:
                yield {
                    "recipient": recipient if show_numbers else mask_number(recipient),
                    "status": "in_doubt" if status == "claimed" else status,
                    "reason": reason or ("in flight or interrupted" if status == "claimed" else None),
                    "provider_id": provider_id, "cost": cost, "parts": parts, "attempts": attempts,
                    "batch_id": batch_id, "claimed_at": claimed,
                    "sent_at": updated if status in ("sent", "rejected") else None,
                    "delivered_at": updated if status in ("delivered", "failed") else None,
                }
            if len(rows) < page:
                return
            after = rows[-1][0]
