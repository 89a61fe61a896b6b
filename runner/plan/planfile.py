"""Saved plans: ``plan --out FILE`` writes one, ``send FILE`` sends exactly it or refuses it as stale.

The file holds the plan's summary (as ``plan --json`` shows it), the campaign file's path and the
plan's digest: a hash of the campaign file's text, every source's content and the ledger's state for
the campaign. ``send FILE`` rebuilds the plan and refuses it when the digest differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.errors import SmsrunError, StalePlanError

FORMAT = "smsrun-plan/1"


def save_plan(summary: dict[str, Any], campaign_path: Path, digest: str, out: Path) -> None:
    document = {"format": FORMAT, "campaign_file": str(campaign_path), "digest": digest, "plan": summary}
    try:
        out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise SmsrunError(f"{out}: error: cannot write the plan: {exc.strerror}") from None


def is_plan_file(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return FORMAT.encode() in head


def read_plan(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SmsrunError(f"{path}: error: not a readable plan file: {exc}") from None
    if document.get("format") != FORMAT or "digest" not in document or "campaign_file" not in document:
        raise SmsrunError(f"{path}: error: not an smsrun plan file (format {FORMAT})")
    return document


def check_fresh(document: dict[str, Any], digest: str, path: Path) -> None:
    if document["digest"] != digest:
        raise StalePlanError(
            f"{path}: error: the plan is stale: the campaign file, its sources or the ledger changed since it "
            "was made; run `smsrun plan` again and review the new plan")
