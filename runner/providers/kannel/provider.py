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
    Outcome,
    OutgoingMessage,
    Provider,
    RecipientResult,
)
from runner.providers.http import nothing_sent, retry_after, send_bounded, send_requests, timeouts
from runner.providers.kannel.dlr import (
    dlr_template,
    kannel_quote,
)
from runner.providers.kannel.spec import (
    ENV_PASSWORD,
    ENV_USERNAME,
    PROVIDER,
    KannelSettings,
    capabilities,
    max_recipients,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
NOT_E164 = "not a valid E.164 number"

_ACCEPTED = re.compile(r"^\s*([03]):")


class KannelProvider(Provider):
    """Sends batches through Kannel's ``/cgi-bin/sendsms``; see the module docstring."""

    name = "kannel"
    spec = PROVIDER
    capabilities = capabilities(KannelSettings())
    options: KannelSettings

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        state_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, state_dir=state_dir)
        o = self.options  # typed and checked by the spec (types, bounds, unknown keys)
        url = o.url
        if url is None or not url.strip():
            raise ConfigError("provider kannel: settings.url is required (e.g. http://127.0.0.1:13013/cgi-bin/sendsms)")
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"provider kannel: settings.url must be an http(s) URL, got {url!r}")
        if parts.username or parts.password:
            raise ConfigError(
                f"provider kannel: settings.url must not carry credentials; use {ENV_USERNAME} and {ENV_PASSWORD}"
            )
        self.url = url.strip()

        short_code = o.short_code if o.short_code is not None else o.from_
        if short_code is not None and not short_code.strip():
            raise ConfigError("provider kannel: settings.short_code must be a non-empty string")
        self.short_code: str | None = None if short_code is None else short_code.strip()
        if self.short_code is not None and not (self.short_code.isascii() and self.short_code.isprintable()):
            raise ConfigError("provider kannel: settings.short_code must be printable ASCII")
        self.dlr_mask = o.dlr_mask
        self.timeout = o.timeout
        if o.smsc is not None and not o.smsc.strip():
            raise ConfigError("provider kannel: settings.smsc must be a non-empty string")
        self.smsc: str | None = o.smsc.strip() if o.smsc is not None else None
        self.dlr_template: str | None = dlr_template(o.dlr_url)
        self.max_recipients = max_recipients(o)  # 1 when the dlr_url names messages by id only
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
            self._client = httpx.Client(transport=self._transport, timeout=timeouts(self.timeout),
                                        follow_redirects=False)
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
                "message_id": kannel_quote(messages[0].message_id),
                "recipient": kannel_quote(messages[0].recipient),
            }
        else:
            values = {"message_id": "", "recipient": "%p"}
        values["batch_id"] = kannel_quote(batch.batch_id)
        values["campaign_id"] = kannel_quote(batch.campaign_id)
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

        def post(chunk: Sequence[OutgoingMessage]) -> list[RecipientResult]:
            outcome, reason = self._post(batch, chunk, username, password)
            return _each(chunk, outcome, reason)

        # a dropped request among several comes back IN_DOUBT (Kannel cannot reconcile), the rest RETRY
        return send_requests(requests, post, can_reconcile=False, before=results)

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
            client = self._http()
            request = client.build_request("POST", self.url, content=chunk[0].text.encode("utf-8"), headers=headers)
            response = send_bounded(client, request, self.timeout)
        except httpx.TransportError as exc:
            if nothing_sent(exc):
                raise RetryableError(f"Kannel is not reachable: {_describe(exc)}") from None
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
        raise RetryableError(f"Kannel is temporarily unavailable ({status} {body})",
                             retry_after=retry_after(response.headers))
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
