"""The checks that need several stages, run in a stage above them: loading a campaign to plan or send it
(the file, its template, its characters, its STOP mention, its source files) and ``validate``'s offline
checks (every local source read through, the message rendered for each row, the provider's settings).

:mod:`runner.campaign` reads the file alone; the stages (:mod:`runner.message`, :mod:`runner.sources`,
:mod:`runner.providers`) know nothing of one another. This package is where they meet.
"""

from __future__ import annotations

from runner.check.load import load_campaign
from runner.check.offline import check_file, offline_checks

__all__ = ["check_file", "load_campaign", "offline_checks"]
