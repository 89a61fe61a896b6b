"""What OVHcloud already has: reconciling an in-doubt batch, and a campaign's history (issue 11).

Both cost requests per batch or per campaign, never per recipient (the client allows 60 a minute):

**Reconciling one in-doubt batch** (its tag is unique per request attempt, ``job_tag``):

1. ``GET /outgoing?tag=T&creationDatetime.from=…``, asked in expanded mode (``team-scale.md`` §2: the
   headers OVHcloud's Manager sends). Expanded, the one answer holds every SMS of the batch with its
   receiver and id: the found recipients are SENT with their provider ids. Plain ids (the API ignored
   the headers): when there are exactly as many as the batch's recipients, the whole batch was
   accepted (SENT; the ids of each recipient are then unknown, and delivery reports for them are not
   matched); when there are some but fewer, each is read (``GET /outgoing/{id}``), the fallback.
2. When recipients are still missing: ``GET /jobs`` (expanded) — SMS that OVHcloud defers
   (``differedPeriod``, commercial SMS held outside 08:00–20:00) sit there, and jobs carry no tag, so
   they are matched on receiver, text and creation time. An empty list settles it in that one request.

So: 1 request when the batch was accepted, 2 when it was not (or was deferred) — 3 with the client's
one ``GET /auth/time`` of a new process. The reads go through :meth:`OvhClient.urgent`: they take the
rate limiter's next slot before the sends.

**A campaign's history** (the lost-ledger guard, :mod:`runner.send.history`): the SMS tagged for the
campaign — the tag of the campaign's first request is derivable (``first_tag``), and every tag starts
with the campaign's slug (an expanded listing filtered ``tag:like=<slug>-%`` since the schedule or 30
days; the bulk export when the listing is not expanded) — plus its deferred jobs, kept when receiver
and text are the plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from runner.providers.base import FIRST_RUN_ID, Outcome, OutgoingMessage, RecipientResult
from runner.providers.ovh import api
from runner.providers.ovh.client import OvhClient, OvhNotFoundError

FIRST_BATCH = f"{FIRST_RUN_ID}.1"  # the batch id suffix of a campaign's first request (runner.send.history)


def _matches_text(sms: api.OutgoingSms, message: OutgoingMessage, stop_mention: str | None) -> bool:
    return sms.message == message.text or (bool(stop_mention) and sms.message == message.text + str(stop_mention))


def reconcile_batch(
    client: OvhClient,
    service: str,
    *,
    tag: str,
    messages: Mapping[str, OutgoingMessage],  # number_key -> message
    start: datetime,
    key: Callable[[str], str],
    stop_mention: str | None,
) -> dict[str, RecipientResult]:
    """The recipients of one batch OVHcloud accepted (see the module docstring)."""
    found: dict[str, RecipientResult] = {}

    def take(sms: api.OutgoingSms, *, from_jobs: bool = False) -> None:
        message = messages.get(key(sms.receiver))
        if message is None or message.recipient in found:
            return
        if from_jobs and (not _matches_text(sms, message, stop_mention)
                          or (sms.created is not None and _aware(sms.created) < start)):
            return
        found[message.recipient] = RecipientResult(message.recipient, Outcome.SENT, provider_id=str(sms.id),
                                                    cost=sms.credits)

    with client.urgent():
        listing = api.list_outgoing_expanded(client, service, tag=tag, since=start)
        if listing.items is not None:
            for sms in listing.items:
                take(sms)
        elif len(listing.ids) == len(messages):  # as many SMS as receivers: all accepted, ids unpaired
            for message in messages.values():
                found[message.recipient] = RecipientResult(message.recipient, Outcome.SENT)
        elif listing.ids:  # a partial batch and no expanded listing: the bulk export, by tag
            for sms in api.export_outgoing(client, service, tag=tag, since=start):
                if sms.tag == tag:
                    take(sms)
        if len(found) < len(messages):
            jobs = api.list_jobs_expanded(client, service)
            if jobs.items is not None:
                for sms in jobs.items:
                    take(sms, from_jobs=True)
            else:
                for ident in sorted(jobs.ids):
                    try:
                        take(api.get_job(client, service, ident), from_jobs=True)
                    except OvhNotFoundError:
                        continue  # sent meanwhile: it moved to /outgoing, under the tag listed above
    return found


def campaign_history(
    client: OvhClient,
    service: str,
    *,
    first_tag: str,
    tag_prefix: str,
    wanted: Mapping[str, tuple[str, str]],  # number_key -> (recipient, text)
    since: datetime,
    key: Callable[[str], str],
    stop_mention: str | None,
) -> tuple[list[tuple[str, str, datetime | None]], int, bool]:
    """What OVHcloud holds for a campaign: ([(recipient, provider id, created)], SMS tagged with the
    campaign's first tag, complete) — ``complete`` is False when the listings were not expanded, so the
    per-recipient detail is unknown (only the count of the first request's SMS is)."""
    out: dict[str, tuple[str, str, datetime | None]] = {}

    def take(sms: api.OutgoingSms, *, check_text: bool) -> None:
        hit = wanted.get(key(sms.receiver))
        if hit is None or hit[0] in out:
            return
        if check_text and not _matches_text(sms, OutgoingMessage(hit[0], hit[1], ""), stop_mention):
            return
        out[hit[0]] = (hit[0], str(sms.id), sms.created)

    with client.urgent():
        first = api.list_outgoing(client, service, tag=first_tag, since=since)
        listing = api.list_outgoing_expanded(client, service, tag_prefix=tag_prefix, since=since)
        complete = True
        items = listing.items
        if items is None and (first or listing.ids):  # not expanded: the bulk export since then
            items = [sms for sms in api.export_outgoing(client, service, since=since)
                     if sms.tag.startswith(tag_prefix)]
        for sms in items or ():
            take(sms, check_text=True)  # another campaign may share the slug: its texts differ
        jobs = api.list_jobs_expanded(client, service)
        if jobs.items is not None:
            for sms in jobs.items:
                if sms.created is None or _aware(sms.created) >= since:
                    take(sms, check_text=True)
        elif jobs.ids:
            complete = False
    return list(out.values()), len(first), complete


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.astimezone()


def provider_ids(
    client: OvhClient,
    service: str,
    *,
    tags: Mapping[str, Mapping[str, str]],  # tag -> (number_key -> recipient)
    since: datetime,
    key: Callable[[str], str],
) -> dict[str, str]:
    """recipient -> OVHcloud id for SMS settled without one (a reconciled batch whose listing was not
    expanded): one expanded listing per tag, else one bulk export for all of them."""
    found: dict[str, str] = {}
    missing: list[str] = []
    with client.urgent():
        for tag, wanted in tags.items():
            listing = api.list_outgoing_expanded(client, service, tag=tag, since=since)
            if listing.items is None:
                missing.append(tag)
                continue
            for sms in listing.items:
                recipient = wanted.get(key(sms.receiver))
                if recipient is not None:
                    found.setdefault(recipient, str(sms.id))
        if missing:
            for sms in api.export_outgoing(client, service, since=since):
                recipient = tags[sms.tag].get(key(sms.receiver)) if sms.tag in missing else None
                if recipient is not None:
                    found.setdefault(recipient, str(sms.id))
    return found
