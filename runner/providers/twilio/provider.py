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

import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from runner.campaign.model import Sender
from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    RetryableError,
)
from runner.providers.base import (
    Batch,
    DeliveryReport,
    Outcome,
    OutgoingMessage,
    Provider,
    ProviderHistory,
    RecipientResult,
)
from runner.providers.http import nothing_sent, retry_after, send_bounded, send_requests, timeouts
from runner.providers.twilio import records
from runner.providers.twilio.answers import (
    ACCOUNT_SID_RE,
    API_VERSION,
    CONFIG_ERRORS,
    ERR_AUTHENTICATE,
    ERR_INVALID_TO,
    ERR_QUEUE_FULL,
    ERR_TOO_MANY_REQUESTS,
    ERR_UNSUBSCRIBED,
    MESSAGE_SID_RE,
    QUEUE_FULL_RETRY_AFTER,
    SCHEDULE_MAX_AHEAD,
    SCHEDULE_MIN_AHEAD,
    UNSUBSCRIBED_REASON,
    as_utc,
    check_base_url,
    check_callback,
    check_from,
    check_service,
    describe,
    error_fields,
    json_object,
)
from runner.providers.twilio.receiver import twilio_signature, verify_twilio_signature
from runner.providers.twilio.spec import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ENV_ACCOUNT_SID,
    ENV_AUTH_TOKEN,
    PROVIDER,
    TwilioSettings,
    capabilities,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "UNSUBSCRIBED_REASON", "TwilioProvider", "is_unsubscribed",
           "twilio_signature", "verify_twilio_signature"]


def is_unsubscribed(result: RecipientResult) -> bool:
    """True for a recipient Twilio refused because they replied STOP (error 21610)."""
    return result.outcome is Outcome.REJECTED and result.reason == UNSUBSCRIBED_REASON


class TwilioProvider(Provider):
    """See the module docstring."""

    name = "twilio"
    spec = PROVIDER
    capabilities = capabilities(TwilioSettings())
    options: TwilioSettings
    #: PageSize of the list requests made by :meth:`reconcile` (Twilio allows 1-1000)
    page_size: int = 1000
    #: upper bound on the pages read per recipient by :meth:`reconcile` (beyond: cannot tell)
    max_pages: int = 100

    def __init__(self, settings: Mapping[str, Any] | None = None, *, state_dir: Path | None = None) -> None:
        super().__init__(settings, state_dir=state_dir)
        o = self.options  # typed: types, bounds and unknown keys checked by the spec
        self.base_url = check_base_url(o.base_url)
        self.from_ = check_from(o.from_)
        self.messaging_service_sid = check_service(o.messaging_service_sid)
        self.status_callback = check_callback(o.status_callback)
        self.validity_period = o.validity_period
        self.timeout = o.timeout
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

        def post(one: Sequence[OutgoingMessage]) -> list[RecipientResult]:
            try:
                return [self._send_one(client, base, one[0])]
            except InDoubtError:
                self._doubted_at = time.monotonic()  # a cached listing no longer covers it
                raise

        # one request per recipient: accepted messages are never reported as unsent (runner.providers.http)
        return send_requests([[m] for m in batch.messages], post, can_reconcile=True)

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        """Which messages of an in-doubt batch Twilio created: :func:`runner.providers.twilio.records.reconcile`."""
        return records.reconcile(self, batch, since)

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """The lost-ledger guard's question: :func:`runner.providers.twilio.records.history`."""
        return records.history(self, sender, wanted, since)

    def delivery_reports(self, provider_ids: Sequence[str]) -> list[DeliveryReport]:
        """Each message's status: :func:`runner.providers.twilio.records.delivery_reports`."""
        return records.delivery_reports(self, provider_ids)

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
            request = client.build_request("POST", f"{self._account_path()}/Messages.json", data=form)
            response = send_bounded(client, request, self.timeout)
        except httpx.TransportError as exc:
            if nothing_sent(exc):
                raise RetryableError(
                    f"could not connect to Twilio ({type(exc).__name__}: {exc}); nothing was sent") from exc
            raise InDoubtError(
                f"the connection to Twilio failed after the message to {message.recipient} was sent "
                f"({type(exc).__name__}); Twilio may have accepted it"
            ) from exc
        request_id = response.headers.get("Twilio-Request-Id")
        if 200 <= response.status_code < 300:
            data = json_object(response)
            sid = data.get("sid") if data else None
            if isinstance(sid, str) and MESSAGE_SID_RE.match(sid):
                return RecipientResult(message.recipient, Outcome.SENT, provider_id=sid)
            return RecipientResult(
                message.recipient, Outcome.SENT, reason="accepted, but Twilio's answer carried no message SID"
            )
        code, text = error_fields(response)
        what = describe(response.status_code, code, text)
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
                retry_after=retry_after(response.headers),
                query_id=request_id,
            )
        if code == ERR_QUEUE_FULL:
            raise RetryableError(
                f"the sender's queue at Twilio is full ({what})",
                retry_after=retry_after(response.headers) or QUEUE_FULL_RETRY_AFTER,
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
        when = as_utc(not_before)
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
                timeout=timeouts(self.timeout),
                headers={"Accept": "application/json", "User-Agent": "smsrun"},
                follow_redirects=False,
            )
        return self._client
