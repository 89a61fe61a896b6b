"""A loopback Twilio Messages API, written from Twilio's official OpenAPI spec.

:class:`FakeTwilio` is a real HTTP/1.1 server (``http.server``, keep-alive) on 127.0.0.1 implementing
three operations of ``twilio_api_v2010.json``:

* ``CreateMessage`` ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
* ``FetchMessage`` ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``
* ``ListMessage`` ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` (To, From, DateSent,
  ``DateSent<``, ``DateSent>``, PageSize, Page/PageToken; newest first; ``next_page_uri`` paging)

Every request is checked against the spec (:mod:`tests.support.openapi_check`) and every problem is
kept in :attr:`FakeTwilio.violations` (each 2xx answer of the fake is checked against the response
schema too), so a test asserts ``fake.violations == []``.  A request that violates the spec is answered
400 (code 21604 without To, 21211 for a malformed To, otherwise code 0: the fake's own, not Twilio's).

Behaviour, as Twilio documents it (gateways.md section 3):

* HTTP Basic ``AccountSid:AuthToken`` is checked: 401 with ``{"code": 20003, ...}`` otherwise;
* messages get distinct SIDs (``SM`` + 32 hex) and the Message schema shape; status ``queued``
  (``accepted`` through a Messaging Service, ``scheduled`` with SendAt), RFC 2822 dates;
  ``date_sent`` stays null until the message leaves the queue (:meth:`deliver` with ``sending``,
  ``sent``, ``delivered``...), as the spec defines it ("when Twilio sent the message"), so the
  DateSent filters of ListMessage do not see queued or scheduled messages;
* numbers in :attr:`invalid_numbers` get 400 / 21211, numbers in :attr:`unsubscribed` 400 / 21610,
  numbers given to :meth:`refuse` any status and code, a Body over 1,600 characters 400 / 21617;
* scripted faults for the next CreateMessage requests: :meth:`throttle_next` (429 / 20429 with
  Retry-After, nothing created), :meth:`fail_next` (a 5xx, the message created or not),
  :meth:`drop_next` (message created, connection closed without an answer), :meth:`hang_next`
  (message created, answer delayed past the client's timeout); or a seeded random mix of them on every
  CreateMessage (:meth:`set_fault_rates`, for the fault proofs), each injected fault kept in
  :attr:`FakeTwilio.faults`;
* :meth:`deliver` changes a message's status and POSTs the status callback (``MessageSid``,
  ``MessageStatus``, ``To``, ``From``...) signed with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and
  the sorted parameters, keyed by the auth token, base64), computed here independently of smsrun's.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import random
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.support.loopback import whole_body
from tests.support.openapi_check import TwilioSpec

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
API = "/2010-04-01"
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
ERR_INVALID = 21211
_UNSENT = frozenset({"accepted", "scheduled", "queued", "canceled"})  # no date_sent yet
_CREATE = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_FETCH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's documented webhook signature (written here independently of the provider's)."""
    text = url
    for name in sorted(params):
        text += name + params[name]
    return base64.b64encode(hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()).decode()


@dataclass
class RecordedRequest:
    """One request the fake received (``status`` None: the connection was dropped)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: dict[str, str]
    authorized: bool
    violations: list[str]
    status: int | None = None
    sid: str | None = None


@dataclass
class Callback:
    """One status callback the fake POSTed."""

    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None  # None: the receiver could not be reached


@dataclass
class _Fault:
    kind: str  # throttle | fail | drop | hang
    status: int = 500
    retry_after: float = 1.0
    create: bool = False
    seconds: float = 0.0


@dataclass
class _Answer:
    status: int
    payload: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTwilio

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):  # a client that went away (timeout tests) is fine
            self.fake.errors.append("".join(traceback.format_exception(error)))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # one write per answer (headers and body), flushed by handle_one_request
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence http.server
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = whole_body(self)
        if body is None:
            return
        parts = urlsplit(self.path)
        answer = self.server.fake._handle(
            self.command,
            parts.path,
            parse_qsl(parts.query, keep_blank_values=True),
            dict(self.headers.items()),
            body,
        )
        if answer.drop:
            self.close_connection = True
            return
        if answer.delay and self.server.fake._stopping.wait(answer.delay):
            self.close_connection = True
            return
        payload = json.dumps(answer.payload).encode() if answer.payload is not None else b""
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class FakeTwilio:
    """See the module docstring.  Use as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(
        self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, spec: TwilioSpec | None = None
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.spec = spec or TwilioSpec()
        self.messages: dict[str, dict[str, Any]] = {}  # sid -> Message resource, in creation order
        self.callback_urls: dict[str, str] = {}  # sid -> StatusCallback
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.callbacks: list[Callback] = []
        self.errors: list[str] = []  # exceptions raised while serving (bugs of the fake)
        self.invalid_numbers: set[str] = set()
        self.unsubscribed: set[str] = set()
        self.refusals: dict[str, tuple[int, int, str]] = {}  # number -> (HTTP status, code, message)
        self._faults: collections.deque[_Fault | None] = collections.deque()
        self._rates: list[tuple[float, _Fault]] = []
        self._random = random.Random(0)
        self.faults: list[str] = []  # kinds of the faults injected, in order
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base_url to give the provider."""
        assert self._server is not None, "FakeTwilio is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting ----------------------------------------------------------------------------------

    def throttle_next(self, count: int = 1, *, retry_after: float = 1.0, after: int = 0) -> None:
        """The next ``count`` CreateMessage requests (after ``after`` normal ones) get 429 / 20429 with
        Retry-After; nothing is created."""
        self._script([_Fault("throttle", status=429, retry_after=retry_after) for _ in range(count)], after)

    def fail_next(self, count: int = 1, *, status: int = 500, create: bool = False, after: int = 0) -> None:
        """The next ``count`` CreateMessage requests get a ``status`` error (the message is created first
        when ``create``)."""
        self._script([_Fault("fail", status=status, create=create) for _ in range(count)], after)

    def drop_next(self, count: int = 1, *, after: int = 0) -> None:
        """The next ``count`` CreateMessage requests create the message, then close the connection."""
        self._script([_Fault("drop", create=True) for _ in range(count)], after)

    def hang_next(self, count: int = 1, *, seconds: float = 3.0, after: int = 0) -> None:
        """The next ``count`` CreateMessage requests create the message and answer ``seconds`` late."""
        self._script([_Fault("hang", create=True, seconds=seconds) for _ in range(count)], after)

    def set_fault_rates(self, *, seed: int, fail: float = 0.0, throttle: float = 0.0, drop: float = 0.0,
                        hang: float = 0.0, retry_after: float = 0.2, hang_seconds: float = 3.0) -> None:
        """From now on each CreateMessage (after the scripted faults) draws a fault: ``fail`` a 500, 502 or
        503 (nothing created), ``throttle`` a 429 with ``Retry-After: retry_after``, ``drop`` (created,
        no answer), ``hang`` (created, answered ``hang_seconds`` late)."""
        with self._lock:
            self._random = random.Random(seed)
            self._rates = [(rate, fault) for rate, fault in (
                (fail, _Fault("fail")), (throttle, _Fault("throttle", status=429, retry_after=retry_after)),
                (drop, _Fault("drop", create=True)), (hang, _Fault("hang", create=True, seconds=hang_seconds)),
            ) if rate]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rates = []

    def _draw(self) -> _Fault | None:
        if self._faults:
            return self._faults.popleft()
        draw = self._random.random()
        for rate, fault in self._rates:
            if draw < rate:
                if fault.kind == "fail":
                    return _Fault("fail", status=self._random.choice((500, 502, 503)))
                return fault
            draw -= rate
        return None

    def record(self) -> list[tuple[str, str]]:
        """(To, Body) of every message created, in creation order."""
        with self._lock:
            return [(m["to"], m["body"]) for m in self.messages.values()]

    def refuse(self, number: str, *, code: int, message: str = "refused", status: int = 400) -> None:
        """CreateMessage to ``number`` gets ``status`` with Twilio error ``code`` (nothing created)."""
        with self._lock:
            self.refusals[number] = (status, code, message)

    def _script(self, faults: list[_Fault], after: int) -> None:
        with self._lock:
            self._faults.extend([None] * after)
            self._faults.extend(faults)

    def add_message(
        self,
        to: str,
        body: str,
        *,
        from_: str | None = "+15005550006",
        messaging_service_sid: str | None = None,
        created: datetime | None = None,
        status: str = "delivered",
    ) -> dict[str, Any]:
        """Put a message in the account's history (as if sent earlier), for list/reconcile tests."""
        form = {"To": to, "Body": body}
        if from_:
            form["From"] = from_
        if messaging_service_sid:
            form["MessagingServiceSid"] = messaging_service_sid
        with self._lock:
            message = self._create(form, now=created)
            message["status"] = status
            if status not in _UNSENT:
                message["date_sent"] = message["date_created"]
            return dict(message)

    # -- observing ----------------------------------------------------------------------------------

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.messages.values() if m["to"] == number]

    def create_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and _CREATE.match(r.path)]

    # -- status callbacks ---------------------------------------------------------------------------

    def deliver(
        self, sid: str, status: str = "delivered", *, error_code: int | None = None
    ) -> Callback | None:
        """Move message ``sid`` to ``status`` and POST its status callback, when it has one."""
        with self._lock:
            message = self.messages[sid]
            now = datetime.now(UTC)
            message["status"] = status
            message["date_updated"] = _rfc2822(now)
            if message["date_sent"] is None and status not in _UNSENT:
                message["date_sent"] = _rfc2822(now)
            if error_code is not None:
                message["error_code"] = error_code
                message["error_message"] = f"fake error {error_code}"
            url = self.callback_urls.get(sid)
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": self.account_sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message["to"],
                "ApiVersion": "2010-04-01",
            }
            if message["from"]:
                params["From"] = message["from"]
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
        if url is None:
            return None
        signed = signature(self.auth_token, url, params)
        try:
            response = httpx.post(
                url,
                data=params,
                headers={"X-Twilio-Signature": signed, "User-Agent": "TwilioProxy/1.1"},
                timeout=10,
            )
            code: int | None = response.status_code
        except httpx.TransportError:
            code = None
        callback = Callback(url=url, params=params, signature=signed, status_code=code)
        with self._lock:
            self.callbacks.append(callback)
        return callback

    # -- request handling (called from the server's threads) ---------------------------------------

    def _handle(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
    ) -> _Answer:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        problems = self.spec.check(
            method, path, query=query, headers=headers, body=body, content_type=content_type
        )
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if body else {}
        authorized = self._authorized(headers)
        record = RecordedRequest(method, path, query, form, authorized, problems)
        with self._lock:
            self.requests.append(record)
            self.violations += [f"{method} {path}: {p}" for p in problems]
            answer = self._answer(method, path, query, form, authorized, problems, record)
            record.status = None if answer.drop else answer.status
            if answer.payload is not None and not answer.drop:
                extra = self.spec.check_response(
                    method,
                    path,
                    answer.status,
                    json.dumps(answer.payload).encode(),
                    query=query,
                    body=body,
                    content_type=content_type,
                )
                self.violations += [f"{method} {path}: {p}" for p in extra]
        return answer

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    def _answer(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        form: dict[str, str],
        authorized: bool,
        problems: list[str],
        record: RecordedRequest,
    ) -> _Answer:
        create, fetch = _CREATE.match(path), _FETCH.match(path)
        match = create or fetch
        if match is None or method not in ("GET", "POST") or (fetch and method != "GET"):
            return _error(404, 20404, f"The requested resource {path} was not found")
        if not authorized:
            answer = _error(401, 20003, "Authentication Error - invalid username")
            answer.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return answer
        if match.group(1) != self.account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if fetch:
            message = self.messages.get(fetch.group(2))
            if message is None:
                return _error(404, 20404, f"The requested resource {path} was not found")
            return _Answer(200, dict(message))
        if method == "GET":
            return self._list(path, query)
        return self._create_answer(form, problems, record)

    def _create_answer(self, form: dict[str, str], problems: list[str], record: RecordedRequest) -> _Answer:
        if problems:
            if "To" not in form:
                return _error(400, 21604, "A 'To' phone number is required.")
            if any("To=" in p for p in problems):
                return _error(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
            return _error(400, 0, "fake twilio: request does not match the spec: " + "; ".join(problems))
        fault = self._draw()
        if fault is not None:
            self.faults.append(fault.kind)
        if fault is not None and fault.kind == "throttle":
            answer = _error(429, 20429, "Too Many Requests")
            answer.headers["Retry-After"] = f"{fault.retry_after:g}"
            return answer
        if fault is not None and fault.kind == "fail" and not fault.create:
            return _error(fault.status, 20500, "Internal Server Error")
        to = form["To"]
        if to in self.invalid_numbers:
            return _error(400, ERR_INVALID, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to in self.refusals:
            return _error(*self.refusals[to])
        if len(form.get("Body", "")) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        message = self._create(form)
        record.sid = message["sid"]
        if fault is not None and fault.kind == "fail":
            return _error(fault.status, 20500, "Internal Server Error")
        answer = _Answer(201, dict(message))
        if fault is not None and fault.kind == "drop":
            answer.drop = True
        if fault is not None and fault.kind == "hang":
            answer.delay = fault.seconds
        return answer

    def _create(self, form: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        sid = "SM" + uuid.uuid4().hex
        service = form.get("MessagingServiceSid")
        scheduled = "SendAt" in form
        body = form.get("Body", "")
        uri = f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": _rfc2822(now),
            "date_sent": None,  # set when the message leaves Twilio's queue (deliver())
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "0" if service else _segments(body),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "scheduled" if scheduled else ("accepted" if service else "queued"),
            "subresource_uris": {"media": f"{API}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": form["To"],
            "uri": uri,
        }
        self.messages[sid] = message
        if form.get("StatusCallback"):
            self.callback_urls[sid] = form["StatusCallback"]
        return message

    def _list(self, path: str, query: list[tuple[str, str]]) -> _Answer:
        params = dict(query)
        try:
            size = min(max(int(params.get("PageSize", "50")), 1), 1000)
            page = max(int(params.get("Page", "0")), 0)
        except ValueError:
            return _error(400, 20001, "Invalid paging parameters")
        rows = [m for m in reversed(self.messages.values()) if _listed(m, params)]
        rows.sort(key=lambda m: _parse(m["date_created"]), reverse=True)  # stable: newest first
        chunk = rows[page * size : (page + 1) * size]
        filters = [(k, v) for k, v in query if k not in ("Page", "PageSize", "PageToken")]

        def page_uri(number: int) -> str:
            extra = [("PageSize", str(size)), ("Page", str(number))]
            if number:
                extra.append(("PageToken", f"PA{number}"))
            return f"{path}?{urlencode(filters + extra)}"

        more = (page + 1) * size < len(rows)
        payload = {
            "messages": [dict(m) for m in chunk],
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "page": page,
            "page_size": size,
            "start": page * size,
            "uri": page_uri(page),
        }
        return _Answer(200, payload)


def _error(status: int, code: int, message: str) -> _Answer:
    return _Answer(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def _parse(value: str) -> datetime:
    return parsedate_to_datetime(value)


def _segments(body: str) -> str:
    if all(ch in GSM7 for ch in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    if len(body) <= single:
        return "1"
    return str(-(-len(body) // multi))


def _listed(message: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    if "To" in params and message["to"] != params["To"]:
        return False
    if "From" in params and message["from"] != params["From"]:
        return False
    if not any(name in params for name in ("DateSent", "DateSent<", "DateSent>")):
        return True
    if not message["date_sent"]:
        return False  # not sent yet (scheduled): no DateSent to compare
    day = _parse(message["date_sent"]).date().isoformat()
    if "DateSent" in params and day != params["DateSent"][:10]:
        return False
    if "DateSent<" in params and day > params["DateSent<"][:10]:
        return False
    return not ("DateSent>" in params and day < params["DateSent>"][:10])
