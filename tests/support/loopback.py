"""What the loopback peers (the fake OVHcloud, Twilio and Kannel) share as HTTP servers."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def whole_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's body, as long as its Content-Length says; None, with the connection closed, when it
    came up short: the client died mid-body (a kill -9), and no HTTP server takes that as a request."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    if len(body) < length:
        handler.close_connection = True
        return None
    return body
