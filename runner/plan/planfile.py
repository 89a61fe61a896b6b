"""Saved plans: ``plan --out FILE`` writes one, ``send FILE`` sends exactly it or refuses it as stale.

The file holds the plan's summary (as ``plan --json`` shows it), the campaign file's path and the
plan's digest: a hash of the campaign file's text, every source's content and the ledger's state for
the campaign. ``send FILE`` rebuilds the plan and refuses it when the digest differs.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from runner.errors import SmsrunError, StalePlanError

FORMAT = "smsrun-plan/1"
MAX_PLAN_BYTES = 256 * 1024 * 1024


def save_plan(summary: dict[str, Any], campaign_path: Path, digest: str, out: Path) -> None:
    document = {"format": FORMAT, "campaign_file": str(campaign_path), "digest": digest, "plan": summary}
    _check_overwrite(out)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:  # a new file put in place: an existing plan is replaced whole, a symlink is replaced, not followed
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise SmsrunError.at(str(out), 0, 0, f"cannot write the plan: {exc.strerror}") from None


def _check_overwrite(out: Path) -> None:
    """``--out`` replaces a plan file or makes a new file; never a campaign, a source or anything else
    (issue 15: ``plan --out c.yaml`` overwrote the campaign)."""
    if out.is_symlink():
        raise SmsrunError.at(str(out), 0, 0, "is a symbolic link; --out writes a plan file, give a new path")
    if not out.exists():
        return
    if out.is_dir():
        raise SmsrunError.at(str(out), 0, 0, "is a folder; --out writes a plan file")
    if not is_plan_file(out):
        raise SmsrunError.at(str(out), 0, 0, "exists and is not an smsrun plan file: refusing to overwrite it "
                          "(--out writes a new .json plan file, or replaces an earlier plan)")


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
        with path.open("rb") as handle:  # issue 15: read with a cap
            data = handle.read(MAX_PLAN_BYTES + 1)
        if len(data) > MAX_PLAN_BYTES:
            raise ValueError(f"larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB")
        document: dict[str, Any] = json.loads(data.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise SmsrunError.at(str(path), 0, 0, f"not a readable plan file: {exc}") from None
    if document.get("format") != FORMAT or "digest" not in document or "campaign_file" not in document:
        raise SmsrunError.at(str(path), 0, 0, f"not an smsrun plan file (format {FORMAT})")
    return document


def check_fresh(document: dict[str, Any], digest: str, path: Path) -> None:
    if document["digest"] != digest:
        raise StalePlanError.at(
            str(path), 0, 0, "the plan is stale: the campaign file, its sources or the ledger changed since it "
            "was made; run `smsrun plan` again and review the new plan")
