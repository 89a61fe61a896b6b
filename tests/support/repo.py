"""A throw-away repository holding campaign files, and a runner for the real ``smsrun`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / ".git").exists():  # a git worktree has a .git file
            (path / ".git").mkdir(parents=True)
        self.state = path / ".smsrun"

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def copy_examples(self) -> None:
        shutil.copytree(ROOT / "campaigns", self.path / "campaigns", dirs_exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SMSRUN_STATE_DIR"}
        env.update({"SMSRUN_STATE_DIR": str(self.state), "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
                    "COLUMNS": "200"})
        env.update(extra)
        return env

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=self.path, env=self.env(**extra),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, timeout: float = 120, **extra: str) -> Result:
        proc = subprocess.run([sys.executable, "-m", "runner", *args], cwd=self.path, env=self.env(**extra),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def outbox(self) -> list[tuple[str, str, str]]:
        import sqlite3

        path = self.state / "outbox.sqlite"
        if not path.exists():
            return []
        db = sqlite3.connect(path)
        try:
            return list(db.execute("SELECT campaign_id, recipient, text FROM outbox ORDER BY id"))
        finally:
            db.close()


def french_mobiles(n: int, start: int = 0) -> list[str]:
    """``n`` distinct valid French mobile numbers (+336 12 xx xx xx range)."""
    return [f"+3361{(start + i):07d}" for i in range(n)]
