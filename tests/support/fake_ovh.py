"""A loopback OVHcloud SMS API for tests and fault-injection runs (``ovh-sms-api.md`` is the spec).

It is a real HTTP/1.1 server over TCP on 127.0.0.1 (``http.server`` with one thread per connection),
so clients are exercised down to the socket: signatures are checked against the URL and body bytes
actually received, the connection can be dropped after a job was recorded, answers can be delayed.

Behaviour (what the reference documents, plus the choices noted *fake:*):

* ``GET /auth/time`` answers the fake's clock (``clock_skew`` shifts it). Every other call must be
  signed: missing headers → 401 ``NOT_AUTHENTICATED``; unknown application key → 403 ``INVALID_KEY``;
  unknown consumer key → 403 ``INVALID_CREDENTIAL``; timestamp further than ``time_tolerance`` from the
  fake's clock → 400 ``QUERY_TIME_OUT``; wrong signature (e.g. wrong application secret) →
  ``bad_signature_status`` (default 403) ``INVALID_SIGNATURE``; call outside ``granted`` rules → 403
  ``NOT_GRANTED_CALL``. Error bodies are ``{"class", "message", "errorCode"?, "httpCode"?}`` and every
  answer carries ``X-OVH-QUERYID``.
* ``POST /sms/{sn}/jobs`` validates the body strictly (unknown fields, enums, sender enabled, *fake:*
  exactly one of ``sender``/``senderForResponse``, *fake:* no URL with the short number), splits
  receivers into ``validReceivers`` (``+`` or ``00`` then 8-15 digits, not in ``invalid_numbers``) and
  ``invalidReceivers``, removes credits (1 per part; the STOP clause counts when ``noStopClause`` is
  false) and creates one SMS per valid receiver whose id is both in ``ids`` (same order as
  ``validReceivers``) and in ``/outgoing`` (*fake:* the reference leaves this open, §7.1).
  ``differedPeriod`` > 0 keeps the SMS in ``/jobs`` until due. *fake:* a blacklisted receiver is
  accepted but its SMS fails at once (deliveryReceipt 2, ptt 23). *fake:* not enough credits → 400.
* Expanded listings (``team-scale.md`` §2, *fake:* the reference says to verify them on a live account;
  ``expanded_listings=False`` makes the fake ignore the headers, answering ids as documented):
  ``GET /outgoing`` and ``GET /jobs`` with ``X-Pagination-Mode: CachedObjectList-Pages`` answer the
  objects themselves, paged (``X-Pagination-Size``/``-Number``), filtered (``X-Pagination-Filter``),
  with ``X-Pagination-Elements``. ``sms.Job`` objects carry no ``tag``, as in the schema.
* Bulk export (§3.2): ``GET /document?wayType=outgoing|incoming`` with the listing's filters gives a
  ``/me/document`` id whose ``size`` is 0 for ``export_polls`` reads, then whose ``getUrl`` serves the
  ``;`` CSV of the SMS (columns as in the OVH notebooks, team-scale.md §2).
* Read endpoints: account, senders, outgoing (all filters), jobs, incoming, blacklists, receivers slots
  (with CSV; created from ``csvUrl`` or from an uploaded ``documentId``), phonebooks and contacts,
  ``POST /sms/estimate``; ``POST /me/document`` and ``GET /me/document/{id}`` (the content is PUT,
  unsigned, to the document's ``putUrl``).

Failure injection (checked before authentication, never on ``/auth/time`` unless ``where`` says so):
``http_429`` (optional ``Retry-After``), ``http_500``, ``http_502``, ``http_503``, ``http_504``
(answered without doing anything), ``slow`` (do the work, wait ``delay`` seconds, then answer),
``drop_after_accept`` (do the work — e.g. record the job — then close the socket without answering),
``drop_before_accept`` (close without doing anything). Either queued (:meth:`FakeOvh.fail_next`) or
random with a seed (:meth:`FakeOvh.set_fault_rates`).

Standalone: ``python -m tests.support.fake_ovh --port 0 --state state.json`` prints the base URL on the
first line then the ``OVH_*`` variables to use, and keeps the state file up to date (it survives the
client being killed; restarting the fake with the same file reloads it). ``/_fake/...`` routes
(unauthenticated) drive it over HTTP: ``GET /_fake/state``, ``POST /_fake/faults``,
``POST /_fake/fail_next``, ``POST /_fake/clear_faults``, ``POST /_fake/deliver``,
``POST /_fake/incoming``, ``GET /_fake/files/{name}``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.support.loopback import whole_body

try:
    from zoneinfo import ZoneInfo

    _TZ: tzinfo = ZoneInfo("Europe/Paris")
except Exception:  # pragma: no cover - no tz database
    _TZ = UTC

FAULT_KINDS = (
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "slow",
    "drop_after_accept",
    "drop_before_accept",
)
STOP_CLAUSE = "\nSTOP:36111"
_VALID_NUMBER = re.compile(r"^(\+|00)[1-9]\d{7,14}$")
_URL = re.compile(r"(https?://|www\.)", re.I)
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€\f")
_JOB_FIELDS = {
    "message",
    "receivers",
    "receiversDocumentUrl",
    "receiversSlotId",
    "sender",
    "senderForResponse",
    "noStopClause",
    "charset",
    "coding",
    "class",
    "priority",
    "validityPeriod",
    "differedPeriod",
    "tag",
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CLASSES = {
    400: "Client::BadRequest",
    401: "Client::Unauthorized",
    403: "Client::Forbidden",
    404: "Client::NotFound",
    409: "Client::Conflict",
    429: "Client::TooManyRequests",
    500: "Server::InternalServerError",
    502: "Server::BadGateway",
    503: "Server::ServiceUnavailable",
    504: "Server::GatewayTimeout",
}


def sms_parts(text: str) -> int:
    """Parts of one SMS (GSM-7 160/153, else UCS-2 70/67 counted in UTF-16 units)."""
    if all(c in _GSM7 or c in _GSM7_EXT for c in text):
        units = sum(2 if c in _GSM7_EXT else 1 for c in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


class ApiError(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


@dataclass
class Fault:
    kind: str
    where: re.Pattern[str] | None = None
    retry_after: float | None = None
    delay: float = 1.0
    after: int = 0  # let this many matching requests through first
    group: int = 0  # faults queued by one fail_next call wait together


@dataclass
class RequestRecord:
    method: str
    path: str  # relative to /1.0, without query
    query: str
    status: int | None  # None: no answer (dropped)
    fault: str | None = None
    body: Any = None


@dataclass
class JobRecord:
    """One ``POST /jobs`` the fake executed (``accepted``: the SMS exist; ``answered``: the client got the
    report — False after ``drop_after_accept`` or a client timeout during ``slow``)."""

    body: dict[str, Any]
    response: dict[str, Any]
    accepted: bool = True
    answered: bool = True
    fault: str | None = None


@dataclass
class _Request:
    method: str
    path: str  # relative to /1.0, decoded segments joined
    segments: list[str]
    query: list[tuple[str, str]]
    raw_query: str
    body_text: str
    body: Any
    headers: Mapping[str, str]  # lower-case names
    full_url: str
    answer_headers: dict[str, str] = field(default_factory=dict)  # extra headers of the answer


@dataclass
class _State:
    service_name: str
    account: dict[str, Any]
    next_id: int = 26929925
    outgoing: dict[int, dict[str, Any]] = field(default_factory=dict)
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    incoming: dict[int, dict[str, Any]] = field(default_factory=dict)
    blacklists: dict[str, dict[str, Any]] = field(default_factory=dict)
    senders: dict[str, dict[str, Any]] = field(default_factory=dict)
    receivers: dict[int, dict[str, Any]] = field(default_factory=dict)
    phonebooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: list[JobRecord] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOvh


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written separately: no 40 ms delayed-ACK stalls
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class FakeOvh:
    """See the module docstring. Use as ``with FakeOvh() as fake: ...``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        service_name: str = "sms-ab12345-1",
        application_key: str | None = None,
        application_secret: str | None = None,
        consumer_key: str | None = None,
        credits: float = 1_000_000.0,
        senders: Iterable[str] = ("ACME",),
        clock_skew: float = 0.0,
        time_tolerance: float = 300.0,
        bad_signature_status: int = 403,
        granted: Iterable[tuple[str, str]] | None = None,
        invalid_numbers: Iterable[str] = (),
        state_file: str | Path | None = None,
        expanded_listings: bool = True,
        stop_clause: str = STOP_CLAUSE,
    ) -> None:
        self.host = host
        self.stop_clause = stop_clause  # what the account appends to commercial SMS
        self._port = port
        self.application_key = application_key or secrets.token_urlsafe(12)[:16]
        self.application_secret = application_secret or secrets.token_urlsafe(24)[:32]
        self.consumer_key = consumer_key or secrets.token_urlsafe(24)[:32]
        self.clock_skew = clock_skew
        self.time_tolerance = time_tolerance
        self.bad_signature_status = bad_signature_status
        self.granted = list(granted) if granted is not None else None
        self.invalid_numbers = set(invalid_numbers)
        self.expanded_listings = expanded_listings  # False: the listings ignore the expansion headers
        self.export_polls = 1  # GET /me/document/{id} reads that see an export still empty (size 0)
        self.state_file = Path(state_file) if state_file else None
        self._lock = threading.RLock()
        self._faults: deque[Fault] = deque()
        self._fault_groups = 0
        self._rates: dict[str, float] = {}
        self._rates_where: re.Pattern[str] | None = None
        self._rates_delay = 1.0
        self._rates_retry_after: float | None = None
        self._rng = random.Random()
        self._query_seq = 0
        self.requests: list[RequestRecord] = []
        self.files: dict[str, str] = {}
        self.documents: dict[str, dict[str, Any]] = {}  # /me/document uploads (id -> {name, content})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.state = _State(
            service_name=service_name,
            account={
                "name": service_name,
                "description": "",
                "status": "enable",
                "creditsLeft": float(credits),
                "creditsHoldByQuota": 0.0,
                "channel": "both",
                "callBack": "",
                "stopCallBack": "",
                "smsResponse": {"responseType": "none", "text": "", "cgiUrl": "", "trackingOptions": []},
                "automaticRecreditAmount": None,
                "creditThresholdForAutomaticRecredit": 0,
                "userQuantityWithQuota": 0,
                "templates": {},
                "smpp": False,
            },
        )
        state_file, self.state_file = self.state_file, None  # no saving while building
        for name in senders:
            self.add_sender(name)
        self.state_file = state_file
        if state_file is not None and state_file.exists():
            self._load(json.loads(state_file.read_text()))

    # ------------------------------------------------------------------------------------------------
    # lifecycle

    def start(self) -> FakeOvh:
        server = _Server((self.host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ovh", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOvh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeOvh is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/1.0"

    @property
    def service_name(self) -> str:
        return self.state.service_name

    @property
    def credentials(self) -> dict[str, str]:
        """The ``OVH_*`` environment a client needs to talk to this fake."""
        return {
            "OVH_ENDPOINT": self.base_url,
            "OVH_APPLICATION_KEY": self.application_key,
            "OVH_APPLICATION_SECRET": self.application_secret,
            "OVH_CONSUMER_KEY": self.consumer_key,
            "OVH_SERVICE_NAME": self.service_name,
        }

    def now(self) -> float:
        return time.time() + self.clock_skew

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, tz=_TZ).isoformat(timespec="seconds")

    # ------------------------------------------------------------------------------------------------
    # test-facing state API

    @property
    def outgoing(self) -> list[dict[str, Any]]:
        """Every SMS in ``/outgoing`` (copies, by id)."""
        with self._lock:
            self._release_due()
            return [dict(v) for _, v in sorted(self.state.outgoing.items())]

    @property
    def pending(self) -> list[dict[str, Any]]:
        """SMS still in ``/jobs`` (deferred)."""
        with self._lock:
            self._release_due()
            return [dict(v) for _, v in sorted(self.state.pending.items())]

    @property
    def jobs(self) -> list[JobRecord]:
        with self._lock:
            return list(self.state.jobs)

    @property
    def credits(self) -> float:
        return float(self.state.account["creditsLeft"])

    def sent_receivers(self) -> list[str]:
        """Receivers of every SMS created (outgoing and pending), in creation order."""
        with self._lock:
            items = {**self.state.outgoing, **self.state.pending}
            return [v["receiver"] for _, v in sorted(items.items())]

    def set_account(self, **fields: Any) -> None:
        with self._lock:
            self.state.account.update(fields)
            self._save()

    def add_sender(
        self, sender: str, *, status: str = "enable", type: str | None = None, comment: str | None = None
    ) -> None:
        kind = type or ("numeric" if re.fullmatch(r"\+?\d+", sender) else "alpha")
        with self._lock:
            self.state.senders[sender] = {
                "sender": sender,
                "description": "",
                "status": status,
                "type": kind,
                "referer": "custom",
                "comment": comment,
                "validationMedia": None,
            }
            self._save()

    def add_incoming(
        self,
        sender: str,
        message: str,
        *,
        tag: str = "",
        created: datetime | None = None,
        credits: float = 1.0,
    ) -> int:
        with self._lock:
            ident = self._new_id()
            ts = created.timestamp() if created else self.now()
            self.state.incoming[ident] = {
                "id": ident,
                "creationDatetime": self._iso(ts),
                "credits": credits,
                "message": message,
                "sender": sender,
                "tag": tag,
            }
            self._save()
            return ident

    def add_blacklist(self, number: str, *, batch_id: str | None = None, sms_outgoing_id: int | None = None) -> None:
        with self._lock:
            self.state.blacklists[number] = {
                "number": number,
                "dateCreation": self._iso(self.now()),
                "batchID": batch_id,
                "smsOutgoingID": sms_outgoing_id,
            }
            self._save()

    def add_receivers_slot(
        self,
        slot_id: int,
        numbers: Iterable[str] | str,
        *,
        description: str = "list",
        auto_update: bool = False,
    ) -> None:
        text = numbers if isinstance(numbers, str) else "number\n" + "".join(f"{n}\n" for n in numbers)
        records = self._check_receivers_csv(text)
        with self._lock:
            self.state.receivers[slot_id] = {
                "slot": {
                    "slotId": slot_id,
                    "description": description,
                    "records": records,
                    "datetime": self._iso(self.now()),
                    "autoUpdate": auto_update,
                    "canAutoUpdate": auto_update,
                },
                "csv": text,
            }
            self._save()

    def add_phonebook(self, name: str, *, book_key: str | None = None) -> str:
        with self._lock:
            key = book_key or hashlib.sha1(f"{name}{len(self.state.phonebooks)}".encode()).hexdigest()[:20]
            self.state.phonebooks[key] = {
                "book": {"bookKey": key, "name": name, "phoneKey": None},
                "contacts": {},
            }
            self._save()
            return key

    def add_contact(
        self,
        book_key: str,
        *,
        name: str,
        surname: str,
        group: str = "",
        home_mobile: str | None = None,
        home_phone: str | None = None,
        work_mobile: str | None = None,
        work_phone: str | None = None,
    ) -> int:
        with self._lock:
            ident = self._new_id()
            self.state.phonebooks[book_key]["contacts"][ident] = {
                "id": ident,
                "name": name,
                "surname": surname,
                "group": group,
                "homeMobile": home_mobile,
                "homePhone": home_phone,
                "workMobile": work_mobile,
                "workPhone": work_phone,
            }
            self._save()
            return ident

    def deliver(self, ids: Iterable[int] | None = None, *, receipt: int = 1, ptt: int | None = None) -> None:
        """Set the delivery receipt of SMS (all of ``/outgoing`` when ``ids`` is None): 1 delivered,
        2 failed, 16 error..."""
        with self._lock:
            self._release_due()
            targets = self.state.outgoing.keys() if ids is None else ids
            for ident in list(targets):
                sms = self.state.outgoing[int(ident)]
                sms["deliveryReceipt"] = receipt
                sms["ptt"] = ptt if ptt is not None else {1: 4, 2: 5, 16: 23}.get(receipt, 3)
                sms["deliveredAt"] = self._iso(self.now()) if receipt == 1 else None
            self._save()

    def release_pending(self) -> None:
        """Send every deferred SMS now."""
        with self._lock:
            for sms in self.state.pending.values():
                sms["_due"] = 0
            self._release_due()
            self._save()

    def host_file(self, name: str, text: str) -> str:
        """Serve ``text`` at a loopback URL (for ``csvUrl``)."""
        self.files[name] = text
        return f"http://{self.host}:{self.port}/_fake/files/{name}"

    # ------------------------------------------------------------------------------------------------
    # failure injection

    def fail_next(
        self,
        kind: str,
        count: int = 1,
        *,
        where: str | None = None,
        retry_after: float | None = None,
        delay: float = 1.0,
        after: int = 0,
    ) -> None:
        """Make the next ``count`` requests matching ``where`` (a regex searched in ``"METHOD /path"``,
        path relative to ``/1.0``; default: anything but ``/auth/time``) fail with ``kind``, once
        ``after`` matching requests have gone through normally."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
        pattern = re.compile(where) if where else None
        with self._lock:
            self._fault_groups += 1
            for _ in range(count):
                self._faults.append(Fault(kind, pattern, retry_after, delay, after, self._fault_groups))

    def set_fault_rates(
        self,
        *,
        seed: int | None = None,
        where: str | None = None,
        delay: float = 1.0,
        retry_after: float | None = None,
        **rates: float,
    ) -> None:
        """Random faults: ``set_fault_rates(http_500=0.1, http_429=0.05, drop_after_accept=0.02,
        slow=0.02, seed=1)``. Probabilities are per request; their sum must be <= 1."""
        for kind in rates:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        with self._lock:
            self._rates = {k: float(v) for k, v in rates.items() if v}
            self._rates_where = re.compile(where) if where else None
            self._rates_delay = delay
            self._rates_retry_after = retry_after
            self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rates = {}

    def _pick_fault(self, method: str, path: str) -> Fault | None:
        subject = f"{method} {path}"
        default_ok = path != "/auth/time"
        with self._lock:
            for fault in self._faults:
                if fault.where.search(subject) if fault.where else default_ok:
                    if fault.after > 0:
                        for other in self._faults:
                            if other.group == fault.group:
                                other.after -= 1
                        return None
                    self._faults.remove(fault)
                    return fault
            if self._rates and (self._rates_where.search(subject) if self._rates_where else default_ok):
                draw = self._rng.random()
                for kind, rate in self._rates.items():
                    if draw < rate:
                        return Fault(kind, None, self._rates_retry_after, self._rates_delay)
                    draw -= rate
        return None

    # ------------------------------------------------------------------------------------------------
    # HTTP plumbing

    def _query_id(self) -> str:
        with self._lock:
            self._query_seq += 1
            return f"FAKE.ext-1.{self._query_seq:08x}.{secrets.token_hex(4)}"

    def _send(
        self,
        handler: _Handler,
        status: int,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = b"" if payload is None and status == 204 else json.dumps(payload).encode()
        handler.send_response(status, _REASONS.get(status))
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("X-OVH-QUERYID", self._query_id())
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    @staticmethod
    def _error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"class": _CLASSES.get(status, "Client::Error"), "message": message}
        if code:
            body["errorCode"] = code
            body["httpCode"] = f"{status} {_REASONS.get(status, '')}".strip()
        return body

    @staticmethod
    def _drop(handler: _Handler) -> None:
        handler.close_connection = True
        with suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        raw_path = split.path
        raw_body = whole_body(handler)
        if raw_body is None:
            return
        if raw_path.startswith("/_fake/"):
            self._serve_control(handler, raw_path, raw_body)
            return
        if not raw_path.startswith("/1.0/") and raw_path != "/1.0":
            self._send(handler, 404, self._error_body(404, "Not found", None))
            return
        rel = raw_path[len("/1.0") :] or "/"
        segments = [unquote(s) for s in rel.strip("/").split("/")] if rel.strip("/") else []
        method = handler.command
        record = RequestRecord(method, "/" + "/".join(segments), split.query, None)
        with self._lock:
            self.requests.append(record)

        fault = self._pick_fault(method, record.path)
        record.fault = fault.kind if fault else None
        if fault is not None:
            if fault.kind == "drop_before_accept":
                self._drop(handler)
                return
            if fault.kind.startswith("http_"):
                status = int(fault.kind[5:])
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                record.status = status
                message = "Too many requests" if status == 429 else "Internal server error (injected)"
                self._send(handler, status, self._error_body(status, message, None), headers=headers)
                return

        try:
            text = raw_body.decode("utf-8")
            body = json.loads(text) if text else None
        except (UnicodeDecodeError, ValueError):
            request = None
            text, body, jobs_before = "", None, len(self.state.jobs)
            status, payload = 400, self._error_body(400, "Invalid JSON body", None)
        else:
            request = _Request(
                method=method,
                path=record.path,
                segments=segments,
                query=parse_qsl(split.query, keep_blank_values=True),
                raw_query=split.query,
                body_text=text,
                body=body,
                headers={k.lower(): v for k, v in handler.headers.items()},
                full_url=f"http://{handler.headers.get('Host', '')}{handler.path}",
            )
            record.body = body
            jobs_before = len(self.state.jobs)
            try:
                status, payload = self._dispatch(request, fault)
            except ApiError as exc:
                status, payload = exc.status, self._error_body(exc.status, exc.message, exc.error_code)

        if fault is not None and fault.kind == "drop_after_accept":
            self._mark_unanswered(jobs_before)
            self._drop(handler)
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        record.status = status
        try:
            self._send(handler, status, payload, headers=request.answer_headers if request is not None else None)
        except OSError:  # the client gave up (timeout during ``slow``)
            record.status = None
            self._mark_unanswered(jobs_before)
            self._drop(handler)

    def _mark_unanswered(self, jobs_before: int) -> None:
        """The job recorded by this request (if any) never reached the client."""
        with self._lock:
            for job in self.state.jobs[jobs_before:]:
                job.answered = False
            self._save()

    def _serve_control(self, handler: _Handler, path: str, raw_body: bytes) -> None:
        if path.startswith("/_fake/documents/") and handler.command == "GET":  # a document's getUrl
            doc = self.documents.get(unquote(path[len("/_fake/documents/") :]))
            if doc is None or doc.get("content") is None:
                self._send(handler, 404, {"message": "no such document"})
                return
            content = bytes(doc["content"])
            handler.send_response(200)
            handler.send_header("Content-Type", "text/csv; charset=utf-8")
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
            return
        if path.startswith("/_fake/documents/") and handler.command == "PUT":  # a document's putUrl
            doc = self.documents.get(unquote(path[len("/_fake/documents/") :]))
            if doc is None:
                self._send(handler, 404, {"message": "no such document"})
                return
            doc["content"] = raw_body
            self._send(handler, 201, None)
            return
        try:
            data = json.loads(raw_body) if raw_body else {}
        except ValueError:
            self._send(handler, 400, {"message": "bad json"})
            return
        if path.startswith("/_fake/files/"):
            name = unquote(path[len("/_fake/files/") :])
            if name not in self.files:
                self._send(handler, 404, {"message": "no such file"})
                return
            body = self.files[name].encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/csv; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        if path == "/_fake/state":
            self._send(handler, 200, self.snapshot())
        elif path == "/_fake/faults":
            self.set_fault_rates(**data)
            self._send(handler, 200, {"ok": True})
        elif path == "/_fake/fail_next":
            self.fail_next(**data)
            self._send(handler, 200, {"ok": True})
        elif path == "/_fake/clear_faults":
            self.clear_faults()
            self._send(handler, 200, {"ok": True})
        elif path == "/_fake/deliver":
            self.deliver(data.get("ids"), receipt=int(data.get("receipt", 1)), ptt=data.get("ptt"))
            self._send(handler, 200, {"ok": True})
        elif path == "/_fake/incoming":
            ident = self.add_incoming(str(data["sender"]), str(data["message"]), tag=str(data.get("tag", "")))
            self._send(handler, 200, {"id": ident})
        else:
            self._send(handler, 404, {"message": "unknown control route"})

    # ------------------------------------------------------------------------------------------------
    # authentication

    def _authenticate(self, request: _Request) -> None:
        h = request.headers
        ak = h.get("x-ovh-application")
        if not ak:
            raise ApiError(401, "You must login first", "NOT_AUTHENTICATED")
        if ak != self.application_key:
            raise ApiError(403, "This application key is invalid", "INVALID_KEY")
        if request.path == "/auth/time":
            return
        ck, ts, sig = h.get("x-ovh-consumer"), h.get("x-ovh-timestamp"), h.get("x-ovh-signature")
        if not ck or not ts or not sig:
            raise ApiError(401, "You must login first", "NOT_AUTHENTICATED")
        if ck != self.consumer_key:
            raise ApiError(403, "This credential does not exist", "INVALID_CREDENTIAL")
        try:
            stamp = int(ts)
        except ValueError:
            raise ApiError(400, "Invalid timestamp", "QUERY_TIME_OUT") from None
        if abs(stamp - self.now()) > self.time_tolerance:
            raise ApiError(400, "Query out of time", "QUERY_TIME_OUT")
        pre = "+".join([self.application_secret, ck, request.method, request.full_url, request.body_text, ts])
        expected = "$1$" + hashlib.sha1(pre.encode("utf-8")).hexdigest()
        if sig != expected:
            raise ApiError(self.bad_signature_status, "Invalid signature", "INVALID_SIGNATURE")
        if request.body_text and "json" not in (h.get("content-type") or ""):
            raise ApiError(400, "Content-Type must be application/json")
        if self.granted is not None and not any(
            request.method == m.upper() and fnmatch.fnmatchcase(request.path, p) for m, p in self.granted
        ):
            raise ApiError(403, "This call has not been granted", "NOT_GRANTED_CALL")

    # ------------------------------------------------------------------------------------------------
    # routing

    def _dispatch(self, request: _Request, fault: Fault | None) -> tuple[int, Any]:
        self._authenticate(request)
        seg, method = request.segments, request.method
        if seg == ["auth", "time"] and method == "GET":
            return 200, int(self.now())
        if seg == ["sms"] and method == "GET":
            return 200, [self.service_name]
        if seg == ["sms", "estimate"] and method == "POST":
            return 200, self._estimate(request.body or {})
        if seg[:2] == ["me", "document"]:
            with self._lock:
                return self._documents(request, seg[2:])
        if len(seg) < 2 or seg[0] != "sms":
            raise ApiError(404, f"Got an invalid (or empty) URL: {request.path}")
        if seg[1] != self.service_name:
            raise ApiError(404, "This service does not exist")
        with self._lock:
            self._release_due()
            result = self._route(request, seg[2:], fault)
            if method != "GET":
                self._save()
            return result

    def _params(self, request: _Request, allowed: Iterable[str]) -> dict[str, str]:
        allowed = set(allowed)
        params: dict[str, str] = {}
        for key, value in request.query:
            if key not in allowed:
                raise ApiError(400, f"Invalid parameter {key!r}")
            params[key] = value
        return params

    def _route(self, request: _Request, rest: list[str], fault: Fault | None) -> tuple[int, Any]:
        m, st = request.method, self.state
        if not rest:
            if m == "GET":
                return 200, dict(st.account)
            raise ApiError(405, "Method not allowed")
        head = rest[0]
        if head == "jobs":
            if len(rest) == 1 and m == "POST":
                return self._post_job(request.body, fault)
            if len(rest) == 1 and m == "GET":
                self._params(request, ())
                if self._expanding(request):
                    return 200, self._expanded(request, [self._job_view(st.pending[i]) for i in sorted(st.pending)])
                return 200, sorted(st.pending)
            job = self._find(st.pending, rest, "id")
            if m == "GET":
                return 200, self._job_view(job)
            if m == "DELETE":
                del st.pending[job["id"]]
                self.state.account["creditsLeft"] += job["credits"]
                return 200, None
        if head == "outgoing":
            if len(rest) == 1 and m == "GET":
                ids = self._list_outgoing(request)
                if self._expanding(request):
                    return 200, self._expanded(request, [self._public(st.outgoing[i]) for i in ids])
                return 200, ids
            sms = self._find(st.outgoing, rest, "id")
            if len(rest) == 2 and m == "GET":
                return 200, self._public(sms)
            if len(rest) == 2 and m == "DELETE":
                del st.outgoing[sms["id"]]
                return 200, None
        if head == "incoming":
            if len(rest) == 1 and m == "GET":
                params = self._params(request, ("sender", "tag", "creationDatetime.from", "creationDatetime.to"))
                return 200, self._filter(st.incoming.values(), params)
            sms = self._find(st.incoming, rest, "id")
            if m == "GET":
                return 200, dict(sms)
            if m == "DELETE":
                del st.incoming[sms["id"]]
                return 200, None
        if head == "senders":
            if len(rest) == 1 and m == "GET":
                return 200, sorted(st.senders)
            if len(rest) == 2 and m == "GET":
                if rest[1] not in st.senders:
                    raise ApiError(404, f"The requested object (sender = {rest[1]}) does not exist")
                return 200, dict(st.senders[rest[1]])
        if head == "blacklists":
            if len(rest) == 1 and m == "GET":
                params = self._params(request, ("batchID", "smsOutgoingID"))
                return 200, sorted(
                    n for n, e in st.blacklists.items() if all(str(e.get(k)) == v for k, v in params.items())
                )
            if len(rest) == 2:
                if rest[1] not in st.blacklists:
                    raise ApiError(404, f"The requested object (number = {rest[1]}) does not exist")
                if m == "GET":
                    return 200, dict(st.blacklists[rest[1]])
                if m == "DELETE":
                    del st.blacklists[rest[1]]
                    return 200, None
        if head == "document" and len(rest) == 1 and m == "GET":
            return 200, self._export(request)
        if head == "receivers":
            return self._receivers(request, rest)
        if head == "phonebooks":
            return self._phonebooks(request, rest)
        raise ApiError(404, f"Got an invalid (or empty) URL: {request.path}")

    @staticmethod
    def _find(table: Mapping[int, dict[str, Any]], rest: list[str], what: str) -> dict[str, Any]:
        try:
            ident = int(rest[1])
        except (IndexError, ValueError):
            raise ApiError(400, f"Invalid {what}") from None
        if ident not in table:
            raise ApiError(404, f"The requested object ({what} = {ident}) does not exist")
        return table[ident]

    # ------------------------------------------------------------------------------------------------
    # jobs

    def _new_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def _post_job(self, body: Any, fault: Fault | None) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Missing body")
        unknown = sorted(set(body) - _JOB_FIELDS)
        if unknown:
            raise ApiError(400, f"Invalid parameter(s): {', '.join(unknown)}")
        message = body.get("message")
        if not isinstance(message, str) or not message:
            raise ApiError(400, "Missing parameter message")
        enums = {
            "charset": ("UTF-8",),
            "coding": ("7bit", "8bit"),
            "class": ("flash", "phoneDisplay", "sim", "toolkit"),
            "priority": ("high", "medium", "low", "veryLow"),
        }
        for key, allowed in enums.items():
            if body.get(key) is not None and body[key] not in allowed:
                raise ApiError(400, f"Invalid value for {key}: {body[key]!r}")
        for key in ("validityPeriod", "differedPeriod"):
            value = body.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ApiError(400, f"Invalid value for {key}: {value!r}")
        for key in ("noStopClause", "senderForResponse"):
            if body.get(key) is not None and not isinstance(body[key], bool):
                raise ApiError(400, f"Invalid value for {key}: {body[key]!r}")
        tag = body.get("tag")
        if tag is not None and not isinstance(tag, str):
            raise ApiError(400, "Invalid value for tag")
        sender, for_response = body.get("sender"), bool(body.get("senderForResponse"))
        if sender is not None and for_response:
            raise ApiError(400, "sender and senderForResponse cannot be used together")
        if sender is None and not for_response:
            raise ApiError(400, "A sender or senderForResponse is required")
        if sender is not None:
            info = self.state.senders.get(sender)
            if info is None or info["status"] != "enable":
                raise ApiError(400, f"The sender {sender} does not exist or is not enabled")
        elif _URL.search(message):
            raise ApiError(400, "Messages sent with the short number cannot contain a URL")

        receivers: list[str] = []
        if body.get("receivers") is not None:
            if not isinstance(body["receivers"], list) or not all(isinstance(r, str) for r in body["receivers"]):
                raise ApiError(400, "Invalid value for receivers")
            receivers.extend(body["receivers"])
        if body.get("receiversSlotId") is not None:
            slot = self.state.receivers.get(_to_int(body["receiversSlotId"]) or 0)
            if slot is None:
                raise ApiError(400, f"Unknown receivers slot {body['receiversSlotId']}")
            receivers.extend(_csv_numbers(slot["csv"]))
        if body.get("receiversDocumentUrl") is not None:
            raise ApiError(400, "receiversDocumentUrl is not supported by the fake")
        if not receivers:
            raise ApiError(400, "No receivers")

        no_stop = bool(body.get("noStopClause", False))
        parts = sms_parts(message if no_stop else message + self.stop_clause)
        valid = [r for r in receivers if _VALID_NUMBER.match(r) and r not in self.invalid_numbers]
        invalid = [r for r in receivers if r not in valid]
        cost = float(parts * len(valid))
        if cost > self.state.account["creditsLeft"]:
            raise ApiError(400, "Not enough credits to send this message")
        self.state.account["creditsLeft"] -= cost

        differed = int(body.get("differedPeriod") or 0)
        now = self.now()
        ids: list[int] = []
        for receiver in valid:
            ident = self._new_id()
            ids.append(ident)
            blacklisted = receiver in self.state.blacklists
            sms = {
                "id": ident,
                "batchID": None,
                "creationDatetime": self._iso(now),
                "credits": float(parts),
                "deliveredAt": None,
                "deliveryReceipt": 2 if blacklisted else 0,
                "differedDelivery": differed,
                "message": message,
                "messageID": None,
                "messageLength": len(message),
                "numberOfSms": parts,
                "ptt": 23 if blacklisted else 3,
                "receiver": receiver,
                "sender": sender or "",
                "sentAt": None if differed else self._iso(now),
                "tag": tag or "",
                "tariffCode": "",
                "_due": now + differed * 60,
            }
            if differed:
                self.state.pending[ident] = sms
            else:
                self.state.outgoing[ident] = sms
        response = {
            "totalCreditsRemoved": cost,
            "invalidReceivers": invalid,
            "ids": ids,
            "validReceivers": valid,
            "tag": tag or "",
        }
        self.state.jobs.append(JobRecord(dict(body), response, fault=fault.kind if fault else None))
        return 200, response

    @staticmethod
    def _public(sms: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sms.items() if not k.startswith("_")}

    def _expanding(self, request: _Request) -> bool:
        return self.expanded_listings and request.headers.get("x-pagination-mode") == "CachedObjectList-Pages"

    def _expanded(self, request: _Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An ``x-expanded-response`` listing (team-scale.md §2, the Manager's headers): the objects
        themselves, filtered by ``X-Pagination-Filter`` (``field:eq=v``, ``field:in=a,b``,
        ``field:like=%v%``; several joined with ``&``), one page of ``X-Pagination-Size`` (default 5000)
        number ``X-Pagination-Number`` (from 1); ``X-Pagination-Elements`` gives the total."""
        h = request.headers
        raw_filter = h.get("x-pagination-filter") or ""
        for part in filter(None, unquote(raw_filter).split("&")):
            name, _, rule = part.partition(":")
            op, _, value = rule.partition("=")
            if op == "eq":
                items = [i for i in items if str(i.get(name) if i.get(name) is not None else "") == value]
            elif op == "in":
                allowed = set(value.split(","))
                items = [i for i in items if str(i.get(name)) in allowed]
            elif op == "like":
                pattern = re.compile("^" + ".*".join(re.escape(p) for p in value.split("%")) + "$", re.S)
                items = [i for i in items if pattern.match(str(i.get(name) or ""))]
            else:
                raise ApiError(400, f"Invalid X-Pagination-Filter {part!r}")
        try:
            size = int(h.get("x-pagination-size") or 5000)
            number = int(h.get("x-pagination-number") or 1)
        except ValueError:
            raise ApiError(400, "Invalid X-Pagination-Size or X-Pagination-Number") from None
        if size < 1 or number < 1:
            raise ApiError(400, "Invalid X-Pagination-Size or X-Pagination-Number")
        request.answer_headers["X-Pagination-Elements"] = str(len(items))
        return items[(number - 1) * size:number * size]

    def _job_view(self, sms: Mapping[str, Any]) -> dict[str, Any]:
        keys = (
            "id",
            "creationDatetime",
            "credits",
            "deliveredAt",
            "deliveryReceipt",
            "differedDelivery",
            "message",
            "messageLength",
            "numberOfSms",
            "ptt",
            "receiver",
            "sender",
            "sentAt",
        )
        return {k: sms.get(k) for k in keys}

    def _release_due(self) -> None:
        now = self.now()
        for ident in [i for i, s in self.state.pending.items() if s["_due"] <= now]:
            sms = self.state.pending.pop(ident)
            sms["sentAt"] = self._iso(now)
            self.state.outgoing[ident] = sms

    def _list_outgoing(self, request: _Request) -> list[int]:
        params = self._params(
            request,
            (
                "batchID",
                "creationDatetime.from",
                "creationDatetime.to",
                "deliveryReceipt",
                "differedDelivery",
                "messageID",
                "ptt",
                "receiver",
                "sender",
                "tag",
            ),
        )
        return self._filter(self.state.outgoing.values(), params)

    def _filter(self, items: Iterable[Mapping[str, Any]], params: Mapping[str, str]) -> list[int]:
        since = _parse_dt(params.get("creationDatetime.from"))
        until = _parse_dt(params.get("creationDatetime.to"))
        out: list[int] = []
        for item in items:
            created = datetime.fromisoformat(item["creationDatetime"])
            if since is not None and created < since:
                continue
            if until is not None and created > until:
                continue
            if any(
                k not in ("creationDatetime.from", "creationDatetime.to")
                and str(item.get(k) if item.get(k) is not None else "") != v
                for k, v in params.items()
            ):
                continue
            out.append(int(item["id"]))
        return sorted(out)

    def _estimate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        for key in ("message", "noStopClause", "senderType"):
            if key not in body:
                raise ApiError(400, f"Missing parameter {key}")
        text = str(body["message"]) + ("" if body["noStopClause"] else self.stop_clause)
        gsm = all(c in _GSM7 or c in _GSM7_EXT for c in text)
        parts = sms_parts(text)
        return {
            "characters": sum(2 if c in _GSM7_EXT else 1 for c in text) if gsm else len(text),
            "charactersClass": "7bits" if gsm else "unicode",
            "maxCharactersPerPart": (160 if parts == 1 else 153) if gsm else (70 if parts == 1 else 67),
            "parts": parts,
        }

    # ------------------------------------------------------------------------------------------------
    # receivers and phonebooks

    def _check_receivers_csv(self, text: str) -> int:
        lines = text.splitlines()
        if not lines or lines[0].strip().split(";")[0].strip().strip('"').lower() != "number":
            raise ApiError(400, "The file must contain a 'number' column on line 1")
        count = 0
        for index, line in enumerate(lines[1:], start=2):
            value = line.split(";")[0].strip().strip('"')
            if not value:
                continue
            if not re.fullmatch(r"\+?\d{6,16}", value):
                raise ApiError(400, f"Invalid number {value!r} on line {index}")
            count += 1
        return count

    def _receivers(self, request: _Request, rest: list[str]) -> tuple[int, Any]:
        m, st = request.method, self.state
        if len(rest) == 1 and m == "GET":
            return 200, sorted(st.receivers)
        if len(rest) == 1 and m == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            for key in ("slotId", "description", "autoUpdate"):
                if key not in body:
                    raise ApiError(400, f"Missing parameter {key}")
            slot_id = _to_int(body["slotId"])
            if slot_id is None or not 1 <= slot_id <= 9:
                raise ApiError(400, "slotId must be in the range 1..9")
            if slot_id in st.receivers:
                raise ApiError(409, f"Slot {slot_id} is already used")
            description = str(body["description"])
            if not description or len(description) > 40:
                raise ApiError(400, "description must be 1 to 40 characters")
            url, document_id = body.get("csvUrl"), body.get("documentId")
            if (url is None) == (document_id is None):
                raise ApiError(400, "Give csvUrl or documentId")
            if document_id is not None:
                doc = self.documents.get(str(document_id))
                if doc is None or doc.get("content") is None:
                    raise ApiError(400, f"Unable to read the document {document_id}")
                text = bytes(doc["content"]).decode("utf-8")
            else:
                if not str(url).startswith(("http://", "https://")):
                    raise ApiError(400, "csvUrl must start with http:// or https://")
                text = self._download(str(url))
            self.add_receivers_slot(slot_id, text, description=description, auto_update=bool(body["autoUpdate"]))
            return 200, dict(st.receivers[slot_id]["slot"])
        slot = self._find(st.receivers, rest, "slotId")
        if len(rest) == 2 and m == "GET":
            return 200, dict(slot["slot"])
        if len(rest) == 2 and m == "DELETE":
            del st.receivers[slot["slot"]["slotId"]]
            return 200, None
        if len(rest) == 3 and rest[2] == "csv" and m == "GET":
            return 200, slot["csv"]
        raise ApiError(404, f"Got an invalid (or empty) URL: {request.path}")

    def _download(self, url: str) -> str:
        prefix = f"http://{self.host}:{self.port}/_fake/files/"
        if url.startswith(prefix):
            name = unquote(url[len(prefix) :])
            if name not in self.files:
                raise ApiError(400, f"Unable to download the file at {url}")
            return self.files[name]
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ApiError(400, "The fake only downloads from loopback URLs")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode("utf-8"))
        except OSError as exc:
            raise ApiError(400, f"Unable to download the file at {url}") from exc

    def _export(self, request: _Request) -> str:
        """``GET /sms/{sn}/document?wayType=outgoing|incoming[&tag][&batchID][&creationDatetime.from/.to]``:
        a ``/me/document`` id; the document's ``size`` stays 0 for ``export_polls`` reads of
        ``GET /me/document/{id}`` (OVHcloud builds it in the background), then its ``getUrl`` serves the
        CSV ``id;date;sender;receiver;ptt;operatorCode;descriptionDlr;tag;message;sentAt;deliveredAt``."""
        import csv
        import io

        params = self._params(request, ("wayType", "tag", "batchID", "creationDatetime.from",
                                        "creationDatetime.to"))
        way = params.pop("wayType", None)
        if way not in ("outgoing", "incoming"):
            raise ApiError(400, "Missing or invalid parameter wayType")
        table = self.state.outgoing if way == "outgoing" else self.state.incoming
        ids = self._filter(table.values(), params)
        text = io.StringIO()
        writer = csv.writer(text, delimiter=";", lineterminator="\n")
        writer.writerow(["id", "date", "sender", "receiver", "ptt", "operatorCode", "descriptionDlr", "tag",
                         "message", "sentAt", "deliveredAt"])
        for ident in ids:
            sms = table[ident]
            writer.writerow([ident, sms.get("creationDatetime"), sms.get("sender", ""), sms.get("receiver", ""),
                             sms.get("ptt", ""), "", "", sms.get("tag", ""), sms.get("message", ""),
                             sms.get("sentAt") or "", sms.get("deliveredAt") or ""])
        ident = "doc-" + secrets.token_hex(8)
        url = f"http://{self.host}:{self.port}/_fake/documents/{ident}"
        self.documents[ident] = {"id": ident, "name": f"{way}.csv", "putUrl": url, "getUrl": url,
                                 "content": text.getvalue().encode(), "polls_left": self.export_polls}
        return ident

    def _documents(self, request: _Request, rest: list[str]) -> tuple[int, Any]:
        """``POST /me/document {name}`` → ``{id, putUrl, ...}`` (the content is PUT to putUrl, unsigned);
        ``GET /me/document/{id}``. Enough for the Manager's "Via un fichier" receivers upload."""
        if not rest and request.method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            if not body.get("name"):
                raise ApiError(400, "Missing parameter name")
            ident = "doc-" + secrets.token_hex(8)
            url = f"http://{self.host}:{self.port}/_fake/documents/{ident}"
            self.documents[ident] = {"id": ident, "name": str(body["name"]), "putUrl": url, "getUrl": url,
                                     "content": None}
            return 200, self._document_view(ident)
        if len(rest) == 1 and request.method == "GET":
            if rest[0] not in self.documents:
                raise ApiError(404, f"The requested object (id = {rest[0]}) does not exist")
            return 200, self._document_view(rest[0])
        raise ApiError(404, f"Got an invalid (or empty) URL: {request.path}")

    def _document_view(self, ident: str) -> dict[str, Any]:
        doc = self.documents[ident]
        content = doc.get("content")
        if doc.get("polls_left"):  # an export still being built
            doc["polls_left"] -= 1
            content = b""
        return {"id": ident, "name": doc["name"], "putUrl": doc["putUrl"], "getUrl": doc["getUrl"],
                "size": len(content) if content is not None else 0, "creationDate": self._iso(self.now()),
                "expirationDate": None, "tags": [], "validity": None}

    def _phonebooks(self, request: _Request, rest: list[str]) -> tuple[int, Any]:
        m, st = request.method, self.state
        if len(rest) == 1 and m == "GET":
            return 200, list(st.phonebooks)
        if len(rest) == 1 and m == "POST":
            name = (request.body or {}).get("name")
            if not name:
                raise ApiError(400, "Missing parameter name")
            return 200, self.add_phonebook(str(name))
        key = rest[1]
        if key not in st.phonebooks:
            raise ApiError(404, f"The requested object (bookKey = {key}) does not exist")
        book = st.phonebooks[key]
        if len(rest) == 2 and m == "GET":
            return 200, dict(book["book"])
        if len(rest) >= 3 and rest[2] == "phonebookContact":
            if len(rest) == 3 and m == "GET":
                return 200, sorted(book["contacts"])
            if len(rest) == 3 and m == "POST":
                body = request.body if isinstance(request.body, dict) else {}
                for required in ("group", "name", "surname"):
                    if required not in body:
                        raise ApiError(400, f"Missing parameter {required}")
                return 200, self.add_contact(
                    key,
                    name=body["name"],
                    surname=body["surname"],
                    group=body["group"],
                    home_mobile=body.get("homeMobile"),
                    home_phone=body.get("homePhone"),
                    work_mobile=body.get("workMobile"),
                    work_phone=body.get("workPhone"),
                )
            contact = self._find(book["contacts"], rest[2:], "id")
            if m == "GET":
                return 200, dict(contact)
        raise ApiError(404, f"Got an invalid (or empty) URL: {request.path}")

    # ------------------------------------------------------------------------------------------------
    # persistence

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            st = self.state
            return {
                "service_name": st.service_name,
                "account": dict(st.account),
                "next_id": st.next_id,
                "outgoing": list(st.outgoing.values()),
                "pending": list(st.pending.values()),
                "incoming": list(st.incoming.values()),
                "blacklists": list(st.blacklists.values()),
                "senders": list(st.senders.values()),
                "receivers": list(st.receivers.values()),
                "phonebooks": [
                    {"book": b["book"], "contacts": list(b["contacts"].values())} for b in st.phonebooks.values()
                ],
                "jobs": [
                    {
                        "body": j.body,
                        "response": j.response,
                        "accepted": j.accepted,
                        "answered": j.answered,
                        "fault": j.fault,
                    }
                    for j in st.jobs
                ],
            }

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot()))
        os.replace(tmp, self.state_file)

    def _load(self, data: Mapping[str, Any]) -> None:
        st = self.state
        st.service_name = data.get("service_name", st.service_name)
        st.account.update(data.get("account", {}))
        st.next_id = int(data.get("next_id", st.next_id))
        st.outgoing = {int(s["id"]): s for s in data.get("outgoing", [])}
        st.pending = {int(s["id"]): s for s in data.get("pending", [])}
        st.incoming = {int(s["id"]): s for s in data.get("incoming", [])}
        st.blacklists = {s["number"]: s for s in data.get("blacklists", [])}
        st.senders.update({s["sender"]: s for s in data.get("senders", [])})
        st.receivers = {int(r["slot"]["slotId"]): r for r in data.get("receivers", [])}
        st.phonebooks = {
            b["book"]["bookKey"]: {"book": b["book"], "contacts": {int(c["id"]): c for c in b["contacts"]}}
            for b in data.get("phonebooks", [])
        }
        st.jobs = [
            JobRecord(j["body"], j["response"], j["accepted"], j["answered"], j.get("fault"))
            for j in data.get("jobs", [])
        ]


def _to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"Invalid datetime {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_TZ)


def _csv_numbers(text: str) -> Iterator[str]:
    for line in text.splitlines()[1:]:
        value = line.split(";")[0].strip().strip('"')
        if value:
            yield value


# ----------------------------------------------------------------------------------------------------
# standalone


def _parse_rates(text: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = item.partition("=")
        rates[key.strip()] = float(value)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_ovh", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", help="JSON state file, loaded at start and rewritten after every change")
    parser.add_argument("--service-name", default="sms-ab12345-1")
    parser.add_argument("--sender", action="append", default=None, help="an enabled sender (repeatable)")
    parser.add_argument("--credits", type=float, default=1_000_000.0)
    parser.add_argument("--application-key")
    parser.add_argument("--application-secret")
    parser.add_argument("--consumer-key")
    parser.add_argument("--fault-rates", default="", help="e.g. http_500=0.1,http_429=0.05,drop_after_accept=0.02")
    parser.add_argument("--fault-where", default=None, help="regex on 'METHOD /path' the random faults apply to")
    parser.add_argument("--slow-delay", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake only listens on loopback")
    fake = FakeOvh(
        host=args.host,
        port=args.port,
        service_name=args.service_name,
        senders=args.sender if args.sender is not None else ("ACME",),
        credits=args.credits,
        application_key=args.application_key,
        application_secret=args.application_secret,
        consumer_key=args.consumer_key,
        state_file=args.state,
    )
    if args.fault_rates:
        fake.set_fault_rates(
            seed=args.seed, where=args.fault_where, delay=args.slow_delay, **_parse_rates(args.fault_rates)
        )
    fake.start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(fake.base_url)
    for key, value in fake.credentials.items():
        print(f"{key}={value}")
    sys.stdout.flush()
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
