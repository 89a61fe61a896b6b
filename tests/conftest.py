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
