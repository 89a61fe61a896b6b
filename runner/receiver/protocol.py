"""uvicorn's h11 protocol with a deadline on receiving each whole request (issue 15 §5).

uvicorn bounds the size of a request's head (``h11_max_incomplete_event_size``) and closes idle
kept-alive connections, but a client that sends its headers or its body one byte per second is never
cut: every byte resets nothing, and nothing bounds the total. Here each request must be received
entirely (head and body) within :data:`REQUEST_TIMEOUT` seconds of the moment the server starts waiting
for it (the connection opened, or the previous answer was sent); past that the connection is closed
(with a ``408`` when no request is in progress). Nothing is recorded for a request cut that way: its
handler never ran, or saw the client disconnect before its body was complete.

The deadline stops once the request is received: waiting for the ledger is the server's time, not the
client's, and a 2xx is never withheld from a request that arrived in time.

This subclasses ``uvicorn.protocols.http.h11_impl.H11Protocol`` (uvicorn's ``Config(http=...)`` takes a
protocol class) and overrides four of its methods, each calling the original; ``pyproject.toml`` keeps
uvicorn within the minor versions this was checked against, and the receiver's tests cover it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: seconds to receive one whole request (head and body); gateways send theirs in milliseconds
REQUEST_TIMEOUT = 10.0

_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   b"connection: close\r\ncontent-length: 16\r\n\r\nrequest timeout\n")


class DeadlineH11Protocol(H11Protocol):
    """:class:`H11Protocol` whose requests must arrive whole within :data:`REQUEST_TIMEOUT`."""

    request_timeout = REQUEST_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # still reading a request's head
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()  # a handler waiting for the rest of a body sees a disconnect

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.more_body and not self.cycle.response_complete:
            self._disarm()  # received whole: the rest is the server's time

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline
        super().on_response_complete()
