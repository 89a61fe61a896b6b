"""What Twilio's records tell: which messages of an in-doubt batch it created (reconcile), what it
already sent for a campaign (the lost-ledger guard) and delivery statuses — by listing and reading
messages. Functions of the provider (``self``), which delegates to them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from runner.campaign.model import Sender
from runner.errors import PermanentError, RetryableError
from runner.providers.base import DeliveryReport, Outcome, ProviderHistory, RecipientResult, SentTrace
from runner.providers.http import retry_after, send_bounded
from runner.providers.twilio.answers import (
    CLOCK_SLACK,
    MESSAGE_SID_RE,
    as_utc,
    describe,
    error_fields,
    json_object,
    parse_rfc2822,
)
from runner.providers.twilio.receiver import DELIVERY_STATUS

if TYPE_CHECKING:
    from runner.providers.base import Batch
    from runner.providers.twilio.provider import TwilioProvider


def reconcile(self: TwilioProvider, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
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
    start = as_utc(since) - CLOCK_SLACK
    items = recent_messages(self, client, from_, start)
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
        if wanted is None or not matches(item, wanted, start, from_, service):
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

def history(self: TwilioProvider, sender: Sender, wanted: Mapping[str, str], since: datetime) -> ProviderHistory | None:
    """The messages from the campaign's sender since ``since`` whose recipient and text are the
    plan's (the lost-ledger guard; Twilio has no campaign id or idempotency key to ask by)."""
    client = self._http()
    from_, service = self._sender_fields(sender)
    start = as_utc(since)
    before = self.list_requests
    items = recent_messages(self, client, from_, start, cache=False)
    if items is None:
        raise RetryableError(f"Twilio lists more than {self.max_pages} pages of messages since {start:%Y-%m-%d}")
    traces: dict[str, SentTrace] = {}
    for item in items:
        recipient = item.get("to")
        if not isinstance(recipient, str):
            continue
        text = wanted.get(recipient)
        if text is None or recipient in traces or not matches(item, {text}, start, from_, service):
            continue
        if item.get("status") == "canceled":
            continue
        sid = item.get("sid")
        traces[recipient] = SentTrace(recipient, sid if isinstance(sid, str) else None,
                                      parse_rfc2822(item.get("date_created")))
    found = list(traces.values())
    oldest = min((t.at for t in found if t.at), default=None)
    return ProviderHistory("Twilio", found, len(found), oldest, start, requests=self.list_requests - before)

def delivery_reports(self: TwilioProvider, provider_ids: Sequence[str]) -> list[DeliveryReport]:
    """Fetch each message's status (``GET Messages/{Sid}.json``); SIDs Twilio does not know are
    skipped."""
    client = self._http()
    reports: list[DeliveryReport] = []
    for sid in provider_ids:
        if not MESSAGE_SID_RE.match(sid):
            continue
        data = get_json(self,
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
                provider_id=sid, status=mapped, reason=reason, at=parse_rfc2822(data.get("date_updated"))
            )
        )
    return reports


def matches(
    item: Mapping[str, Any], wanted: set[str], start: datetime, from_: str | None, service: str | None
) -> bool:
    if not str(item.get("direction") or "").startswith("outbound"):
        return False
    if item.get("body") not in wanted:
        return False
    created = parse_rfc2822(item.get("date_created"))
    if created is None or created < start:
        return False
    if from_ is not None and item.get("from") not in (None, from_):
        return False
    return not (service is not None and item.get("messaging_service_sid") not in (None, service))


def recent_messages(self: TwilioProvider, client: httpx.Client, from_: str | None, start: datetime, *,
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
    items = list_messages(self, client, params, older_than=start)
    if items is not None and cache:
        self._recent = (start, taken, items)
    return items

def list_messages(self: TwilioProvider, client: httpx.Client, params: dict[str, str],
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
        page = get_json(self, client, url, query, missing_ok=False) or {}
        query = None  # next_page_uri carries the query
        self.list_requests += 1
        listed = page.get("messages")
        if isinstance(listed, list):
            fresh = [item for item in listed if isinstance(item, Mapping)]
            items += fresh
            if older_than is not None and fresh and all(
                    (parse_rfc2822(item.get("date_created")) or older_than) < older_than for item in fresh):
                return items
        nxt = page.get("next_page_uri")
        url = nxt if isinstance(nxt, str) and nxt else None
    return items if url is None else None

def get_json(self: TwilioProvider, client: httpx.Client, url: str, params: Mapping[str, str] | None, *,
             missing_ok: bool) -> dict[str, Any] | None:
    try:
        response = send_bounded(client, client.build_request("GET", url, params=params), self.timeout)
    except httpx.TransportError as exc:
        raise RetryableError(f"reading from Twilio failed ({type(exc).__name__})") from exc
    request_id = response.headers.get("Twilio-Request-Id")
    if response.status_code == 404 and missing_ok:
        return None
    if 200 <= response.status_code < 300:
        data = json_object(response)
        if data is None:
            raise RetryableError(
                "Twilio answered with something that is not a JSON object", query_id=request_id
            )
        return data
    code, text = error_fields(response)
    what = describe(response.status_code, code, text)
    if response.status_code >= 500:
        raise RetryableError(
            f"Twilio answered {what}", retry_after=retry_after(response.headers), query_id=request_id
        )
    self._raise_for_run(response, code, what, request_id)
    raise PermanentError(f"Twilio refused the request: {what}", query_id=request_id)
