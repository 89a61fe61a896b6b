"""GitHub Actions annotations (``::error file=…,line=…,col=…::message``) for validate and plan problems.

GitHub reads these workflow commands from a step's output (stdout or stderr) and shows each on the pull
request's diff, at its file and line. ``--format github`` prints them on stdout; under
``GITHUB_ACTIONS=true`` the other formats print them on stderr too, so stdout stays the plan (e.g. the
Markdown of the pull-request comment).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

LEVELS = {"error": "error", "warning": "warning", "info": "notice", "notice": "notice"}
_LOCATED = re.compile(r"^\S.*?:\d+(?::\d+)?: (?:error|warning|info|notice): ")


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(severity: str, message: str, path: str = "", line: int = 0, col: int = 0) -> str:
    """One workflow command; the location parts that are unknown are left out."""
    props = []
    if path:
        props.append(f"file={_property(path)}")
        if line:
            props.append(f"line={line}")
            if col:
                props.append(f"col={col}")
    head = LEVELS.get(severity, "warning") + (" " + ",".join(props) if props else "")
    return f"::{head}::{_data(_LOCATED.sub('', message, count=1))}"


def diagnostic_annotations(diagnostics: Iterable[Any]) -> list[str]:
    """Annotations of :class:`~runner.errors.Diagnostic` values (their second locations in the text)."""
    out = []
    for d in diagnostics:
        message = d.message + "".join(f"\n{p}:{n}: {what}" for p, n, _c, what in getattr(d, "related", ()))
        out.append(annotation(d.severity, message, d.path, d.line, d.col))
    return out


def problem_annotations(problems: Iterable[dict[str, Any]], default_path: str) -> list[str]:
    """Annotations of a plan summary's problems (numbers masked as in the plan): at the campaign key that
    causes them, else on the campaign file."""
    return [annotation(p["severity"], p["message"], p.get("file") or default_path, p.get("line", 0),
                       p.get("col", 0)) for p in problems]
