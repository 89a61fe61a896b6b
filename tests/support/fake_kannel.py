"""A loopback Kannel smsbox ``/cgi-bin/sendsms`` (POST with ``X-Kannel-*`` headers), answering as Kannel
1.4.5 does, for the provider conformance suite's fault injection (the real Kannel, which cannot be made
to fail on cue, is exercised by tests/providers/test_kannel.py).

* credentials from ``X-Kannel-Username``/``-Password``: 403 ``Authorization failed for sendsms``;
* 202 ``0: Accepted for delivery``, every recipient of ``X-Kannel-To`` recorded with the body's text;
* a request naming a refused number: 400 ``Number is black/white-listed`` (nothing recorded);
* scripted faults for the next requests: ``retryable`` (503, nothing recorded), ``in_doubt`` (recorded,
  then the connection is closed without an answer), ``hang`` (recorded, then the answer waits until
  :meth:`release` or :meth:`close`: past any client timeout), or a seeded random mix of them
  (:meth:`set_fault_rates`, for the fault proofs).
"""

from __future__ import annotations

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.loopback import whole_body


class FakeKannel:
    def __init__(self, username: str = "smsrun", password: str = "s3cret-pw") -> None:
        self.username, self.password = username, password
        self.received: list[tuple[str, str]] = []
        self.refused: set[str] = set()
        self._faults: list[str | None] = []
        self._rates: list[tuple[str, float]] = []
        self._random = random.Random(0)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.requests = 0  # requests that passed authentication
        self.faults: list[str] = []  # faults injected, in order
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = whole_body(self)
                if raw is None:
                    return
                text = raw.decode("utf-8")
                status, answer = outer._handle(dict(self.headers.items()), text)
                if status == 0:  # in doubt: recorded, no answer
                    self.close_connection = True
                    return
                if status < 0:  # hang: recorded, answered only once released (the client gave up by then)
                    outer._released.wait()
                    status = 202
                body = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/cgi-bin/sendsms"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        with self._lock:
            self._faults.extend([None] * after + [kind])

    def set_fault_rates(self, *, seed: int, retryable: float = 0.0, in_doubt: float = 0.0,
                        hang: float = 0.0) -> None:
        """From now on each request (after the scripted ones) draws a fault with these probabilities."""
        with self._lock:
            self._random = random.Random(seed)
            self._rates = [(kind, rate) for kind, rate in
                           (("retryable", retryable), ("in_doubt", in_doubt), ("hang", hang)) if rate]

    def clear_faults(self) -> None:
        """No more faults; answers held by ``hang`` are released."""
        with self._lock:
            self._faults.clear()
            self._rates = []
        self.release()

    def release(self) -> None:
        self._released.set()

    def _draw(self) -> str | None:
        if self._faults:
            return self._faults.pop(0)
        draw = self._random.random()
        for kind, rate in self._rates:
            if draw < rate:
                return kind
            draw -= rate
        return None

    def _handle(self, headers: dict[str, str], text: str) -> tuple[int, str]:
        lower = {k.lower(): v for k, v in headers.items()}
        if (lower.get("x-kannel-username"), lower.get("x-kannel-password")) != (self.username, self.password):
            return 403, "Authorization failed for sendsms"
        recipients = lower.get("x-kannel-to", "").split()
        with self._lock:
            self.requests += 1
            fault = self._draw()
            if fault:
                self.faults.append(fault)
            if fault == "retryable":
                return 503, "Service temporarily unavailable"
            if any(r in self.refused for r in recipients):
                return 400, "Number is black/white-listed"
            self.received += [(r, text) for r in recipients]
            if fault == "hang":
                self._released.clear()
        if fault == "in_doubt":
            return 0, ""
        if fault == "hang":
            return -1, ""
        return 202, "0: Accepted for delivery"

    def record(self) -> list[tuple[str, str]]:
        """(recipient, text) of every message accepted so far."""
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
