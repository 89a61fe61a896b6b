"""Which ledger a command uses: ``--ledger URL`` / ``$SMSRUN_LEDGER``, else ``ledger.sqlite`` in the state folder.

``postgresql://user:password@host:port/db?schema=name`` (or ``postgres://``) selects the PostgreSQL
backend; anything else is the path of a SQLite file. The password of a URL never appears in what
smsrun prints: :func:`redact_url` replaces it, and :mod:`runner.redaction` masks it in every stream.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ENV = "SMSRUN_LEDGER"
SCHEMA_ENV = "SMSRUN_LEDGER_SCHEMA"
DEFAULT_SCHEMA = "smsrun"
_PG = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_PASSWORD = re.compile(r"^([a-z0-9+]+://[^:/@]*:)([^@]*)(@)", re.IGNORECASE)


def configured() -> str | None:
    """The ledger the user chose (``--ledger`` sets ``$SMSRUN_LEDGER``), or None for the default."""
    value = os.environ.get(ENV, "").strip()
    return value or None


def is_postgres(url: str | None) -> bool:
    return bool(url) and _PG.match(url or "") is not None


def sqlite_path(state_dir: Path) -> Path:
    """The SQLite file the commands use: ``$SMSRUN_LEDGER`` when it is a path, else ``ledger.sqlite``."""
    chosen = configured()
    if chosen and not is_postgres(chosen):
        path = Path(chosen.removeprefix("sqlite://")).expanduser()
        return path if path.is_absolute() else Path.cwd() / path
    return state_dir / "ledger.sqlite"


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``; a path is returned as it is."""
    return _PASSWORD.sub(r"\1***\3", url)


def split_schema(url: str) -> tuple[str, str]:
    """(connection URL without smsrun's own ``schema`` parameter, the schema to use)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = os.environ.get(SCHEMA_ENV) or DEFAULT_SCHEMA
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        from runner.errors import ConfigError

        raise ConfigError(f"ledger schema {schema!r}: use letters, digits and _ (at most 63)")
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def ledger_exists(state_dir: Path) -> bool:
    """Whether there is a ledger to read. ``plan``, ``status`` and the other readers take an absent one as
    empty and create nothing: no SQLite file, no PostgreSQL schema (which a read-only role could not
    create anyway). An unreachable PostgreSQL server is a clear :class:`LedgerError` here already."""
    chosen = configured()
    if chosen and is_postgres(chosen):
        from runner.ledger.pg.schema import ledger_schema_exists

        return ledger_schema_exists(chosen)
    return sqlite_path(state_dir).exists()
