"""How a user-facing error is shown: rendered from its diagnostics, never parsed from its text.

Each diagnostic is one ``PATH:LINE:COL: error: MESSAGE`` line (its second locations as ``note:`` lines
under it); an error with no position is ``error: MESSAGE``. Under GitHub Actions the same problems are
also annotations on the pull request's diff, at their file and line.
"""

from __future__ import annotations

from runner.cli.annotations import diagnostic_annotations
from runner.errors import SmsrunError


def error_text(exc: SmsrunError) -> str:
    return "\n".join(str(d) for d in exc.as_diagnostics())


def error_annotations(exc: SmsrunError) -> str:
    return "\n".join(diagnostic_annotations(exc.as_diagnostics()))
