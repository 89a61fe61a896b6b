"""Secret values never reach what smsrun prints (issue 15).

A gateway's error body can quote the password it received; an exception can carry a URL with a token;
a library can log a header. Whatever the source, every secret value smsrun knows - the environment
variables it reads credentials from, and any other whose name says it is a secret - is replaced by
``[redacted]`` in every message: the CLI's output streams are wrapped (:func:`install`), provider error
messages are redacted when made (they are also stored in the ledger as reasons).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

KNOWN = ("KANNEL_PASSWORD", "OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY",
         "TWILIO_AUTH_TOKEN", "SMSRUN_RECEIVER_TOKEN", "TWILIO_API_SECRET", "PGPASSWORD", "SMSRUN_LEDGER_URL",
         "SMSRUN_LEDGER")
_SECRET_NAME = re.compile(r"(?:PASSWORD|PASSWD|SECRET|TOKEN|_KEY|_PASS|APIKEY|CREDENTIALS?)$")
MIN_LENGTH = 4  # shorter values would mask ordinary text
MASK = "[redacted]"


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values of the environment and their URL-encoded forms, longest first."""
    env = os.environ if environ is None else environ
    values: set[str] = set()
    for name, value in env.items():
        if not value or len(value) < MIN_LENGTH:
            continue
        if name in KNOWN or _SECRET_NAME.search(name.upper()):
            values.update({value, quote(value, safe=""), quote_plus(value)})
            if name in ("SMSRUN_LEDGER_URL", "SMSRUN_LEDGER"):  # a connection URL: only its password is secret
                found = re.match(r"^[a-z0-9+]+://[^:/@]*:([^@]+)@", value)
                values.discard(value)
                values.discard(quote(value, safe=""))
                values.discard(quote_plus(value))
                if found and len(found.group(1)) >= MIN_LENGTH:
                    values.add(found.group(1))
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: list[str] | None = None) -> str:
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class _RedactingStream:
    """A text stream that redacts what is written to it, and otherwise behaves as the stream it wraps."""

    def __init__(self, stream: TextIO, values: list[str]) -> None:
        self._stream = stream
        self._values = values

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._values))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install() -> None:
    """Wrap stdout and stderr for the rest of the process (the CLI calls it once, first)."""
    values = secret_values()
    if not values:
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _RedactingStream):
            setattr(sys, name, _RedactingStream(stream, values))
