"""The commands' library side: each takes plain arguments and returns a typed result; ``runner.cli``
parses the command line, calls them and renders what they return (text, JSON, Markdown, GitHub
annotations).

One module per command or command group: ``validate``, ``plan``, ``send``, ``status`` (with the
delivery reports ``--refresh`` pulls), ``outbox``, ``schema``, ``receive``, ``replies``, ``optout``,
``ledger``; ``common`` what several share. A provider's admin commands (``smsrun ovh lists``) are the
provider's own (``ProviderSpec.admin``).
"""

from __future__ import annotations

from runner.commands.validate import FileResult, ValidationResult, validate_paths

__all__ = ["FileResult", "ValidationResult", "validate_paths"]
