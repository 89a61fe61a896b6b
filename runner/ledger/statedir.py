"""The state folder keeps itself out of git.

The ledger and the outbox are full of phone numbers: the state folder is created with a ``.gitignore``
that ignores everything in it (``.smsrun/`` at the repository root never shows as untracked), and
``plan`` warns when git tracks the ledger or the outbox anyway (committed before, or forced in).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

GITIGNORE = "# smsrun's state: the ledger and outbox hold phone numbers; never commit them\n*\n"
DEFAULT_NAME = ".smsrun"
STATE_FILES = ("ledger.sqlite", "outbox.sqlite")


def ensure_state_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) with a ``.gitignore`` ignoring everything. An existing folder
    gets one only when it is smsrun's own default (``.smsrun``): a folder the user chose may hold other
    things they track."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if (created or folder.name == DEFAULT_NAME) and not ignore.exists():
        with contextlib.suppress(OSError):  # a read-only folder still works; plan's check still warns
            ignore.write_text(GITIGNORE, encoding="utf-8")


def tracked_state_files(folder: Path, repo_root: Path) -> list[str]:
    """The ledger or outbox files git tracks in ``repo_root`` (empty when git is absent or it is no
    repository)."""
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None or not (repo_root / ".git").exists():
        return []
    try:
        inside = folder.resolve().relative_to(repo_root.resolve())
    except ValueError:
        return []  # the state folder is outside the repository
    names = [str(inside / name) for name in STATE_FILES]
    try:
        done = subprocess.run([git, "-C", str(repo_root), "ls-files", "--", *names], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in done.stdout.splitlines() if line] if done.returncode == 0 else []


def state_dir_for(explicit: Path | str | None, repo_root: Path | None) -> Path:
    """``--state-dir``, else ``$SMSRUN_STATE_DIR``, else ``.smsrun/`` at the repository root.

    A relative folder is taken from the repository root, not the working directory (issue 15): the same
    ``SMSRUN_STATE_DIR=state`` used from the root and from ``campaigns/`` must be one ledger, not two
    (two ledgers send everything twice)."""
    root = repo_root or Path.cwd()
    chosen = explicit or os.environ.get("SMSRUN_STATE_DIR")
    if chosen:
        folder = Path(chosen).expanduser()
        return folder if folder.is_absolute() else root / folder
    return root / DEFAULT_NAME
