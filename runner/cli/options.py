"""What the commands share on the command line: common options, output formats, writing out."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="Ledger folder (default: $SMSRUN_STATE_DIR, "
                                                                     "else .smsrun/ at the repository root).")]


def _use_ledger(value: str | None) -> str | None:
    """``--ledger URL``: the backend for this command (and the smsrun processes it starts)."""
    if value:
        os.environ["SMSRUN_LEDGER"] = value
    return value


LedgerOpt = Annotated[str | None, typer.Option(
    "--ledger", callback=_use_ledger, help="The ledger: postgresql://user@host/db (a team's shared server; the "
    "password from the URL or PGPASSWORD) or a SQLite file (default: $SMSRUN_LEDGER, else ledger.sqlite in the "
    "state folder).")]
ShowNumbers = Annotated[bool, typer.Option("--show-numbers", help="Show phone numbers in full (masked by default).")]
Json = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
AllowPrivateUrls = Annotated[bool, typer.Option("--allow-private-urls", help="Let remote CSV sources fetch from "
                                                "private or loopback addresses.")]


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    github = "github"


class ListFormat(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def echo_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
