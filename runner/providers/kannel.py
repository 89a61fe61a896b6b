"""``provider: kannel``: send through a Kannel smsbox's sendsms HTTP interface.

Settings (``provider.settings`` in the campaign):

``url`` (required)
    the smsbox sendsms URL, e.g. ``http://127.0.0.1:13013/cgi-bin/sendsms``.
``short_code`` (or ``from``)
    the sender used for ``sender: short-code``; when absent Kannel's ``global-sender`` (or the
    sendsms-user's ``default-sender``) applies. Alphanumeric and number senders send their own value.
``dlr_url``
    where Kannel reports deliveries (HTTP GET). Either a plain URL, to which the provider appends
    :data:`STANDARD_DLR_QUERY` (``id``, ``batch``, ``to``, ``status``, ``answer``, ``ts``; read it back
    with :func:`parse_dlr`), or a template with placeholders ``{message_id}``, ``{batch_id}``,
    ``{campaign_id}``, ``{recipient}`` (``<message_id>`` is accepted too) and Kannel escapes such as
    ``%d`` (status), ``%A`` (SMSC answer), ``%T`` (time), ``%p`` (handset).
    Placeholder values are URL-encoded and their ``%`` doubled (Kannel turns ``%%`` back into ``%``), so
    any id survives Kannel's escape expansion.
``dlr_mask``
    Kannel's dlr-mask when ``dlr_url`` is set (default 31: delivered, undelivered, buffered, SMSC
    submit, SMSC reject).
``max_recipients_per_request``
    recipients sharing one request when they get the same text (default 100).
``smsc``
    route through this smsc-id (``X-Kannel-SMSC``), optional.
``timeout``
    seconds to wait for Kannel's answer (default 30); after that the request is *in doubt*.

Credentials come from the environment only: ``KANNEL_USERNAME`` and ``KANNEL_PASSWORD`` (a
``sendsms-user`` of smsbox). They travel in ``X-Kannel-Username``/``X-Kannel-Password`` headers, never in
a URL, message or log.

**Requests.** POST ``text/plain; charset=UTF-8`` with the text as body and ``X-Kannel-*`` headers
(to, from, coding: 0 for GSM-7, 2 for UCS-2, dlr-mask, dlr-url): this keeps the password out of URLs
and has no URL length limit (a GET with 1,000 recipients is 14 KB of URL; httpx refuses URLs over
64 KB). Messages with the same text go in one request, recipients separated by spaces.

**Which message a delivery report is about.** A request with one recipient fills ``{message_id}``
with smsrun's message id. When several recipients share a request, one dlr-url serves them all, so
``{message_id}`` is empty and the message is identified by ``{batch_id}`` plus ``{recipient}``, which
the provider writes as Kannel's ``%p`` (Kannel expands it to each handset's number, as sent: E.164 with
``+``). A template that has ``{message_id}`` but not both ``{batch_id}`` and ``{recipient}`` therefore
makes the provider send one message per request. The plain-URL form always identifies both ways.

Results carry no ``provider_id``: Kannel assigns none when it accepts a message (its SMSC's id only
shows up in delivery reports as ``%F``); reports are matched by message id, or batch id + recipient.

**Answers** (``Kannel/1.4.5``): 202 ``0: Accepted for delivery`` and 202 ``3: Queued for later
delivery`` mean sent; 403 ``Authorization failed for sendsms`` → :class:`CredentialsError`; 400 with a
reason (black/white-listed number, misformed field) → rejected with that reason; 503 → retry; 404 (not
a sendsms URL) → :class:`ConfigError`; no answer in time or a dropped connection after the request was
written → in doubt; connection refused → retry.

**Caveats.**
* Inside a multi-recipient request Kannel *silently drops* numbers it refuses (bad characters, its
  black/white lists) and still answers 202. Recipients that do not look like E.164
  (``^\\+[1-9]\\d{6,14}$``) are therefore rejected here and never sent; numbers refused by Kannel's own
  lists can only be seen with ``max_recipients_per_request: 1`` (then Kannel answers 400).
* Kannel cannot say after a crash what it accepted (``can_reconcile=False``): in-doubt messages must be
  reported, not guessed.
* Kannel appends no opt-out (STOP) mention (``stop_mention=None``).
* A text needing more parts than the sendsms-user's ``max-messages`` is silently cut by Kannel: keep
  ``max-messages`` at least the campaign's ``limits.max_parts``.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.campaign.model import Sender
from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    ProviderError,
    RetryableError,
)
from runner.providers.base import (
    Batch,
    Capabilities,
    Outcome,
    OutgoingMessage,
    Provider,
    ProviderInfo,
    RecipientResult,
)

ENV_USERNAME = "KANNEL_USERNAME"
ENV_PASSWORD = "KANNEL_PASSWORD"

INFO = ProviderInfo(
    name="kannel",
    description="Kannel smsbox sendsms HTTP interface (self-hosted SMS gateway)",
    env=[ENV_USERNAME, ENV_PASSWORD],
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
NOT_E164 = "not a valid E.164 number"

DEFAULT_MAX_RECIPIENTS = 100
DEFAULT_DLR_MASK = 31
DEFAULT_TIMEOUT = 30.0

PLACEHOLDERS = ("message_id", "batch_id", "campaign_id", "recipient")
_ANGLE_PLACEHOLDER = re.compile(r"<(" + "|".join(PLACEHOLDERS) + r")>")

#: Query the provider appends to a plain ``dlr_url`` (Kannel escapes: %d status, %A SMSC answer,
#: %T time); :func:`parse_dlr` reads it back.
STANDARD_DLR_QUERY = "id={message_id}&batch={batch_id}&to={recipient}&status=%d&answer=%A&ts=%T"

#: Kannel's delivery report types (``%d``), and what they mean for smsrun.
DLR_TYPES: dict[int, tuple[str, str]] = {
    1: ("delivered", "delivered to the handset"),
    2: ("failed", "undelivered"),
    4: ("pending", "buffered by the SMSC"),
    8: ("pending", "accepted by the SMSC"),
    16: ("failed", "rejected by the SMSC"),
}

_ACCEPTED = re.compile(r"^\s*([03]):")


class KannelProvider(Provider):
    """Sends batches through Kannel's ``/cgi-bin/sendsms``; see the module docstring."""

    name = "kannel"

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        state_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, state_dir=state_dir)
        s = self.settings
        url = s.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("provider kannel: settings.url is required (e.g. http://127.0.0.1:13013/cgi-bin/sendsms)")
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"provider kannel: settings.url must be an http(s) URL, got {url!r}")
        if parts.username or parts.password:
            raise ConfigError(
                f"provider kannel: settings.url must not carry credentials; use {ENV_USERNAME} and {ENV_PASSWORD}"
            )
        self.url = url.strip()

        short_code = s.get("short_code", s.get("from"))
        if short_code is not None and (not isinstance(short_code, (str, int)) or not str(short_code).strip()):
            raise ConfigError("provider kannel: settings.short_code must be a non-empty string")
        self.short_code: str | None = None if short_code is None else str(short_code).strip()
        if self.short_code is not None and not (self.short_code.isascii() and self.short_code.isprintable()):
            raise ConfigError("provider kannel: settings.short_code must be printable ASCII")

        self.max_recipients = _positive_int(s, "max_recipients_per_request", DEFAULT_MAX_RECIPIENTS)
        self.dlr_mask = _positive_int(s, "dlr_mask", DEFAULT_DLR_MASK)
        if self.dlr_mask > 31:
            raise ConfigError("provider kannel: settings.dlr_mask must be between 1 and 31")
        timeout = s.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.1 <= timeout <= 3600:
            raise ConfigError("provider kannel: settings.timeout must be a number of seconds from 0.1 to 3600")
        self.timeout = float(timeout)
        smsc = s.get("smsc")
        if smsc is not None and (not isinstance(smsc, str) or not smsc.strip()):
            raise ConfigError("provider kannel: settings.smsc must be a non-empty string")
        self.smsc: str | None = smsc.strip() if isinstance(smsc, str) else None

        self.dlr_template: str | None = _dlr_template(s.get("dlr_url"))
        shared_dlr_ok = self.dlr_template is None or (
            "{batch_id}" in self.dlr_template and "{recipient}" in self.dlr_template
        )
        if not shared_dlr_ok:
            self.max_recipients = 1  # only {message_id} identifies a message: one per request
        self.capabilities = Capabilities(
            max_recipients_per_request=self.max_recipients,
            one_text_many_recipients=self.max_recipients > 1,
            stop_mention=None,
            can_reconcile=False,
        )
        self._transport = transport
        self._client: httpx.Client | None = None

    # -- helpers ------------------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str]:
        values = []
        for var in (ENV_USERNAME, ENV_PASSWORD):
            value = os.environ.get(var, "")
            if not value:
                raise ConfigError(f"provider kannel: environment variable {var} is not set")
            values.append(value)
        return values[0], values[1]

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, timeout=self.timeout, follow_redirects=False)
        return self._client

    def _sender(self, batch: Batch) -> str | None:
        if batch.sender.kind == "short-code":
            return self.short_code
        return batch.sender.value

    def dlr_url_for(self, batch: Batch, messages: Sequence[OutgoingMessage]) -> str | None:
        """The dlr-url of one request (None when no ``dlr_url`` is configured)."""
        if self.dlr_template is None:
            return None
        if len(messages) == 1:
            values = {
                "message_id": _kannel_quote(messages[0].message_id),
                "recipient": _kannel_quote(messages[0].recipient),
            }
        else:
            values = {"message_id": "", "recipient": "%p"}
        values["batch_id"] = _kannel_quote(batch.batch_id)
        values["campaign_id"] = _kannel_quote(batch.campaign_id)
        url = self.dlr_template
        for key, value in values.items():
            url = url.replace("{" + key + "}", value)
        return url

    def requests_for(self, messages: Sequence[OutgoingMessage]) -> list[list[OutgoingMessage]]:
        """Group messages into requests: same text together (first-seen order), at most
        ``max_recipients_per_request`` each."""
        by_text: dict[str, list[OutgoingMessage]] = {}
        for msg in messages:
            by_text.setdefault(msg.text, []).append(msg)
        out: list[list[OutgoingMessage]] = []
        for group in by_text.values():
            for i in range(0, len(group), self.max_recipients):
                out.append(group[i : i + self.max_recipients])
        return out

    # -- sending ------------------------------------------------------------------------------------

    def send(self, batch: Batch) -> list[RecipientResult]:
        results: list[RecipientResult] = []
        valid: list[OutgoingMessage] = []
        for msg in batch.messages:
            if E164.match(msg.recipient):
                valid.append(msg)
            else:
                results.append(RecipientResult(msg.recipient, Outcome.REJECTED, reason=NOT_E164))
        if not valid:
            return results
        if batch.encoding not in ("GSM-7", "UCS-2"):
            raise ConfigError(f"provider kannel: unknown encoding {batch.encoding!r} (GSM-7 or UCS-2)")
        username, password = self._credentials()
        requests = self.requests_for(valid)
        whole_batch = len(requests) == 1 and not results
        for index, chunk in enumerate(requests):
            try:
                outcome, reason = self._post(batch, chunk, username, password)
            except (RetryableError, CredentialsError, ConfigError) as exc:
                if index == 0:
                    raise  # nothing of this batch was accepted: the whole batch failed
                results.extend(_each(chunk, Outcome.RETRY, _reason(exc)))
                for rest in requests[index + 1 :]:
                    results.extend(_each(rest, Outcome.RETRY, "not sent: an earlier request failed"))
                return results
            except InDoubtError as exc:
                if whole_batch:
                    raise
                results.extend(_each(chunk, Outcome.IN_DOUBT, _reason(exc)))
                for rest in requests[index + 1 :]:
                    results.extend(_each(rest, Outcome.RETRY, "not sent: an earlier request is in doubt"))
                return results
            except PermanentError as exc:
                if whole_batch:
                    raise
                results.extend(_each(chunk, Outcome.REJECTED, _reason(exc)))
                continue
            results.extend(_each(chunk, outcome, reason))
        return results

    def _post(
        self, batch: Batch, chunk: Sequence[OutgoingMessage], username: str, password: str
    ) -> tuple[Outcome, str | None]:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-Kannel-Username": username,
            "X-Kannel-Password": password,
            "X-Kannel-To": " ".join(m.recipient for m in chunk),
            "X-Kannel-Coding": "2" if batch.encoding == "UCS-2" else "0",
        }
        sender = self._sender(batch)
        if sender:
            headers["X-Kannel-From"] = sender
        if self.smsc:
            headers["X-Kannel-SMSC"] = self.smsc
        dlr_url = self.dlr_url_for(batch, chunk)
        if dlr_url:
            headers["X-Kannel-DLR-Mask"] = str(self.dlr_mask)
            headers["X-Kannel-DLR-Url"] = dlr_url
        try:
            response = self._http().post(self.url, content=chunk[0].text.encode("utf-8"), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(f"Kannel is not reachable: {_describe(exc)}") from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise InDoubtError(
                f"no answer from Kannel after the request was sent ({_describe(exc)}); "
                "the messages may have been accepted"
            ) from None
        return _classify(response)

    def preflight(self, *, sender: Sender, total_parts: int) -> list[str]:
        missing = [var for var in (ENV_USERNAME, ENV_PASSWORD) if not os.environ.get(var)]
        warnings = [f"provider kannel: environment variable {var} is not set" for var in missing]
        if sender.kind == "short-code" and self.short_code is None:
            warnings.append("provider kannel: no settings.short_code; Kannel's global-sender will be used")
        return warnings

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# --------------------------------------------------------------------------------------------------


def _classify(response: httpx.Response) -> tuple[Outcome, str | None]:
    """Map one sendsms answer to SENT (with a note) or raise the classified error."""
    body = _short(response.text)
    status = response.status_code
    if status == 202:
        m = _ACCEPTED.match(body)
        if m is None or m.group(1) == "0":
            return Outcome.SENT, None
        return Outcome.SENT, body  # "3: Queued for later delivery"
    if status in (401, 403):
        raise CredentialsError(
            f"Kannel refused the credentials ({status} {body}); check {ENV_USERNAME} and {ENV_PASSWORD}"
        )
    if status == 404 or 300 <= status < 400:
        raise ConfigError(f"provider kannel: settings.url is not a sendsms URL ({status} {body})")
    if status in (429, 503):
        raise RetryableError(f"Kannel is temporarily unavailable ({status} {body})", retry_after=_retry_after(response))
    if 400 <= status < 500:
        raise PermanentError(f"Kannel rejected the request: {body or status}")
    raise InDoubtError(f"unexpected answer from Kannel ({status} {body}); the messages may have been accepted")


def _each(chunk: Sequence[OutgoingMessage], outcome: Outcome, reason: str | None) -> list[RecipientResult]:
    return [RecipientResult(m.recipient, outcome, reason=reason) for m in chunk]


def _reason(exc: ProviderError | ConfigError) -> str:
    return exc.message


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _describe(exc: httpx.HTTPError) -> str:
    # httpx's messages do not include the request URL or headers; keep only the class and the text.
    detail = str(exc) or "no detail"
    return f"{type(exc).__name__}: {_short(detail, 120)}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _positive_int(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"provider kannel: settings.{key} must be a positive integer")
    return value


def _kannel_quote(value: str) -> str:
    """URL-encode ``value`` for a dlr-url and double its ``%`` so Kannel's escape expansion leaves it."""
    return urllib.parse.quote(value, safe="").replace("%", "%%")


def _dlr_template(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("provider kannel: settings.dlr_url must be a URL")
    url = _ANGLE_PLACEHOLDER.sub(r"{\1}", value.strip())
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"provider kannel: settings.dlr_url must be an http(s) URL, got {value!r}")
    unknown = set(re.findall(r"\{([^{}]*)\}", url)) - set(PLACEHOLDERS)
    if unknown:
        raise ConfigError(
            f"provider kannel: settings.dlr_url has unknown placeholder(s) "
            f"{', '.join(sorted(unknown))} (known: {', '.join(PLACEHOLDERS)})"
        )
    if not any("{" + p + "}" in url for p in PLACEHOLDERS):
        url += ("&" if parts.query else ("" if url.endswith("?") else "?")) + STANDARD_DLR_QUERY
    elif "{message_id}" not in url and not ("{batch_id}" in url and "{recipient}" in url):
        raise ConfigError(
            "provider kannel: settings.dlr_url must contain {message_id}, or {batch_id} and "
            "{recipient}, so that a delivery report tells which message it is about"
        )
    return url


@dataclass(frozen=True)
class KannelDlr:
    """A delivery report as Kannel calls the standard dlr-url (see :func:`parse_dlr`)."""

    message_id: str | None  # smsrun's message id (requests with one recipient)
    batch_id: str | None
    recipient: str | None  # E.164, the handset (Kannel's %p)
    kannel_type: int  # Kannel's %d: 1, 2, 4, 8, 16
    status: str  # delivered | failed | pending
    reason: str | None  # what the type means, plus the SMSC's answer (%A) when there is one
    timestamp: int | None


def parse_dlr(query: Mapping[str, str]) -> KannelDlr:
    """Read a delivery report sent to a plain ``dlr_url`` (query :data:`STANDARD_DLR_QUERY`, already
    URL-decoded). The message is ``message_id`` when present, otherwise (``batch_id``, ``recipient``).
    Raises ValueError when the report cannot identify a message or has no valid status."""
    message_id = query.get("id") or None
    batch_id = query.get("batch") or None
    recipient = (query.get("to") or "").strip() or None
    if recipient is not None and not recipient.startswith("+") and recipient.isdigit():
        recipient = "+" + recipient  # a '+' sent unencoded in a query reads back as a space
    if message_id is None and (batch_id is None or recipient is None):
        raise ValueError("delivery report names no message (needs id, or batch and to)")
    try:
        kannel_type = int(query.get("status", ""))
    except ValueError:
        raise ValueError(f"delivery report has no valid status: {query.get('status')!r}") from None
    status, meaning = DLR_TYPES.get(kannel_type, ("pending", f"unknown Kannel report type {kannel_type}"))
    answer = (query.get("answer") or "").strip()
    ts_text = query.get("ts") or ""
    return KannelDlr(
        message_id=message_id,
        batch_id=batch_id,
        recipient=recipient,
        kannel_type=kannel_type,
        status=status,
        reason=f"{meaning}: {answer}" if answer else meaning,
        timestamp=int(ts_text) if ts_text.isdigit() else None,
    )
