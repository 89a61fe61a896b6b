"""What the ledger says about a campaign (``smsrun status``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.ledger.store import Ledger
from runner.ledger.url import ledger_exists
from runner.masking import mask_number

MAX_IN_DOUBT_ROWS = 50


def campaign_status(state_dir: Path, campaign_id: str, *, show_numbers: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"campaign": campaign_id, "sent": 0, "delivered": 0, "failed": 0, "pending": 0,
                           "in_doubt": 0, "rejected": 0, "claimed": 0, "unrecorded": 0, "known": False,
                           "in_doubt_rows": [], "test_sends": [], "holder": None}
    if not ledger_exists(state_dir):
        return out
    with Ledger(state_dir) as ledger, ledger.reading():  # issue 15: damaged pages, a newer smsrun's ledger
        ledger.check_readable(campaign_id)
        counts = ledger.counts(campaign_id)
        out["holder"] = ledger.lease_holder(campaign_id)  # the run sending it now, if one is
        out.update({k: counts.get(k, 0) for k in ("sent", "delivered", "failed", "pending", "rejected")})
        # recipients the last send planned and had not written yet (it writes each one when it claims it)
        out["unrecorded"] = ledger.unrecorded(campaign_id)
        out["pending"] += out["unrecorded"]
        # a claimed row with no live run is in doubt; one with a live run is in flight
        out["claimed"] = counts.get("claimed", 0)
        out["in_doubt"] = counts.get("in_doubt", 0) + counts.get("claimed", 0)
        out["known"] = ledger.campaign_hash(campaign_id) is not None or any(counts.values())
        rows = ledger.rows(campaign_id, ["in_doubt", "claimed"])[:MAX_IN_DOUBT_ROWS]
        out["in_doubt_rows"] = [{"recipient": r.recipient if show_numbers else mask_number(r.recipient),
                                 "batch_id": r.batch_id, "claimed_at": r.claimed_at,
                                 "reason": r.reason or ("in flight or interrupted" if r.status == "claimed" else "")}
                                for r in rows]
        out["test_sends"] = [{"to": n if show_numbers else mask_number(n), "status": status, "provider_id": pid,
                              "reason": reason, "sent_at": at}
                             for n, status, pid, reason, at in ledger.test_sends(campaign_id)]  # issue 13
    return out
