"""What several commands share: the state folder they work in, and instants given on the command line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runner.errors import SmsrunError


def parse_moment(value: str | None, option: str = "--at") -> datetime | None:
    """``--at`` / ``--since``: an ISO 8601 date-time with its UTC offset, or None when not given."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SmsrunError(f"{option}: {value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise SmsrunError(f"{option}: {value!r} needs a UTC offset, e.g. 2026-11-28T19:30:00+01:00")
    return moment


def state_here(state_dir: Path | None) -> Path:
    """The state folder: ``--state-dir``, else $SMSRUN_STATE_DIR, else .smsrun/ at this repository's root."""
    from runner.campaign.loader import find_repo_root
    from runner.ledger import state_dir_for

    return state_dir_for(state_dir, find_repo_root(Path.cwd()))


def campaign_and_state(campaign: str, state_dir: Path | None) -> tuple[str, Path]:
    """(campaign id, state folder) from a campaign file (its repository) or a campaign id (this one)."""
    from runner.campaign.loader import find_repo_root
    from runner.check import load_campaign
    from runner.ledger import state_dir_for

    path = Path(campaign)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        loaded = load_campaign(path, check_files=False)
        return loaded.id, state_dir_for(state_dir, loaded.repo_root)
    return campaign, state_dir_for(state_dir, find_repo_root(Path.cwd()))
