"""Test-wide guards: no network beyond loopback, no writes to $HOME, a private state dir per test."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise OSError(f"tests must not touch the network (connect to {address!r} refused)")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise OSError(f"tests must not touch the network (connect to {address!r} refused)")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (None, "localhost") and not _looks_loopback(host):
        raise socket.gaierror(f"tests must not resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _looks_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SMSRUN_STATE_DIR", str(home / "state"))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    for var in ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY", "OVH_ENDPOINT",
                "OVH_SERVICE_NAME", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "KANNEL_USERNAME",
                "KANNEL_PASSWORD", "SMSRUN_RECEIVER_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield home


@pytest.fixture
def repo(tmp_path: Path) -> Any:
    from tests.support.repo import Repo

    return Repo(tmp_path / "repo")


# -- the ledger backends: SQLite (embedded) and PostgreSQL (a throwaway server per session) -------------------
# Tests of the ledger, the send engine, the receiver and the proofs take ``ledger_backend`` (their folders'
# conftest makes it autouse): each runs once per backend. The PostgreSQL run sets SMSRUN_LEDGER to a fresh
# schema of the session's server, so the real `smsrun` subprocesses of the proofs use it too.

_PG: dict[str, Any] = {}

#: a test marked with one of these runs only on that backend: its run on the other is deselected (not
#: reported as skipped, which would read as a gap in the coverage)
_ONLY = {"postgresql_only": "postgresql", "sqlite_only": "sqlite"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("ledger_backend")
        wanted = {_ONLY[m.name] for m in item.iter_markers() if m.name in _ONLY}
        (dropped if backend is not None and wanted and backend not in wanted else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    import os

    from tests.support.pg import Server, Unavailable

    try:
        server = Server()
    except Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no PostgreSQL server: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    backend = str(request.param)
    if backend == "sqlite":
        monkeypatch.delenv("SMSRUN_LEDGER", raising=False)
        yield backend
        return
    server = request.getfixturevalue("pg_server")
    url = server.url()
    monkeypatch.setenv("SMSRUN_LEDGER", url)
    yield backend
    server.drop(url)
