"""``smsrun receive``: an HTTP server recording delivery reports and replies in the ledger.

* **A real server**: uvicorn (h11) serving a Starlette application (:mod:`runner.receiver.app`) on one
  asyncio event loop, so a thousand connections cost a thousand small objects, not a thousand threads.
  The listening socket is opened here with a backlog of :data:`LISTEN_BACKLOG` (the stdlib server's 5
  made gateways' SYNs wait 1 s, 3 s, 7 s... under a burst, and lost reports); the soft limit on open
  files is raised to the hard one.
* **Bounded**: a request's head (request line and headers) at most :data:`MAX_HEAD` bytes, its body
  :data:`~runner.receiver.app.MAX_BODY` bytes, and the whole request must arrive within
  :data:`~runner.receiver.protocol.REQUEST_TIMEOUT` seconds (:mod:`runner.receiver.protocol`), so a
  client sending a byte a second is cut and slow clients cannot hold the others: they cost the loop
  nothing while they wait.
* **Acknowledged means on disk**: every ledger call runs on the receiver's ledger thread
  (:mod:`runner.receiver.writer`), reports committed in groups under a burst; a 2xx is written only
  after the transaction holding the report committed (``synchronous=FULL``), so a crash, ``kill -9``
  included, never loses what a gateway was told was received.
* **Logs**: one line per request through the ``smsrun.receiver`` logger (the CLI prints it on stderr),
  phone numbers masked, the token never shown.
* **Stops gracefully** on SIGTERM or SIGINT (:func:`serve`): the listening socket closes, idle
  connections are closed, requests in flight finish (up to ``grace`` seconds) and are answered, the
  ledger thread writes what it was handed, then the ledger is closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import resource
import signal
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.requests import Request as HttpRequest

from runner.errors import ConfigError, LedgerError
from runner.ledger.store import Ledger
from runner.receiver.app import MAX_BODY, build_app
from runner.receiver.handlers import Context
from runner.receiver.protocol import REQUEST_TIMEOUT, DeadlineH11Protocol
from runner.receiver.store import apply_backlog, check_region, ensure_backlog
from runner.receiver.writer import LedgerWriter

log = logging.getLogger("smsrun.receiver")

ENV_TOKEN = "SMSRUN_RECEIVER_TOKEN"
MIN_TOKEN_LENGTH = 16
LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn (4096 on current kernels)
MAX_HEAD = 16 * 1024  # request line and headers
KEEP_ALIVE = 5.0  # seconds an idle kept-alive connection stays open
GRACE = 20.0  # seconds requests in flight get to finish after SIGTERM
__all__ = ["MAX_BODY", "Receiver", "ReceiverConfig", "serve"]
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")


@dataclass(frozen=True)
class ReceiverConfig:
    host: str
    port: int
    token: str
    state_dir: Path
    public_url: str | None = None  # the base URL gateways call (scheme, host, prefix a proxy strips)
    region: str | None = None  # for replies from national numbers
    #: the secrets the providers' receiver routes declare (env var -> value; see registry.receiver_secrets)
    secrets: Mapping[str, str] = field(default_factory=dict)


def check_token(token: str | None) -> str:
    """The receiver's token, or a :class:`ConfigError` saying how to make one."""
    hint = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if not token:
        raise ConfigError(f"{ENV_TOKEN} is not set: the receiver's paths are guarded by this secret; {hint}")
    if len(token) < MIN_TOKEN_LENGTH or not _TOKEN_CHARS.match(token):
        raise ConfigError(f"{ENV_TOKEN} must be at least {MIN_TOKEN_LENGTH} characters among letters, digits and "
                          f"'._~-' (it goes in URLs); {hint}")
    return token


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; port 0: any free port)."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


def check_public_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"--public-url: {value!r} must be an http(s) URL without query, e.g. "
                          "https://sms.example.com or https://example.com/smsrun")
    return value.strip().rstrip("/")



def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a bad address is a clear error and the port is known."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _raise_open_files_limit() -> None:
    """Connections are files: the usual soft limit of 1,024 would refuse a burst the loop could serve."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _UvicornServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() handles SIGTERM/SIGINT itself; uvicorn's own handling would re-raise the signal on exit
        yield


class Receiver:
    """The HTTP server; :meth:`start` serves in a background thread (tests), :func:`serve` in the
    foreground until a signal (the CLI)."""

    def __init__(self, config: ReceiverConfig, *, grace: float = GRACE,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.config = config
        token = check_token(config.token)
        region = check_region(config.region)
        ledger = Ledger(config.state_dir)
        try:
            ensure_backlog(ledger)
            self.sock = _listen(config.host, config.port)
        except BaseException:
            ledger.close()
            raise
        self._port = int(self.sock.getsockname()[1])
        self.writer = LedgerWriter(ledger, on_backlog=self._backlog)
        self.context = Context(self.writer, secrets=dict(config.secrets), region=region)
        app = build_app(self.context, token, self._public_url, max_head=MAX_HEAD)
        protocol = type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_timeout": request_timeout})
        self.server = _UvicornServer(uvicorn.Config(
            app, backlog=LISTEN_BACKLOG, http=protocol, lifespan="off", log_config=None,
            access_log=False, server_header=False, proxy_headers=False, timeout_keep_alive=int(KEEP_ALIVE),
            timeout_graceful_shutdown=max(1, round(grace)), h11_max_incomplete_event_size=MAX_HEAD,
            loop="asyncio", ws="none"))
        self._thread: threading.Thread | None = None
        self._served = False

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` as bound (without the token)."""
        host = self.config.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def url(self, route: str) -> str:
        """The full URL of a route, token included (for tests and gateway configuration)."""
        return f"{self.base_url}/{self.config.token}/{route.lstrip('/')}"

    def _public_url(self, http: HttpRequest) -> str:
        """The URL the gateway called: ``--public-url`` + the path and query as received, else the Host."""
        raw_path: bytes = http.scope.get("raw_path", b"")
        raw_query: bytes = http.scope.get("query_string", b"")
        target, query = raw_path.decode("latin-1"), raw_query.decode("latin-1")
        if query:
            target += "?" + query
        if self.config.public_url:
            return f"{self.config.public_url}{target}"
        host: str = http.headers.get("host") or f"{self.config.host}:{self.port}"
        return f"http://{host}{target}"

    # -- running ---------------------------------------------------------------------------------------

    async def _serve(self, on_ready: Callable[[], None]) -> None:
        self._served = True
        task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started and not task.done():
            await asyncio.sleep(0.01)
        on_ready()
        await task

    def start(self) -> Receiver:
        """Serve in a background thread (its own event loop) until :meth:`stop`."""
        self.writer.start()
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(ready.set)),
                                        name="smsrun-receiver", daemon=True)
        self._thread.start()
        ready.wait(30)
        return self

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish and be answered, write what the ledger thread
        holds, close the ledger."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self._served:
            self.sock.close()
        self.writer.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stats(self) -> dict[str, int]:
        return self.context.snapshot()

    # -- the report backlog ----------------------------------------------------------------------------

    def _backlog(self, ledger: Ledger) -> None:
        """Apply the kept reports whose messages are now settled (runs on the ledger thread)."""
        try:
            outcome = apply_backlog(ledger)
        except LedgerError as exc:
            log.warning("backlog: %s", exc.message)
            return
        if outcome.applied or outcome.expired:
            self.context.stats_add("backlog_applied", outcome.applied)
            self.context.stats_add("backlog_expired", outcome.expired)
            log.info("backlog: %d report(s) applied to messages now settled, %d expired, %d waiting",
                     outcome.applied, outcome.expired, outcome.waiting)

    def flush_backlog(self) -> None:
        """Run the backlog pass now (see :func:`apply_backlog`) and wait for it."""
        self.writer.call(self._backlog, timeout=60)


def serve(config: ReceiverConfig, *, ready: Callable[[Receiver], None] | None = None) -> dict[str, int]:
    """Run the receiver until SIGTERM or SIGINT; returns its counters. ``ready`` is called once it listens."""
    receiver = Receiver(config)
    _raise_open_files_limit()
    uvicorn_log = logging.getLogger("uvicorn.error")  # its warnings ("Invalid HTTP request received.") with ours
    for handler in log.handlers:
        uvicorn_log.addHandler(handler)
    if log.handlers:
        uvicorn_log.propagate = False
        uvicorn_log.setLevel(logging.WARNING)
    received: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            received.append(signum)
            if receiver.server.should_exit:  # a second signal: stop waiting for requests in flight
                receiver.server.force_exit = True
            receiver.server.should_exit = True

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal, sig)
        await receiver._serve(lambda: ready(receiver) if ready is not None else None)

    receiver.writer.start()
    try:
        asyncio.run(main())
    finally:
        receiver.writer.close()
    name = signal.Signals(received[0]).name if received else "stop"
    log.info("stopped (%s): %s", name, ", ".join(f"{k} {v}" for k, v in sorted(receiver.stats.items())) or "idle")
    return receiver.stats
