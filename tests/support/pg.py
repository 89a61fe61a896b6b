"""A throwaway PostgreSQL server for the tests: one per test session, one schema per test.

The server is Debian's ``postgresql`` (``.ci/install-postgresql.sh``), run as the ``postgres`` user
(``initdb`` refuses root) in a temporary data folder, on a free 127.0.0.1 port, with its sockets in that
folder. ``fsync`` stays on: the proofs are about what survives. Each test gets a schema of its own in
one database (``?schema=`` in the ledger URL): creating one is a few milliseconds.

Without PostgreSQL binaries the PostgreSQL variants skip with a message saying how to get them; under
``CI=true`` that is a failure. ``SMSRUN_TEST_POSTGRES_URL`` uses a server you run yourself instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

HOW_TO = ("PostgreSQL tests need a server: `bash .ci/install-postgresql.sh` (Debian's postgresql package, as "
          "root), or set SMSRUN_TEST_POSTGRES_URL=postgresql://user:password@127.0.0.1:5432/db")


class Unavailable(Exception):
    pass


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server started for this session (stopped by :meth:`stop`), or one given by URL."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        given = os.environ.get("SMSRUN_TEST_POSTGRES_URL")
        if given:
            self.base_url = given
            return
        bins = _bin_dir()
        if bins is None:
            raise Unavailable(HOW_TO)
        self.bins = bins
        self.folder = Path(tempfile.mkdtemp(prefix="smsrun-pg-"))
        self.port = _free_port()
        data = self.folder / "data"
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            as_postgres = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-c"]
            shutil.chown(self.folder, "postgres")
        self.as_postgres = as_postgres
        self._run([str(bins / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8", "--no-sync"])
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                   "-c shared_buffers=64MB")
        self._run([str(bins / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.folder / "log"), "-w",
                   "start"])
        self.base_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        as_user = self.as_postgres
        argv = [*as_user, " ".join(argv)] if as_user[:1] == ["su"] else [*as_user, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")

    def url(self, schema: str | None = None) -> str:
        """The ledger URL of a fresh schema (created by smsrun on first use)."""
        schema = schema or f"t_{uuid.uuid4().hex[:16]}"
        sep = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{sep}schema={schema}"

    def drop(self, url: str) -> None:
        import psycopg

        schema = url.rsplit("schema=", 1)[1]
        try:
            with psycopg.connect(self.base_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error:
            pass

    def stop(self) -> None:
        if self.folder is None:
            return
        for _ in range(2):
            try:
                self._run([str(self.bins / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"])
                break
            except Unavailable:
                time.sleep(0.5)
        shutil.rmtree(self.folder, ignore_errors=True)
