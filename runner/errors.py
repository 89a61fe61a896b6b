"""Every user-facing error smsrun raises, in one place.

The CLI maps :class:`SmsrunError` (and only it) to exit code 1 with a clean message; anything else is
a bug and exits 3 with a traceback.  Provider errors carry a *classification* the send engine acts on:
retry, stop, reject the recipients, or mark them "in doubt".
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_MESSAGE = 1_000  # characters of a diagnostic's message shown on its line


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at a position in a file: rendered ``PATH:LINE:COL: severity: MESSAGE``."""

    path: str
    line: int  # 1-based; 0 when unknown
    col: int  # 1-based; 0 when unknown
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        message = self.message
        if len(message) > MAX_MESSAGE:  # issue 15: one readable line, whatever value it quotes
            message = f"{message[:MAX_MESSAGE]}… ({len(message):,} characters)"
        return f"{where}: {self.severity}: {message}"


class SmsrunError(Exception):
    """Base of every error meant for the user (exit code 1, no traceback)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])

    def __str__(self) -> str:
        if self.diagnostics:
            return "\n".join(str(d) for d in self.diagnostics)
        return self.message


class CampaignError(SmsrunError):
    """A campaign or address-book file is invalid (syntax, schema, references)."""


class SourceError(SmsrunError):
    """A recipient source cannot be read (missing file, bad CSV, refused URL, hash mismatch)."""


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
