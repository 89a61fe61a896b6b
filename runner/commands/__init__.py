"""The commands' library side: each takes plain arguments and returns a typed result; ``runner.cli``
parses the command line, calls them and renders what they return (text, JSON, GitHub annotations).

Moved here so far: ``validate``. ``replies``, ``reports`` and ``ovh_lists`` still live at the package
root (issue 12).
"""

from __future__ import annotations

from runner.commands.validate import FileResult, ValidationResult, validate_paths

__all__ = ["FileResult", "ValidationResult", "validate_paths"]
