"""A minimal, fast loopback server speaking the part of the OVHcloud SMS API that sending uses.

    .venv/bin/python bench/loopback_provider.py [--port 0]

Prints ``http://127.0.0.1:<port>/1.0`` on its first line, then serves until killed. It binds to
127.0.0.1 only. The benches run it in its own process, so that it never competes with the client for
the interpreter lock; unlike tests/support/fake_ovh.py (thread per connection, signature checks, a
record of every SMS) it does the least a provider must, so that it is never what limits a benchmark:

* ``GET /1.0/auth/time``: the server's clock;
* ``GET /1.0/sms``: ``["sms-bench-1"]``; ``GET /1.0/sms/{sn}``: an enabled account with ample credits;
  ``GET /1.0/sms/{sn}/senders/{sender}``: every sender enabled;
* ``POST /1.0/sms/{sn}/jobs``: every receiver valid, one id each, 1 credit each (signatures are not
  checked: the fake does that, and the client signs every request either way);
* ``GET /_stats``: requests, receivers, distinct receivers, receivers received more than once (the
  benches check that every recipient arrived exactly once); ``POST /_reset`` clears them.

A raw asyncio HTTP/1.1 server (keep-alive, Content-Length bodies), no framework.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any
from urllib.parse import unquote


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.receivers = 0
        self.next_id = 1
        self.seen: set[str] = set()
        self.repeated = 0

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "receivers": self.receivers, "distinct": len(self.seen),
                "repeated": self.repeated}


def _answer(status: int, payload: Any) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-OVH-QUERYID: loopback\r\n\r\n").encode() + body


def handle(state: State, method: str, path: str, body: bytes) -> bytes:
    if method == "POST" and path.endswith("/jobs"):
        state.requests += 1
        job = json.loads(body)
        receivers = job.get("receivers") or []
        first = state.next_id
        state.next_id += len(receivers)
        state.receivers += len(receivers)
        before = len(state.seen)
        state.seen.update(receivers)
        state.repeated += len(receivers) - (len(state.seen) - before)
        return _answer(200, {"ids": list(range(first, first + len(receivers))), "validReceivers": receivers,
                             "invalidReceivers": [], "totalCreditsRemoved": len(receivers),
                             "tag": job.get("tag")})
    if method == "GET":
        if path == "/1.0/auth/time":
            return _answer(200, int(time.time()))
        if path == "/1.0/sms":
            return _answer(200, ["sms-bench-1"])
        if path.startswith("/1.0/sms/") and path.count("/") == 3:
            return _answer(200, {"name": path.rsplit("/", 1)[1], "description": "loopback", "status": "enable",
                                 "creditsLeft": 1e12, "channel": "both"})
        if path.startswith("/1.0/sms/") and "/senders/" in path:
            name = unquote(path.rsplit("/", 1)[1])
            return _answer(200, {"sender": name, "status": "enable", "type": "alpha", "description": "loopback"})
        if path == "/_stats":
            return _answer(200, state.stats())
    if method == "POST" and path == "/_reset":
        state.reset()
        return _answer(200, {"reset": True})
    return _answer(404, {"class": "Client::NotFound", "message": f"{method} {path}: not served by the loopback"})


async def serve_connection(state: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == "content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            writer.write(handle(state, method, target.split("?", 1)[0], body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main_async(port: int) -> None:
    state = State()
    server = await asyncio.start_server(lambda r, w: serve_connection(state, r, w), "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"http://127.0.0.1:{bound}/1.0\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args.port))


if __name__ == "__main__":
    main()
