"""What each receiver endpoint does with a request: check it, record it in the ledger, answer.

Paths (after the secret token, ``/<token>/...``):

``kannel/dlr`` (GET; POST form accepted)
    Kannel's dlr-url as :class:`~runner.providers.kannel.KannelProvider` builds it from a plain
    ``dlr_url`` (``id``, ``batch``, ``to``, ``status``, ``answer``, ``ts``; read with
    :func:`~runner.providers.kannel.parse_dlr`). Kannel types: 1 delivered, 2 failed, 4 buffered and
    8 SMSC submit (pending), 16 SMSC reject (failed).
``kannel/mo`` (GET; POST form, or Kannel's post-url: ``X-Kannel-From`` header and the text as body)
    an sms-service get-url such as ``...?from=%p&to=%P&text=%a&id=%I&ts=%T``: ``from`` and ``text`` are
    required; ``id`` (or ``ts``) deduplicates a request Kannel repeats. The answer is empty: with
    ``max-messages = 0`` in the sms-service Kannel sends no reply SMS.
``twilio/status`` (POST form)
    Twilio's status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``; ``smsrun_id`` in the
    query, as the Twilio provider builds the callback URL), signed with ``X-Twilio-Signature`` (checked
    before the handler, by the check the Twilio spec declares on its routes, keyed by ``TWILIO_AUTH_TOKEN``).
``twilio/inbound`` (POST form)
    an incoming message (``From``, ``Body``, ``MessageSid``), signed too; answered with an empty TwiML
    ``<Response/>`` (no auto-reply).
``ovh/dlr`` (GET or POST)
    OVHcloud's ``callBack`` URL: ``id`` (the SMS id), ``description`` (the delivery receipt: 0 pending,
    1 delivered, 2 failed, 4 waiting, 8 buffered, 16 error), ``ptt``, ``descriptionDlr``, ``date``.
``health`` (GET)
    ``{"ok": true, ...}`` with the counters, when the ledger answers.

Answers: 200 once the ledger transaction is committed (also for a report about a message the ledger
does not know: it is logged and counted, and the gateway must not retry it forever; it is kept a few
minutes in case its send is still settling, see :mod:`runner.receiver.store`); 400 for a request
that cannot be read or a value that is not what it should be (:mod:`runner.receiver.params`: a sender
that is not a phone number or a short code, a receipt code that is not a small number...; nothing is
recorded); 403 for a bad Twilio signature; 405 for a wrong method; 503 when the ledger is unavailable
(nothing was recorded: the gateway retries).

Handlers are coroutines on the server's event loop; every ledger call goes to the ledger thread
(:class:`~runner.receiver.writer.LedgerWriter`) and is awaited there, never run on the loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from runner.ledger.store import Ledger
from runner.receiver.params import BadValue, digits, ident, label, phone_or_short_code
from runner.receiver.params import text as clean_text
from runner.receiver.store import MessageKey, Reply, normalise_sender, store_reply
from runner.receiver.writer import LedgerWriter

T = TypeVar("T")

TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
WHO = "smsrun receive"



@dataclass(frozen=True)
class Request:
    method: str
    route: tuple[str, ...]  # the path's segments after the token
    query: Mapping[str, str]  # last value of each parameter
    form: Mapping[str, str]  # the urlencoded POST body, last value of each field
    form_pairs: Sequence[tuple[str, str]]  # every field, for Twilio's signature
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str  # the URL as the gateway called it (public URL, query included)

    def params(self) -> dict[str, str]:
        """Query and form together (the form wins)."""
        return {**self.query, **self.form}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b"OK\n"
    content_type: str = "text/plain; charset=utf-8"
    note: str = ""  # for the log line; the server masks numbers in it


def bad(reason: str) -> Response:
    return Response(400, f"bad request: {reason}\n".encode(), note=f"bad request: {reason}")


@dataclass
class Context:
    """What the handlers share: the ledger thread (:class:`LedgerWriter`), settings, counters."""

    writer: LedgerWriter
    secrets: Mapping[str, str] = field(default_factory=dict)  # what the providers' routes declare, from the env
    region: str | None = None
    started: float = field(default_factory=time.monotonic)
    stats: Counter[str] = field(default_factory=Counter)
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)

    async def ledger(self, run: Callable[[Ledger], T]) -> T:
        """``run(ledger)`` on the ledger thread, alone in its transactions."""
        return await asyncio.wrap_future(self.writer.submit(run))

    def count(self, *names: str) -> None:
        with self._stats_lock:
            for name in names:
                self.stats[name] += 1

    def stats_add(self, name: str, value: int) -> None:
        with self._stats_lock:
            self.stats[name] += value

    def snapshot(self) -> dict[str, int]:
        with self._stats_lock:
            return dict(self.stats)


Handler = Callable[[Context, Request], Awaitable[Response]]


# -- delivery reports -----------------------------------------------------------------------------------


async def _report(ctx: Context, provider: str, key: MessageKey, status: str, reason: str | None) -> Response:
    outcome = await asyncio.wrap_future(ctx.writer.report(provider, key, status, reason))  # after its commit
    what = f"{status} {key.describe()}"
    if outcome.matched == 0:
        ctx.count("reports", "reports_unknown")
        return Response(200, note=f"{what}: unknown message, ignored (kept 15 min in case its send is settling)")
    ctx.count("reports", f"reports_{status}")
    if outcome.deferred:
        ctx.count("reports_deferred")
        return Response(200, note=f"{what}: the send is still settling, applied once it is")
    return Response(200, note=f"{what}: {outcome.updated} row(s) updated")


async def kannel_dlr(ctx: Context, req: Request) -> Response:
    from runner.providers.kannel import parse_dlr

    params = req.params()
    try:
        ident(params.get("id"), "id")
        ident(params.get("batch"), "batch")
        if (params.get("to") or "").strip():
            phone_or_short_code(params.get("to"), "to")
        digits(params.get("status"), "status", max_len=3)
        digits(params.get("ts"), "ts", max_len=12, required=False)
        dlr = parse_dlr(params)
    except ValueError as exc:
        return bad(str(exc))
    key = MessageKey.from_message_id(dlr.message_id, batch_id=dlr.batch_id)
    if key.recipient is None and dlr.recipient:
        key = MessageKey(campaign_id=key.campaign_id, recipient=dlr.recipient, batch_id=dlr.batch_id)
    return await _report(ctx, "kannel", key, dlr.status, dlr.reason)


async def ovh_dlr(ctx: Context, req: Request) -> Response:
    from runner.providers.ovh.api import delivery_status, ptt_text

    params = req.params()
    try:
        sms_id = digits(params.get("id"), "SMS id (id)", max_len=20)
        description = digits(params.get("description"), "delivery receipt (description)", max_len=3)
        ptt = digits(params.get("ptt"), "ptt", max_len=4, required=False)
        detail_text = label(params.get("descriptionDlr"))
    except BadValue as exc:
        return bad(str(exc))
    assert sms_id is not None and description is not None
    status = delivery_status(description)
    detail = [x for x in (detail_text, ptt_text(ptt)) if x]
    return await _report(ctx, "ovh", MessageKey(provider_id=str(sms_id)), status, "; ".join(detail) or None)


async def twilio_status(ctx: Context, req: Request) -> Response:
    from runner.providers.twilio import DELIVERY_STATUS  # one table for callbacks and status fetches

    try:
        sid = ident(req.form.get("MessageSid") or req.form.get("SmsSid"), "MessageSid", max_len=64)
        raw = ident(req.form.get("MessageStatus") or req.form.get("SmsStatus"), "MessageStatus", max_len=32)
        code = digits(req.form.get("ErrorCode"), "ErrorCode", max_len=6, required=False)
        smsrun_id = ident(req.query.get("smsrun_id"), "smsrun_id")
    except BadValue as exc:
        return bad(str(exc))
    if not sid or not raw:
        return bad("no MessageSid or MessageStatus")
    status = DELIVERY_STATUS.get(raw, "pending")
    reason = raw + (f" ({code})" if code is not None else "")
    key = MessageKey.from_message_id(smsrun_id, provider_id=sid)
    return await _report(ctx, "twilio", key, status, reason)


# -- replies --------------------------------------------------------------------------------------------


async def _reply(ctx: Context, reply: Reply, answer: Response) -> Response:
    outcome = await ctx.ledger(lambda ledger: store_reply(ledger, reply, who=WHO))
    what = f"reply from {reply.sender}" + (" (opt-out)" if outcome.opt_out else "")
    if not outcome.stored:
        ctx.count("replies_duplicate")
        return Response(answer.status, answer.body, answer.content_type, note=f"{what}: already stored")
    ctx.count("replies", *(["opt_outs"] if outcome.opt_out else []))
    note = what + (": added to the suppression list" if outcome.suppressed else "")
    if outcome.suppress_error:
        note += f": not suppressed ({outcome.suppress_error})"
    return Response(answer.status, answer.body, answer.content_type, note=note)


async def kannel_mo(ctx: Context, req: Request) -> Response:
    params = req.params()
    sender = params.get("from") or params.get("sender")
    text = params.get("text")
    if req.method == "POST" and not req.form and req.headers.get("x-kannel-from"):  # Kannel's post-url
        sender = req.headers["x-kannel-from"]
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return bad("the text is not UTF-8")
    if text is None:
        return bad("no text")
    try:
        sender = phone_or_short_code(sender, "sender (from)")
        ref = ident(params.get("id"), "id")
        ts = ident(params.get("ts"), "ts")
    except BadValue as exc:
        return bad(str(exc))
    text = clean_text(text)
    if ref is None and ts:
        import hashlib

        ref = "ts:" + hashlib.sha256(f"{ts}\n{sender}\n{text}".encode()).hexdigest()[:24]
    reply = Reply("kannel", ref, normalise_sender(sender, ctx.region), text)
    return await _reply(ctx, reply, Response(200, b""))


async def twilio_inbound(ctx: Context, req: Request) -> Response:
    sender = req.form.get("From")
    text = req.form.get("Body")
    if not sender or text is None:
        return bad("no From or Body")
    try:
        sender = phone_or_short_code(sender, "From")
        ref = ident(req.form.get("MessageSid") or req.form.get("SmsMessageSid") or req.form.get("SmsSid"),
                    "MessageSid", max_len=64)
    except BadValue as exc:
        return bad(str(exc))
    reply = Reply("twilio", ref, normalise_sender(sender, ctx.region), clean_text(text))
    return await _reply(ctx, reply, Response(200, TWIML_EMPTY, "text/xml; charset=utf-8"))


# -- health ---------------------------------------------------------------------------------------------


async def health(ctx: Context, req: Request) -> Response:
    await ctx.ledger(lambda ledger: ledger.report_count())
    data = {"ok": True, "uptime_s": round(time.monotonic() - ctx.started, 1), "counts": ctx.snapshot()}
    return Response(200, json.dumps(data).encode() + b"\n", "application/json", note="ok")


#: the receiver's own routes: route -> (allowed methods, handler); the providers' come from their specs
ROUTES: dict[tuple[str, ...], tuple[frozenset[str], Handler]] = {
    ("health",): (frozenset({"GET"}), health),
}
