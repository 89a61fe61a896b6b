from __future__ import annotations

from runner.cli.main import run

run()
