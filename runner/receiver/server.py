"""``smsrun receive``: a small HTTP server recording delivery reports and replies in the ledger.

* **One process, stdlib only**: a :class:`~http.server.ThreadingHTTPServer` (one thread per connection,
  HTTP/1.1 keep-alive), one ledger connection used under a lock. SQLite serialises writes anyway; a
  report is one short transaction.
* **A secret token in the path** guards every endpoint (``/<token>/kannel/dlr``...; see
  :mod:`runner.receiver.handlers`). Any other path, a wrong or missing token included, is answered 404
  and nothing is recorded. The token is compared in constant time and never logged: log lines show the
  path from the route on (``/…/kannel/dlr``).
* **Acknowledged means on disk**: a 2xx is written only after the ledger transaction committed
  (``synchronous=FULL``), so a crash, ``kill -9`` included, never loses what a gateway was told was
  received.
* **Never crashes on a request**: unreadable requests get 400, bodies over :data:`MAX_BODY` 413, a
  handler bug 500 (logged); a slow client is cut after :data:`REQUEST_TIMEOUT` seconds.
* **Logs**: one line per request through the ``smsrun.receiver`` logger (the CLI prints it on stderr),
  phone numbers masked.
* **Stops gracefully** on SIGTERM or SIGINT: no new connection is accepted, requests in flight finish,
  the ledger is closed (:func:`serve`).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from runner.errors import ConfigError, LedgerError
from runner.ledger.store import Ledger
from runner.masking import mask_text
from runner.receiver.handlers import ROUTES, Context, Request, Response
from runner.receiver.store import apply_backlog, check_region, ensure_backlog

log = logging.getLogger("smsrun.receiver")

ENV_TOKEN = "SMSRUN_RECEIVER_TOKEN"
MIN_TOKEN_LENGTH = 16
MAX_BODY = 64 * 1024
REQUEST_TIMEOUT = 30.0
MAX_FIELDS = 200
BACKLOG_EVERY = 1.0  # seconds between two passes over the reports kept for rows not yet settled
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")


@dataclass(frozen=True)
class ReceiverConfig:
    host: str
    port: int
    token: str
    state_dir: Path
    public_url: str | None = None  # the base URL gateways call (scheme, host, prefix a proxy strips)
    twilio_auth_token: str | None = None
    region: str | None = None  # for replies from national numbers


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections do not hold the exit; requests in flight are awaited
    block_on_close = False
    allow_reuse_address = True
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError, socket.timeout)):
            log.error("internal error while serving a request: %s", type(error).__name__)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "smsrun-receiver"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.receiver.handle(self)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # the default line would show the token
        return

    def log_error(self, format: str, *args: Any) -> None:
        return


class Receiver:
    """The HTTP server; :meth:`start` serves in a background thread (tests), :func:`serve` in the
    foreground until a signal (the CLI)."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self._token = check_token(config.token).encode()
        region = check_region(config.region)
        self.ledger = Ledger(config.state_dir)
        ensure_backlog(self.ledger)
        self.context = Context(self.ledger, twilio_auth_token=config.twilio_auth_token, region=region)
        server_class = _Server6 if ":" in config.host else _Server
        try:
            self.httpd = server_class((config.host, config.port), _Handler)
        except OSError as exc:
            self.ledger.close()
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
        self.httpd.receiver = self
        self._thread: threading.Thread | None = None
        self._active = 0
        self._closing = False
        self._stopping = threading.Event()
        self._backlog_thread: threading.Thread | None = None
        self._idle = threading.Condition()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` as bound (without the token)."""
        host = self.config.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def url(self, route: str) -> str:
        """The full URL of a route, token included (for tests and gateway configuration)."""
        return f"{self.base_url}/{self.config.token}/{route.lstrip('/')}"

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="smsrun-receiver", daemon=True)
        self._thread.start()
        self._backlog_thread = threading.Thread(target=self._backlog_loop, name="smsrun-receiver-backlog",
                                                daemon=True)
        self._backlog_thread.start()
        return self

    def _backlog_loop(self) -> None:
        while not self._stopping.wait(BACKLOG_EVERY):
            self.flush_backlog()

    def flush_backlog(self) -> None:
        """Apply the kept reports whose messages are now settled (see :func:`apply_backlog`)."""
        try:
            with self.context.lock:
                if self._closing:
                    return
                outcome = apply_backlog(self.ledger)
        except LedgerError as exc:
            log.warning("backlog: %s", exc.message)
            return
        if outcome.applied or outcome.expired:
            self.context.stats_add("backlog_applied", outcome.applied)
            self.context.stats_add("backlog_expired", outcome.expired)
            log.info("backlog: %d report(s) applied to messages now settled, %d expired, %d waiting",
                     outcome.applied, outcome.expired, outcome.waiting)

    def stop(self, grace: float = 20.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` seconds), close the ledger."""
        self._stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        if self._backlog_thread is not None:
            self._backlog_thread.join()
            self._backlog_thread = None
        with self._idle:
            self._closing = True
            self._idle.wait_for(lambda: self._active == 0, timeout=grace)
            with self.context.lock:
                self.ledger.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stats(self) -> dict[str, int]:
        return self.context.snapshot()

    # -- one request --------------------------------------------------------------------------------

    def handle(self, h: _Handler) -> None:
        with self._idle:
            if self._closing:  # a kept-alive connection after stop(): nothing is recorded
                h.close_connection = True
                self._send(h, Response(503, b"shutting down\n"))
                return
            self._active += 1
        try:
            self._handle(h)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _handle(self, h: _Handler) -> None:
        started = time.monotonic()
        split = urllib.parse.urlsplit(h.path)
        segments = [urllib.parse.unquote(s) for s in split.path.split("/") if s]
        shown = "/…/" + "/".join(segments[1:]) if segments else "/"
        self.context.count("requests")
        try:
            response = self._respond(h, segments, split.query)
        except LedgerError as exc:
            self.context.count("errors")
            response = Response(503, b"the ledger is unavailable, try again\n", note=f"ledger error: {exc.message}")
        except Exception as exc:  # a bug: answer 500, keep serving
            self.context.count("errors")
            response = Response(500, b"internal error\n", note=f"internal error: {type(exc).__name__}: {exc}")
        self._send(h, response)
        elapsed = (time.monotonic() - started) * 1000
        line = f"{h.command} {shown if response.status != 404 else '/…'} {response.status} {elapsed:.0f}ms"
        if response.note:
            line += " " + mask_text(" ".join(response.note.split()))[:300]
        (log.warning if response.status >= 500 else log.info)("%s", line)

    def _respond(self, h: _Handler, segments: list[str], query: str) -> Response:
        if not segments or not hmac.compare_digest(segments[0].encode(), self._token):
            self.context.count("not_found")
            self._discard_body(h)
            return Response(404, b"not found\n", note="unknown path")
        route = tuple(segments[1:])
        entry = ROUTES.get(route)
        if entry is None:
            self.context.count("not_found")
            self._discard_body(h)
            return Response(404, b"not found\n", note="unknown route")
        methods, handler = entry
        if h.command not in methods:
            self._discard_body(h)
            return Response(405, b"method not allowed\n", note=f"{h.command} not allowed")
        body = self._read_body(h)
        if isinstance(body, Response):
            self.context.count("malformed")
            return body
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            query_pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
            form_pairs: list[tuple[str, str]] = []
            if body and "x-www-form-urlencoded" in headers.get("content-type", ""):
                form_pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                                    max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            self.context.count("malformed")
            return Response(400, b"bad request: unreadable parameters\n", note=f"bad request: {type(exc).__name__}")
        request = Request(method=h.command, route=route, query=dict(query_pairs), form=dict(form_pairs),
                          form_pairs=form_pairs, headers=headers, body=body, url=self._public_url(h))
        response = handler(self.context, request)
        if response.status == 400:
            self.context.count("malformed")
        return response

    def _read_body(self, h: _Handler) -> bytes | Response:
        if h.headers.get("Transfer-Encoding"):
            h.close_connection = True
            return Response(411, b"length required\n", note="chunked body refused")
        raw = h.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            h.close_connection = True
            return Response(400, b"bad request: Content-Length\n", note="bad Content-Length")
        if length < 0:
            h.close_connection = True
            return Response(400, b"bad request: Content-Length\n", note="bad Content-Length")
        if length > MAX_BODY:
            h.close_connection = True
            return Response(413, b"request too large\n", note=f"body of {length} bytes refused")
        data = h.rfile.read(length) if length else b""
        if len(data) < length:
            h.close_connection = True
            return Response(400, b"bad request: truncated body\n", note="truncated body")
        return data

    def _discard_body(self, h: _Handler) -> None:
        """Read a small body we will not use, so keep-alive stays in step; close on anything else."""
        raw = h.headers.get("Content-Length")
        if h.headers.get("Transfer-Encoding") or (raw is not None and (not raw.isdigit() or int(raw) > MAX_BODY)):
            h.close_connection = True
        elif raw:
            h.rfile.read(int(raw))

    def _public_url(self, h: _Handler) -> str:
        """The URL the gateway called: ``--public-url`` + the path and query as received, else the Host."""
        if self.config.public_url:
            return self.config.public_url + h.path
        host = h.headers.get("Host") or f"{self.config.host}:{self.port}"
        return f"http://{host}{h.path}"

    @staticmethod
    def _send(h: _Handler, response: Response) -> None:
        try:
            h.send_response(response.status)
            h.send_header("Content-Type", response.content_type)
            h.send_header("Content-Length", str(len(response.body)))
            h.send_header("Cache-Control", "no-store")
            if h.close_connection:
                h.send_header("Connection", "close")
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(response.body)
        except OSError:  # the client went away: what was committed stays committed
            h.close_connection = True


@contextlib.contextmanager
def _signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(config: ReceiverConfig, *, ready: Callable[[Receiver], None] | None = None) -> dict[str, int]:
    """Run the receiver until SIGTERM or SIGINT; returns its counters. ``ready`` is called once it listens."""
    receiver = Receiver(config)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    with _signals(on_signal):
        receiver.start()
        try:
            if ready is not None:
                ready(receiver)
            while not stop.wait(0.5):
                pass
        finally:
            receiver.stop()
    name = signal.Signals(received[0]).name if received else "stop"
    log.info("stopped (%s): %s", name, ", ".join(f"{k} {v}" for k, v in sorted(receiver.stats.items())) or "idle")
    return receiver.stats
