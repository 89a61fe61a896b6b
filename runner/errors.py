"""Every user-facing error smsrun raises, in one place.

The CLI maps :class:`SmsrunError` (and only it) to exit code 1 with a clean message; anything else is
a bug and exits 3 with a traceback.  Provider errors carry a *classification* the send engine acts on:
retry, stop, reject the recipients, or mark them "in doubt".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self


def _where(path: str, line: int, col: int) -> str:
    where = path
    if line:
        where += f":{line}"
        if col:
            where += f":{col}"
    return where


MAX_MESSAGE = 1_000  # characters of a diagnostic's message shown on its line


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at a position in a file: rendered ``PATH:LINE:COL: severity: MESSAGE``.

    The parts of the position that are unknown are 0 (or ``""`` for the path) and left out when rendered:
    ``PATH: error: MESSAGE``, or ``error: MESSAGE`` for a problem with no file at all.
    ``related`` is a second location (path, line, col, what is there), e.g. the data row behind a problem
    reported at the campaign key that causes it; rendered on its own ``note:`` line."""

    path: str
    line: int  # 1-based; 0 when unknown
    col: int  # 1-based; 0 when unknown
    message: str
    severity: str = "error"
    related: tuple[tuple[str, int, int, str], ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        message = self.message
        if len(message) > MAX_MESSAGE:  # issue 15: one readable line, whatever value it quotes
            message = f"{message[:MAX_MESSAGE]}… ({len(message):,} characters)"
        where = _where(self.path, self.line, self.col)
        text = f"{where}: {self.severity}: {message}" if where else f"{self.severity}: {message}"
        for path, line, col, what in self.related:
            text += f"\n  {_where(path, line, col)}: note: {what}"
        return text

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "line": self.line, "col": self.col, "severity": self.severity,
                                  "message": self.message}
        if self.related:
            out["related"] = [{"path": p, "line": n, "col": c, "note": w} for p, n, c, w in self.related]
        return out


class SmsrunError(Exception):
    """Base of every error meant for the user (exit code 1, no traceback).

    ``message`` says what is wrong, without a position; ``diagnostics`` are the problems, each at its
    file, line and column. They stay structured until the CLI renders them (text, JSON, GitHub
    annotations): nothing formats ``path:line:col: error:`` into a message, nothing parses it back."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])

    @classmethod
    def at(cls, path: str, line: int, col: int, message: str, **kwargs: Any) -> Self:
        """The error of one problem at ``path:line:col`` (0 when unknown)."""
        return cls(message, [Diagnostic(path, line, col, message)], **kwargs)

    def as_diagnostics(self) -> list[Diagnostic]:
        """The diagnostics to show: those located, else the message as a problem with no file."""
        return self.diagnostics or [Diagnostic("", 0, 0, self.message)]

    def __str__(self) -> str:
        if self.diagnostics:
            return "\n".join(str(d) for d in self.diagnostics)
        return self.message


class CampaignError(SmsrunError):
    """A campaign or address-book file is invalid (syntax, schema, references)."""


class SourceError(SmsrunError):
    """A recipient source cannot be read (missing file, bad CSV, refused URL, hash mismatch).

    ``key`` names the source option that causes it (``column``, ``encoding``, ``fields.first_name``...), so
    the problem can be shown at that key in the campaign file, the source's own position second."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None, *, key: str | None = None) -> None:
        super().__init__(message, diagnostics)
        self.key = key
        self.relocated = False  # True once its diagnostics are at the campaign key (runner.sources.keyed)


class PlanError(SmsrunError):
    """The plan cannot be built or fails a safety limit (max_recipients, max_parts, max_cost...)."""


class StalePlanError(SmsrunError):
    """A saved plan no longer matches the campaign, its sources or the ledger."""


class LedgerError(SmsrunError):
    """The ledger refuses the operation (content changed after sending started, unwritable state...)."""


class CampaignLockedError(LedgerError):
    """Another ``smsrun send`` of the same campaign is running."""


class ConfigError(SmsrunError):
    """Missing or invalid configuration: provider settings, environment variables."""


class ProviderError(SmsrunError):
    """Base of errors a provider raises for a whole request.

    ``query_id`` is the provider's request identifier (quoted to the user when present).
    """

    def __init__(self, message: str, *, query_id: str | None = None) -> None:
        from runner.redaction import redact

        if query_id:
            message = f"{message} (query id {query_id})"
        super().__init__(redact(message))  # issue 15: a gateway may quote a secret back; reasons are stored
        self.query_id = query_id


class RetryableError(ProviderError):
    """Nothing was accepted; the same request may be sent again (429, 5xx before acceptance)."""

    def __init__(self, message: str, *, retry_after: float | None = None, query_id: str | None = None):
        super().__init__(message, query_id=query_id)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """The provider refused the request for good (400): the recipients are rejected."""


class InDoubtError(ProviderError):
    """The request may have been accepted (timeout or dropped connection after sending)."""


class CredentialsError(ProviderError):
    """The provider refused our credentials (401/403): the run stops."""


class TooManyFailuresError(ProviderError):
    """The run stopped after too many consecutive failed requests."""


class NotSentError(ProviderError):
    """Nothing was accepted and sending again will not help now (a damaged local store...): the rows go
    back to pending and the run stops (issue 15)."""
