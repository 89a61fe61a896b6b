"""GitHub Actions annotations (``::error file=…,line=…,col=…::message``) for validate and plan problems.

GitHub reads these workflow commands from a step's output (stdout or stderr) and shows each on the pull
request's diff, at its file and line. ``--format github`` prints them on stdout; under
``GITHUB_ACTIONS=true`` the other formats print them on stderr too, so stdout stays the plan (e.g. the
Markdown of the pull-request comment).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from runner.masking import mask_text

if TYPE_CHECKING:
    from runner.errors import Diagnostic
    from runner.plan.problems import Problem

LEVELS = {"error": "error", "warning": "warning", "info": "notice", "notice": "notice"}


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(severity: str, message: str, path: str = "", line: int = 0, col: int = 0) -> str:
    """One workflow command; the location parts that are unknown are left out. ``message`` is what is
    wrong, without its position (which goes in the properties)."""
    props = []
    if path:
        props.append(f"file={_property(path)}")
        if line:
            props.append(f"line={line}")
            if col:
                props.append(f"col={col}")
    head = LEVELS.get(severity, "warning") + (" " + ",".join(props) if props else "")
    return f"::{head}::{_data(message)}"


def _with_notes(message: str, related: Iterable[tuple[str, int, int, str]]) -> str:
    """The message, then each second location (the data row behind it) on its own line."""
    return message + "".join(f"\n{p}:{n}: {what}" for p, n, _c, what in related)


def diagnostic_annotations(diagnostics: Iterable[Diagnostic]) -> list[str]:
    """Annotations of :class:`~runner.errors.Diagnostic` values (their second locations in the text)."""
    return [annotation(d.severity, _with_notes(d.message, d.related), d.path, d.line, d.col) for d in diagnostics]


def problem_annotations(problems: Iterable[Problem], default_path: str, *, show_numbers: bool = False) -> list[str]:
    """Annotations of a plan's :class:`~runner.plan.problems.Problem` values, numbers masked as in the plan
    unless ``show_numbers``: at the campaign key that causes them, else on the campaign file."""
    mask: Callable[[str], str] = (lambda text: text) if show_numbers else mask_text
    return [annotation(p.severity, mask(_with_notes(p.message, p.related)), p.path or default_path, p.line, p.col)
            for p in problems]
