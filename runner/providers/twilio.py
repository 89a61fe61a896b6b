"""Twilio Programmable Messaging: ``provider: twilio``.

One ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic with
``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN`` from the environment) per recipient.

Settings (``provider.settings`` in the campaign)::

    base_url               https://api.twilio.com (tests point it at a loopback fake)
    from                   a Twilio number (E.164), short code or alphanumeric sender ID; used when the
                           campaign's sender is ``short-code`` (an alphanumeric or number sender wins)
    messaging_service_sid  MG... ; required to schedule (``not_before`` in the future)
    status_callback        http(s) URL of smsrun's receiver; Twilio POSTs status changes there
    validity_period        seconds (1-36000) a message may wait in Twilio's queue before it is dropped
    timeout                seconds per HTTP request (default 30)

How Twilio's answers are classified (one request is one recipient):

* 2xx: SENT with the message SID as ``provider_id``.
* 21211 (invalid 'To'): REJECTED, reason ``invalid number (21211): ...``.
* 21610 (recipient replied STOP at Twilio): REJECTED with reason exactly :data:`UNSUBSCRIBED_REASON`
  (``"unsubscribed (21610)"``) so the core can add the number to its suppression list
  (:func:`is_unsubscribed`).
* 429 / 20429: :class:`RetryableError`; Twilio documents that such a request "was never processed and
  is always safe to retry"; ``Retry-After`` is passed on.  21611 (the sender's queue is full) too.
* 401 / 20003 and 403: :class:`CredentialsError`.
* Errors about the sender or the settings themselves (invalid 'From', StatusCallback, scheduling...),
  which would fail every recipient alike, and 404 (wrong base_url or account): :class:`ConfigError`.
* Any other 4xx: REJECTED with Twilio's code and message.
* **5xx: in doubt.**  Twilio documents no 5xx contract for message creation, and its own guarantee
  ("safe to retry") is given for 20429 only; a 500/502/503/504 can come from a proxy after the message
  was created, so a 5xx is treated like a dropped connection: :class:`InDoubtError`, resolved by
  :meth:`TwilioProvider.reconcile` (never by resending blindly).
* A dropped connection or read timeout after the request was sent: :class:`InDoubtError`.  A failure
  to connect (nothing was sent): :class:`RetryableError`.

In a batch of several messages, an error that concerns the whole run (credentials, configuration,
throttling, in doubt) is raised as such while nothing of the batch has been accepted yet; once some
messages were accepted, the provider stops there and returns their SENT results, the failing message as
RETRY or IN_DOUBT and the untried ones as RETRY, so accepted messages are never reported as unsent.
The next request then raises the error for good.

When ``status_callback`` is set, the URL sent to Twilio carries the smsrun message id as the query
parameter ``smsrun_id`` (so a callback can be matched even before the ledger knows the SID); Twilio
signs callbacks with ``X-Twilio-Signature`` over that full URL: see :func:`verify_twilio_signature`.

Messages are sent with ``SmartEncoded=false``: smsrun already chose the encoding and counted the parts,
Twilio must not substitute characters behind its back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from runner.campaign.model import ALNUM_SENDER, Sender
from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
)
from runner.providers.base import (
    Batch,
    Capabilities,
    DeliveryReport,
    Outcome,
    OutgoingMessage,
    Provider,
    ProviderHistory,
    ProviderInfo,
    RecipientResult,
    SentTrace,
)

ENV_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT = 30.0

#: the reason given to recipients Twilio refuses with 21610 (they replied STOP): suppress them
UNSUBSCRIBED_REASON = "unsubscribed (21610)"

ERR_AUTHENTICATE = 20003
ERR_TOO_MANY_REQUESTS = 20429
ERR_INVALID_TO = 21211
ERR_UNSUBSCRIBED = 21610
ERR_QUEUE_FULL = 21611
#: errors about the sender, the callback URL or the scheduling settings: every recipient would fail alike
CONFIG_ERRORS = frozenset(
    {
        21212,  # invalid 'From' number
        21603,  # 'From' is required
        21606,  # 'From' is not a message-capable number of this account
        21609,  # invalid StatusCallback
        35111,
        35114,
        35115,
        35117,
        35118,  # scheduling: SendAt/ScheduleType/Messaging Service
    }
)

#: Twilio accepts SendAt from 300 s to 35 days ahead; keep a margin for transit and clock skew
SCHEDULE_MIN_AHEAD = timedelta(minutes=5, seconds=30)
SCHEDULE_MAX_AHEAD = timedelta(days=35) - timedelta(minutes=5)
#: tolerance between our clock and Twilio's when reconciling
CLOCK_SLACK = timedelta(minutes=5)
QUEUE_FULL_RETRY_AFTER = 60.0

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$")
MESSAGE_SID_RE = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")

SETTINGS_KEYS = ("base_url", "from", "messaging_service_sid", "status_callback", "validity_period", "timeout")

INFO = ProviderInfo(
    name="twilio",
    description="Twilio Programmable Messaging (REST API 2010-04-01), one request per recipient",
    env=[ENV_ACCOUNT_SID, ENV_AUTH_TOKEN],
)

# Twilio message status -> DeliveryReport.status
DELIVERY_STATUS = {
    "delivered": "delivered",
    "read": "delivered",
    "partially_delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
    "queued": "pending",
    "accepted": "pending",
    "scheduled": "pending",
    "sending": "pending",
    "sent": "pending",
}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` as Twilio computes it for a form POST.

    The full URL (query string included), then every POST parameter sorted by name, name and value
    appended with no delimiter; HMAC-SHA1 keyed by the auth token; base64.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    data = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]], signature: str
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) matches the request.

    ``url`` is the URL exactly as Twilio called it, query string included.  As Twilio's own helpers do,
    the URL is also tried with and without the scheme's default port (proxies differ on that).
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, pairs), signature)
        for candidate in _port_variants(url)
    )


def is_unsubscribed(result: RecipientResult) -> bool:
    """True for a recipient Twilio refused because they replied STOP (error 21610)."""
    return result.outcome is Outcome.REJECTED and result.reason == UNSUBSCRIBED_REASON


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


class TwilioProvider(Provider):
    """See the module docstring."""

    name = "twilio"
    capabilities = Capabilities(
        max_recipients_per_request=1,
        one_text_many_recipients=False,
        stop_mention=None,  # Twilio appends nothing: the core adds opt_out_text to commercial messages
        can_reconcile=True,
        default_rate=None,
    )
    #: PageSize of the list requests made by :meth:`reconcile` (Twilio allows 1-1000)
    page_size: int = 1000
    #: upper bound on the pages read per recipient by :meth:`reconcile` (beyond: cannot tell)
    max_pages: int = 100

    def __init__(self, settings: Mapping[str, Any] | None = None, *, state_dir: Path | None = None) -> None:
        super().__init__(settings, state_dir=state_dir)
        unknown = sorted(set(self.settings) - set(SETTINGS_KEYS))
        if unknown:
            raise ConfigError(
                f"provider twilio: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(SETTINGS_KEYS)})"
            )
        self.base_url = _check_base_url(self.settings.get("base_url", DEFAULT_BASE_URL))
        self.from_ = _check_from(self.settings.get("from"))
        self.messaging_service_sid = _check_service(self.settings.get("messaging_service_sid"))
        self.status_callback = _check_callback(self.settings.get("status_callback"))
        self.validity_period = _check_validity(self.settings.get("validity_period"))
        self.timeout = _check_timeout(self.settings.get("timeout", DEFAULT_TIMEOUT))
        self._client: httpx.Client | None = None
        self._account_sid = ""
        self._recent: tuple[datetime, float, list[Mapping[str, Any]]] | None = None  # see reconcile
        self._doubted_at = float("-inf")  # monotonic time of this process's last in-doubt request
        self.list_requests = 0  # list pages read (reconcile, history): observability for tests and benches

    # -- public interface ---------------------------------------------------------------------------

    def send(self, batch: Batch) -> list[RecipientResult]:
        send_at = self._send_at(batch.not_before)
        base = self._base_form(batch.sender, scheduled=send_at is not None)
        if send_at is not None:
            base["SendAt"] = send_at
            base["ScheduleType"] = "fixed"
        client = self._http()
        results: list[RecipientResult] = []
        messages = list(batch.messages)
        for index, message in enumerate(messages):
            try:
                results.append(self._send_one(client, base, message))
            except (RetryableError, InDoubtError, CredentialsError, ConfigError) as exc:
                if isinstance(exc, InDoubtError):
                    self._doubted_at = time.monotonic()  # a cached listing no longer covers it
                if not any(r.outcome is Outcome.SENT for r in results):
                    raise
                outcome = Outcome.IN_DOUBT if isinstance(exc, InDoubtError) else Outcome.RETRY
                results.append(RecipientResult(message.recipient, outcome, reason=exc.message))
                results.extend(
                    RecipientResult(m.recipient, Outcome.RETRY, reason=f"not attempted: {exc.message}")
                    for m in messages[index + 1 :]
                )
                break
        return results

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        """Find the batch's messages among the sender's recent messages (issue 11).

        One listing serves every in-doubt batch of a recovery: ``GET Messages.json?From=<sender>
        &PageSize=1000`` (no ``From`` with a Messaging Service: its messages are matched on
        ``messaging_service_sid``), read newest first until a whole page was created before ``since``
        (minus :data:`CLOCK_SLACK`) — usually one page for all the batches a dead run left in doubt, where
        one ``To=<recipient>`` listing per recipient was read before. The listing is kept for the next
        batches unless a request of this process ended in doubt after it was taken. A message matches
        when it is outbound, was created at or after ``since``, has exactly the text smsrun sent, the
        same ``from`` / Messaging Service and the recipient as ``to``. Found: SENT with its SID (REJECTED
        when it was canceled at Twilio: it will not go). Missing from the result: not accepted.

        The list is *not* narrowed with ``DateSent>=``: ``date_sent`` is when Twilio actually sent the
        message, so a message still queued (Twilio queues up to 10 hours behind a slow sender) or
        scheduled has none and would be missed, then sent twice. Returns None (cannot tell) past
        :attr:`max_pages` pages.
        """
        client = self._http()
        from_, service = self._sender_fields(batch.sender)
        start = _as_utc(since) - CLOCK_SLACK
        items = self._recent_messages(client, from_, start)
        if items is None:
            return None
        texts: dict[str, set[str]] = {}
        for message in batch.messages:
            texts.setdefault(message.recipient, set()).add(message.text)
        found: dict[str, RecipientResult] = {}
        for item in items:
            recipient = item.get("to")
            if not isinstance(recipient, str):
                continue
            wanted = texts.get(recipient)
            if wanted is None or not self._matches(item, wanted, start, from_, service):
                continue
            sid = item.get("sid")
            if item.get("status") == "canceled":
                result = RecipientResult(recipient, Outcome.REJECTED, provider_id=sid, reason="canceled at Twilio")
            else:
                result = RecipientResult(recipient, Outcome.SENT, provider_id=sid)
            previous = found.get(recipient)
            if previous is None or previous.outcome is not Outcome.SENT:
                found[recipient] = result
        return found

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """The messages from the campaign's sender since ``since`` whose recipient and text are the
        plan's (the lost-ledger guard; Twilio has no campaign id or idempotency key to ask by)."""
        client = self._http()
        from_, service = self._sender_fields(sender)
        start = _as_utc(since)
        before = self.list_requests
        items = self._recent_messages(client, from_, start, cache=False)
        if items is None:
            raise RetryableError(f"Twilio lists more than {self.max_pages} pages of messages since {start:%Y-%m-%d}")
        traces: dict[str, SentTrace] = {}
        for item in items:
            recipient = item.get("to")
            if not isinstance(recipient, str):
                continue
            text = wanted.get(recipient)
            if text is None or recipient in traces or not self._matches(item, {text}, start, from_, service):
                continue
            if item.get("status") == "canceled":
                continue
            sid = item.get("sid")
            traces[recipient] = SentTrace(recipient, sid if isinstance(sid, str) else None,
                                          _parse_rfc2822(item.get("date_created")))
        found = list(traces.values())
        oldest = min((t.at for t in found if t.at), default=None)
        return ProviderHistory("Twilio", found, len(found), oldest, start, requests=self.list_requests - before)

    def delivery_reports(self, provider_ids: Sequence[str]) -> list[DeliveryReport]:
        """Fetch each message's status (``GET Messages/{Sid}.json``); SIDs Twilio does not know are
        skipped."""
        client = self._http()
        reports: list[DeliveryReport] = []
        for sid in provider_ids:
            if not MESSAGE_SID_RE.match(sid):
                continue
            data = self._get_json(
                client, f"{self._account_path()}/Messages/{sid}.json", None, missing_ok=True
            )
            if data is None:
                continue
            status = str(data.get("status") or "")
            reason: str | None = None
            mapped = DELIVERY_STATUS.get(status, "pending")
            if mapped == "failed" or status == "partially_delivered":
                code, text = data.get("error_code"), data.get("error_message")
                reason = status if code is None else f"{status} ({code})"
                if text:
                    reason += f": {text}"
            reports.append(
                DeliveryReport(
                    provider_id=sid, status=mapped, reason=reason, at=_parse_rfc2822(data.get("date_updated"))
                )
            )
        return reports

    def preflight(self, *, sender: Sender, total_parts: int) -> list[str]:
        warnings = [
            f"{var} is not set: sending with twilio will fail"
            for var in (ENV_ACCOUNT_SID, ENV_AUTH_TOKEN)
            if not os.environ.get(var)
        ]
        try:
            self._sender_fields(sender)
        except ConfigError as exc:
            warnings.append(exc.message)
        return warnings

    def __enter__(self) -> TwilioProvider:
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- sending ------------------------------------------------------------------------------------

    def _send_one(
        self, client: httpx.Client, base: Mapping[str, str], message: OutgoingMessage
    ) -> RecipientResult:
        form = {"To": message.recipient, "Body": message.text, **base}
        if self.status_callback:
            sep = "&" if urlsplit(self.status_callback).query else "?"
            form["StatusCallback"] = (
                f"{self.status_callback}{sep}{urlencode({'smsrun_id': message.message_id})}"
            )
        try:
            response = client.post(f"{self._account_path()}/Messages.json", data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(
                f"could not connect to Twilio ({type(exc).__name__}: {exc}); nothing was sent"
            ) from exc
        except httpx.TransportError as exc:
            raise InDoubtError(
                f"the connection to Twilio failed after the message to {message.recipient} was sent "
                f"({type(exc).__name__}); Twilio may have accepted it"
            ) from exc
        request_id = response.headers.get("Twilio-Request-Id")
        if 200 <= response.status_code < 300:
            data = _json_object(response)
            sid = data.get("sid") if data else None
            if isinstance(sid, str) and MESSAGE_SID_RE.match(sid):
                return RecipientResult(message.recipient, Outcome.SENT, provider_id=sid)
            return RecipientResult(
                message.recipient, Outcome.SENT, reason="accepted, but Twilio's answer carried no message SID"
            )
        code, text = _error_fields(response)
        what = _describe(response.status_code, code, text)
        if response.status_code >= 500:
            raise InDoubtError(
                f"Twilio answered {what} to the message to {message.recipient}; it may have been "
                "created all the same (reconcile will tell)",
                query_id=request_id,
            )
        self._raise_for_run(response, code, what, request_id)
        if code == ERR_UNSUBSCRIBED:
            return RecipientResult(message.recipient, Outcome.REJECTED, reason=UNSUBSCRIBED_REASON, opted_out=True)
        if code == ERR_INVALID_TO:
            return RecipientResult(
                message.recipient,
                Outcome.REJECTED,
                reason=f"invalid number (21211): {text}" if text else "invalid number (21211)",
            )
        return RecipientResult(message.recipient, Outcome.REJECTED, reason=f"Twilio refused it: {what}")

    def _raise_for_run(
        self, response: httpx.Response, code: int | None, what: str, request_id: str | None
    ) -> None:
        """Raise the errors that concern the whole run rather than one recipient."""
        status = response.status_code
        if status == 401 or code == ERR_AUTHENTICATE:
            raise CredentialsError(
                f"Twilio refused the credentials ({what}): check {ENV_ACCOUNT_SID} and {ENV_AUTH_TOKEN}",
                query_id=request_id,
            )
        if status == 403:
            raise CredentialsError(
                f"Twilio refused access ({what}): check the account and its permissions", query_id=request_id
            )
        if status == 429 or code == ERR_TOO_MANY_REQUESTS:
            raise RetryableError(
                f"Twilio is throttling requests ({what})",
                retry_after=_retry_after(response),
                query_id=request_id,
            )
        if code == ERR_QUEUE_FULL:
            raise RetryableError(
                f"the sender's queue at Twilio is full ({what})",
                retry_after=_retry_after(response) or QUEUE_FULL_RETRY_AFTER,
                query_id=request_id,
            )
        if code in CONFIG_ERRORS:
            raise ConfigError(
                f"Twilio refused the provider settings ({what}): check from, "
                "messaging_service_sid, status_callback and the schedule"
            )
        if status == 404:
            raise ConfigError(f"Twilio answered {what}: check base_url and {ENV_ACCOUNT_SID}")
        if 300 <= status < 400:
            raise ConfigError(f"Twilio answered {what} (a redirect): check base_url")

    def _base_form(self, sender: Sender, *, scheduled: bool) -> dict[str, str]:
        from_, service = self._sender_fields(sender)
        if scheduled and service is None:
            raise ConfigError(
                "provider twilio: scheduling (not_before in the future) needs "
                "settings.messaging_service_sid; Twilio only schedules messages sent through a "
                "Messaging Service"
            )
        form = {"SmartEncoded": "false"}
        if from_ is not None:
            form["From"] = from_
        if service is not None:
            form["MessagingServiceSid"] = service
        if self.validity_period is not None:
            form["ValidityPeriod"] = str(self.validity_period)
        return form

    def _sender_fields(self, sender: Sender) -> tuple[str | None, str | None]:
        """(From, MessagingServiceSid): the campaign's sender wins unless it is the short code."""
        from_ = sender.value if sender.kind != "short-code" and sender.value else self.from_
        if from_ is None and self.messaging_service_sid is None:
            raise ConfigError(
                "provider twilio: the campaign's sender is the short code, so settings.from or "
                "settings.messaging_service_sid must say which Twilio sender to use"
            )
        return from_, self.messaging_service_sid

    def _send_at(self, not_before: datetime | None) -> str | None:
        """SendAt for a batch deferred to ``not_before``; None to send now."""
        if not_before is None:
            return None
        when = _as_utc(not_before)
        ahead = when - datetime.now(UTC)
        if ahead <= timedelta(0):
            return None
        if ahead < SCHEDULE_MIN_AHEAD:
            raise RetryableError(
                f"not_before {when:%Y-%m-%d %H:%M:%S}Z is less than 5 minutes ahead, too soon for Twilio "
                "to schedule it: send it once that time has come",
                retry_after=ahead.total_seconds(),
            )
        if ahead > SCHEDULE_MAX_AHEAD:
            raise ConfigError(
                f"not_before {when:%Y-%m-%d %H:%M:%S}Z is {ahead.days} days ahead; Twilio schedules at most "
                "35 days ahead: send the campaign closer to its date"
            )
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- reading ------------------------------------------------------------------------------------

    @staticmethod
    def _matches(
        item: Mapping[str, Any], wanted: set[str], start: datetime, from_: str | None, service: str | None
    ) -> bool:
        if not str(item.get("direction") or "").startswith("outbound"):
            return False
        if item.get("body") not in wanted:
            return False
        created = _parse_rfc2822(item.get("date_created"))
        if created is None or created < start:
            return False
        if from_ is not None and item.get("from") not in (None, from_):
            return False
        return not (service is not None and item.get("messaging_service_sid") not in (None, service))

    def _recent_messages(self, client: httpx.Client, from_: str | None, start: datetime, *,
                         cache: bool = True) -> list[Mapping[str, Any]] | None:
        """The sender's messages created since ``start`` (and maybe a few older ones), newest first; the
        listing of an earlier call when it covers ``start`` and no request ended in doubt since."""
        recent = self._recent
        if cache and recent is not None and recent[0] <= start and recent[1] > self._doubted_at:
            return recent[2]
        taken = time.monotonic()
        params = {"PageSize": str(self.page_size)}
        if from_ is not None:
            params["From"] = from_
        items = self._list_messages(client, params, older_than=start)
        if items is not None and cache:
            self._recent = (start, taken, items)
        return items

    def _list_messages(self, client: httpx.Client, params: dict[str, str],
                       older_than: datetime | None = None) -> list[Mapping[str, Any]] | None:
        """Every message of a ListMessage query, following ``next_page_uri``; None past max_pages.
        ``older_than``: stop after a page whose messages were all created before it (lists are newest
        first)."""
        url: str | None = f"{self._account_path()}/Messages.json"
        query: dict[str, str] | None = params
        seen: set[str] = set()
        items: list[Mapping[str, Any]] = []
        for _ in range(self.max_pages):
            if url is None or url in seen:
                return items
            seen.add(url)
            page = self._get_json(client, url, query, missing_ok=False) or {}
            query = None  # next_page_uri carries the query
            self.list_requests += 1
            listed = page.get("messages")
            if isinstance(listed, list):
                fresh = [item for item in listed if isinstance(item, Mapping)]
                items += fresh
                if older_than is not None and fresh and all(
                        (_parse_rfc2822(item.get("date_created")) or older_than) < older_than for item in fresh):
                    return items
            nxt = page.get("next_page_uri")
            url = nxt if isinstance(nxt, str) and nxt else None
        return items if url is None else None

    def _get_json(
        self, client: httpx.Client, url: str, params: Mapping[str, str] | None, *, missing_ok: bool
    ) -> dict[str, Any] | None:
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            raise RetryableError(f"reading from Twilio failed ({type(exc).__name__})") from exc
        request_id = response.headers.get("Twilio-Request-Id")
        if response.status_code == 404 and missing_ok:
            return None
        if 200 <= response.status_code < 300:
            data = _json_object(response)
            if data is None:
                raise RetryableError(
                    "Twilio answered with something that is not a JSON object", query_id=request_id
                )
            return data
        code, text = _error_fields(response)
        what = _describe(response.status_code, code, text)
        if response.status_code >= 500:
            raise RetryableError(
                f"Twilio answered {what}", retry_after=_retry_after(response), query_id=request_id
            )
        self._raise_for_run(response, code, what, request_id)
        raise PermanentError(f"Twilio refused the request: {what}", query_id=request_id)

    # -- plumbing -----------------------------------------------------------------------------------

    def _account_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self._account_sid}"

    def _http(self) -> httpx.Client:
        if self._client is None:
            account_sid = os.environ.get(ENV_ACCOUNT_SID, "").strip()
            token = os.environ.get(ENV_AUTH_TOKEN, "").strip()
            if not account_sid:
                raise ConfigError(
                    f"{ENV_ACCOUNT_SID} is not set: the twilio provider reads the account SID "
                    "from the environment"
                )
            if not ACCOUNT_SID_RE.match(account_sid):
                raise ConfigError(f"{ENV_ACCOUNT_SID} is not an account SID ('AC' and 32 hex digits)")
            if not token:
                raise ConfigError(
                    f"{ENV_AUTH_TOKEN} is not set: the twilio provider reads the auth token "
                    "from the environment"
                )
            self._account_sid = account_sid
            self._client = httpx.Client(
                base_url=self.base_url,
                auth=httpx.BasicAuth(account_sid, token),
                timeout=self.timeout,
                headers={"Accept": "application/json", "User-Agent": "smsrun"},
                follow_redirects=False,
            )
        return self._client


# -- helpers ------------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted; naive ones are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_rfc2822(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_fields(response: httpx.Response) -> tuple[int | None, str]:
    """Twilio's error body: ``{"code", "message", "more_info", "status"}``."""
    data = _json_object(response) or {}
    code = data.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    message = data.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else "",
    )


def _describe(status: int, code: int | None, text: str) -> str:
    what = f"HTTP {status}"
    if code is not None:
        what += f", error {code}"
    if text:
        what += f": {text}"
    return what


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = _parse_rfc2822(value)
    if when is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _check_base_url(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("provider twilio: settings.base_url must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("provider twilio: settings.base_url must be an http(s) URL without query")
    return value.rstrip("/")


def _check_from(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (
        E164_RE.match(value) or SHORT_CODE_RE.match(value) or ALNUM_SENDER.match(value)
    ):
        raise ConfigError(
            "provider twilio: settings.from must be a number in E.164 (+15551234567), a short "
            "code or an alphanumeric sender ID (3-11 letters, digits, spaces)"
        )
    return value


def _check_service(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SERVICE_SID_RE.match(value):
        raise ConfigError("provider twilio: settings.messaging_service_sid must be 'MG' and 32 hex digits")
    return value


def _check_callback(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("provider twilio: settings.status_callback must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigError("provider twilio: settings.status_callback must be an http(s) URL without fragment")
    if "_" in parts.hostname:
        raise ConfigError("provider twilio: Twilio refuses status_callback hosts with underscores")
    if len(value) > 3800:
        raise ConfigError("provider twilio: settings.status_callback is too long (Twilio allows 4000 chars)")
    return value


def _check_validity(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36000:
        raise ConfigError("provider twilio: settings.validity_period must be whole seconds from 1 to 36000")
    return value


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError("provider twilio: settings.timeout must be a positive number of seconds")
    return float(value)
