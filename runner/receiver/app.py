"""The receiver's ASGI application (Starlette): token, route, bounded body, handler, answer, log line.

* **A secret token in the path** guards every endpoint (``/<token>/kannel/dlr``...; see
  :mod:`runner.receiver.handlers`). Any other path, a wrong or missing token included, is answered 404
  and nothing is recorded. The token is compared in constant time and never logged: log lines show the
  path from the route on (``/…/kannel/dlr``).
* **Bounded input**: a body over :data:`MAX_BODY` bytes is refused with 413 (announced by
  ``Content-Length`` or not); a chunked body with 411 (gateways send a length); at most
  :data:`MAX_FIELDS` parameters; the head is bounded by the server (see :mod:`runner.receiver.server`)
  and the time to receive a request by :mod:`runner.receiver.protocol`.
* **Never crashes on a request**: unreadable requests and malformed values get 400, a handler bug 500
  (logged), an unavailable ledger 503 (nothing recorded: the gateway retries).
"""

from __future__ import annotations

import hmac
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from runner.errors import LedgerError
from runner.masking import mask_text
from runner.providers.spec import SignatureCheck, load_target
from runner.receiver.handlers import ROUTES, Context, Handler, Request, Response, bad

log = logging.getLogger("smsrun.receiver")

MAX_BODY = 64 * 1024
MAX_FIELDS = 200
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def build_app(ctx: Context, token: str, public_url: Callable[[HttpRequest], str], *, max_head: int) -> Starlette:
    """The application; ``public_url`` gives the URL a request was called at (Twilio signs it)."""
    secret = token.encode()

    async def endpoint(http: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        segments = [s for s in http.url.path.split("/") if s]
        shown = "/…/" + "/".join(segments[1:]) if segments else "/"
        ctx.count("requests")
        try:
            response = await _respond(http, segments)
        except _Refused as refused:
            response = refused.response
            ctx.count("malformed")
        except ClientDisconnect:  # gone before its body was complete: nothing was recorded
            ctx.count("disconnected")
            response = Response(400, b"incomplete request\n", note="client left before its body was complete")
        except LedgerError as exc:
            ctx.count("errors")
            response = Response(503, b"the ledger is unavailable, try again\n", note=f"ledger error: {exc.message}")
        except Exception as exc:  # a bug: answer 500, keep serving
            ctx.count("errors")
            response = Response(500, b"internal error\n", note=f"internal error: {type(exc).__name__}: {exc}")
        elapsed = (time.monotonic() - started) * 1000
        line = f"{http.method} {shown if response.status != 404 else '/…'} {response.status} {elapsed:.0f}ms"
        if response.note:
            line += " " + mask_text(" ".join(response.note.split()))[:300]
        (log.warning if response.status >= 500 else log.info)("%s", line)
        headers = {"Cache-Control": "no-store"}
        if response.status in (400, 411, 413, 431):
            headers["Connection"] = "close"  # the rest of what it sent cannot be trusted to be in step
        return HttpResponse(response.body, response.status, headers=headers, media_type=response.content_type)

    routes = provider_routes()

    def _refused(route: ServedRoute, request: Request) -> Response | None:
        """What the route's provider declares before its handler: its secrets set, its signature check."""
        missing = [name for name in route.secrets if not ctx.secrets.get(name)]
        if missing:
            ctx.count(f"{route.provider}_unconfigured")
            return Response(503, f"{missing[0]} is not set: cannot verify {route.title}'s signature\n".encode(),
                            note=f"refused: {missing[0]} is not set")
        if route.check is None:
            return None
        try:
            why = route.check(ctx.secrets, request)
        except ValueError as exc:
            return bad(str(exc))
        if why is None:
            return None
        ctx.count("bad_signature")
        return Response(403, b"forbidden: bad signature\n", note=f"refused: {why}")

    async def _respond(http: HttpRequest, segments: list[str]) -> Response:
        if not segments or not hmac.compare_digest(segments[0].encode(), secret):
            ctx.count("not_found")
            return Response(404, b"not found\n", note="unknown path")
        route = tuple(segments[1:])
        entry = routes.get(route)
        if entry is None:
            ctx.count("not_found")
            return Response(404, b"not found\n", note="unknown route")
        if http.method not in entry.methods:
            return Response(405, b"method not allowed\n", note=f"{http.method} not allowed")
        head = len(http.scope["raw_path"]) + len(http.scope["query_string"]) + sum(
            len(k) + len(v) + 4 for k, v in http.scope["headers"])
        if head > max_head:  # h11 bounds a head that arrives in pieces, not one that arrives whole
            raise _Refused(Response(431, b"request header fields too large\n", note=f"head of {head} bytes refused"))
        body = await _read_body(http)
        headers = {k.lower(): v for k, v in http.headers.items()}
        try:
            query = http.scope["query_string"].decode("latin-1")
            query_pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
            form_pairs: list[tuple[str, str]] = []
            if body and "x-www-form-urlencoded" in headers.get("content-type", ""):
                form_pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                                    max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Refused(Response(400, b"bad request: unreadable parameters\n",
                                    note=f"bad request: {type(exc).__name__}")) from None
        request = Request(method=http.method, route=route, query=dict(query_pairs), form=dict(form_pairs),
                          form_pairs=form_pairs, headers=headers, body=body, url=public_url(http))
        response = _refused(entry, request) or await entry.handler(ctx, request)
        if response.status == 400:
            ctx.count("malformed")
        return response

    async def _read_body(http: HttpRequest) -> bytes:
        if "transfer-encoding" in http.headers:
            raise _Refused(Response(411, b"length required\n", note="chunked body refused"))
        raw = http.headers.get("content-length")
        if raw is not None and raw.isdigit() and int(raw) > MAX_BODY:
            raise _Refused(Response(413, b"request too large\n", note=f"body of {raw} bytes refused"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in http.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise _Refused(Response(413, b"request too large\n", note="body over the limit refused"))
            chunks.append(chunk)
        return b"".join(chunks)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])


@dataclass(frozen=True)
class ServedRoute:
    """One route of the receiver: its methods and handler, and for a provider's route what its spec
    declares (the secrets it needs, its signature check)."""

    methods: frozenset[str]
    handler: Handler
    provider: str = ""
    title: str = ""
    secrets: tuple[str, ...] = ()
    check: SignatureCheck | None = None


def provider_routes() -> dict[tuple[str, ...], ServedRoute]:
    """The receiver's routes: ``health``, then what each provider of the registry declares (issue 12:
    a provider brings its own routes, secrets and signature checks)."""
    from runner.providers.registry import get_spec, receiver_routes

    methods, health = ROUTES[("health",)]
    table: dict[tuple[str, ...], ServedRoute] = {("health",): ServedRoute(methods, health)}
    for path, route in receiver_routes().items():
        check = load_target(route.check) if route.check else None
        table[path] = ServedRoute(route.methods, load_target(route.handler), path[0], get_spec(path[0]).title,
                             route.secrets, check)
    return table
