"""``provider: ovh``: sending through the OVHcloud SMS API (``POST /sms/{serviceName}/jobs``).

Settings (campaign ``provider.settings``), all optional:

``endpoint``            ovh-eu | ovh-ca | ovh-us | a base URL (default: ``OVH_ENDPOINT``, else ovh-eu)
``service_name``        the SMS account, ``sms-xx12345-1`` (default: ``OVH_SERVICE_NAME``, else the only
                        account the credentials see)
``batch_size``          recipients per request (default 500, the FAQ's advice)
``timeout``             seconds per HTTP request (default 30)
``requests_per_minute`` client-side limit per consumer key (default 60, OVHcloud's fair use)
``max_retries``         internal retries of read-only calls (default 4)
``priority``            high | medium | low | veryLow (default high, as the Manager sends)
``validity_period``     minutes before an undelivered SMS is dropped (default: OVHcloud's, 2880)
``stop_mention``        what OVHcloud appends to commercial SMS (default ``"\\nSTOP:36111"``)
``dlr_detail_limit``    failed SMS whose ptt reason is fetched per delivery-report call (default 20)
``reconcile_delay``     seconds :meth:`reconcile` waits after this process's own in-doubt request before
                        listing, so OVHcloud can finish a request our client stopped waiting for (default 5)

Credentials come only from ``OVH_APPLICATION_KEY``, ``OVH_APPLICATION_SECRET``, ``OVH_CONSUMER_KEY``.

Decisions:

* **Grouping.** One ``POST /jobs`` per distinct text of the batch (personalised messages), with the
  recipients of that text as ``receivers``.
* **Retries.** ``send`` never retries: 429/5xx/connect errors raise :class:`RetryableError` and the
  engine retries with its backoff; read timeouts and dropped connections after the request was sent
  raise :class:`InDoubtError` and the engine calls :meth:`reconcile`. When a batch needs several
  POSTs and a later one fails after an earlier one was accepted, nothing is raised (the engine would
  resend the accepted part): the failed recipients come back as RETRY / IN_DOUBT / REJECTED results.
  Reads (reconcile, delivery reports, preflight) retry inside the client.
* **Tag.** ``<up to 7 letters/digits of the campaign id>-<12 hex of sha256(campaign_id, batch_id)>``,
  at most 20 ASCII characters. The reference documents no limit for ``tag``; 20 is a conservative
  bound, and the hash keeps the tag unique per request attempt (a batch put back to pending is sent
  again under a new batch id) so :meth:`reconcile` finds exactly that request again, in one listing
  (:mod:`runner.providers.ovh.recovery`). The first request of a campaign's first run is batch
  ``<campaign>.1.1``: its tag is derivable, for the lost-ledger guard (:meth:`history`).
* **STOP.** With ``commercial: true`` we send ``noStopClause: false`` and OVHcloud appends
  ``"\\nSTOP:36111"`` (11 characters, the Manager's constant, §5.1) — declared as
  ``Capabilities.stop_mention`` so the planner reserves it and does not add its own mention.
  Non-commercial messages are sent with ``noStopClause: true``.
* **Ids.** ``ids[i]`` of the sending report is taken as the id of ``validReceivers[i]`` (same order,
  one id per receiver); the reference does not settle whether these are the ``/outgoing`` ids (§7.1).
  When the counts differ the recipients are SENT without a provider id.
* **Coding.** ``coding`` is deprecated and deduced by OVHcloud from the text; we still send ``7bit``
  for GSM-7 and ``8bit`` for UCS-2 batches (the only two values), with ``charset: UTF-8``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.campaign.model import Sender
from runner.errors import (
    ConfigError,
    InDoubtError,
    ProviderError,
    SmsrunError,
)
from runner.providers.base import (
    Batch,
    DeliveryReport,
    Outcome,
    OutgoingMessage,
    Provider,
    ProviderHistory,
    RecipientResult,
    SentTrace,
)
from runner.providers.http import send_requests
from runner.providers.ovh import api, reads, recovery
from runner.providers.ovh.client import (
    CREDENTIAL_VARIABLES,
    OvhClient,
    OvhNotFoundError,
    client_from_env,
    resolve_config,
)
from runner.providers.ovh.jobs import (
    RECONCILE_MARGIN,
    TAG_MAX,
    _aware,
    _ByKey,
    coding_for,
    differed_minutes,
    job_tag,
    number_key,
)
from runner.providers.ovh.spec import PROVIDER, STOP_MENTION, OvhSettings, capabilities


class OvhProvider(Provider):
    """The OVHcloud SMS provider (see the module docstring)."""

    name = "ovh"
    spec = PROVIDER
    capabilities = capabilities(OvhSettings())
    options: OvhSettings

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        state_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        client: OvhClient | None = None,
    ) -> None:
        super().__init__(settings, state_dir=state_dir)  # typed settings and capabilities (spec.py)
        self._env = env
        self.config = resolve_config(self.settings, env)  # validates endpoint; credentials not required yet
        self.priority: str = self.options.priority
        self.validity_period: int | None = self.options.validity_period
        self.dlr_detail_limit = self.options.dlr_detail_limit
        self.reconcile_delay = self.options.reconcile_delay
        self._in_doubt_at: dict[tuple[str, str], float] = {}  # (campaign, batch) -> monotonic time
        self._client = client
        self._service_name: str | None = self.config.service_name
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OvhProvider(endpoint={self.config.endpoint!r}, service_name={self._service_name!r})"

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def client(self) -> OvhClient:
        """The API client; :class:`ConfigError` naming the missing variable without credentials."""
        with self._lock:
            if self._client is None:
                self._client = client_from_env(self.settings, self._env)
            return self._client

    @property
    def service_name(self) -> str:
        client = self.client
        with self._lock:
            if self._service_name is None:
                self._service_name = api.find_service_name(client, None)
            return self._service_name

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def tag(self, batch: Batch) -> str:
        return job_tag(batch.campaign_id, batch.batch_id)

    def job_body(self, batch: Batch, text: str, receivers: Sequence[str]) -> dict[str, Any]:
        """The ``POST /jobs`` body for one text of a batch."""
        body: dict[str, Any] = {
            "message": text,
            "receivers": list(receivers),
            "charset": "UTF-8",
            "coding": coding_for(batch.encoding),
            "noStopClause": not batch.commercial,
            "priority": self.priority,
            "tag": self.tag(batch),
        }
        sender = batch.sender
        if sender.kind == "short-code":
            body["senderForResponse"] = True
        else:
            if not sender.value:
                raise ConfigError(f"a {sender.kind} sender needs a value")
            body["sender"] = sender.value
        differed = differed_minutes(batch.not_before)
        if differed:
            body["differedPeriod"] = differed
        if self.validity_period is not None:
            body["validityPeriod"] = self.validity_period
        return body

    # -- send --------------------------------------------------------------------------------------

    def send(self, batch: Batch) -> list[RecipientResult]:
        groups: dict[str, list[OutgoingMessage]] = {}
        for message in batch.messages:
            groups.setdefault(message.text, []).append(message)
        if not groups:
            return []
        client, service = self.client, self.service_name

        def post(messages: Sequence[OutgoingMessage]) -> list[RecipientResult]:
            body = self.job_body(batch, messages[0].text, [m.recipient for m in messages])
            try:
                return self._map_report(api.post_job(client, service, body), messages)
            except OvhNotFoundError as exc:
                raise ConfigError(
                    f"OVHcloud SMS account {service!r} not found ({exc.message}); check the provider "
                    "setting service_name or OVH_SERVICE_NAME"
                ) from exc
            except InDoubtError:
                self._in_doubt_at[(batch.campaign_id, batch.batch_id)] = time.monotonic()
                raise

        # one POST /jobs per text; accepted requests are never reported as unsent (runner.providers.http)
        return send_requests(list(groups.values()), post, can_reconcile=True)

    @staticmethod
    def _map_report(report: api.SendingReport, messages: Sequence[OutgoingMessage]) -> list[RecipientResult]:
        paired = len(report.ids) == len(report.valid_receivers)
        if paired and report.valid_receivers == [m.recipient for m in messages]:
            # every receiver accepted and echoed as sent (the usual answer): the i-th id is the i-th message's,
            # as the general pairing below would find, without a key per number
            share = report.total_credits_removed / len(messages) if messages else None
            return [RecipientResult(m.recipient, Outcome.SENT, provider_id=str(ident), cost=share)
                    for m, ident in zip(messages, report.ids, strict=True)]
        ids_by_number: dict[str, list[int | None]] = {}
        for position, receiver in enumerate(report.valid_receivers):
            ids_by_number.setdefault(number_key(receiver), []).append(report.ids[position] if paired else None)
        invalid = {number_key(r) for r in report.invalid_receivers}
        share = report.total_credits_removed / len(report.valid_receivers) if report.valid_receivers else None
        out: list[RecipientResult] = []
        for message in messages:
            key = number_key(message.recipient)
            queue = ids_by_number.get(key)
            if queue:
                ident = queue.pop(0)
                out.append(
                    RecipientResult(
                        message.recipient,
                        Outcome.SENT,
                        provider_id=str(ident) if ident is not None else None,
                        cost=share,
                    )
                )
            elif key in invalid:
                out.append(RecipientResult(message.recipient, Outcome.REJECTED, reason="invalid receiver (OVHcloud)"))
            else:
                out.append(
                    RecipientResult(
                        message.recipient, Outcome.IN_DOUBT, reason="missing from OVHcloud's sending report"
                    )
                )
        return out

    # -- reconcile ---------------------------------------------------------------------------------

    def reconcile(self, batch: Batch, since: datetime) -> dict[str, RecipientResult] | None:
        """Which recipients of an in-doubt batch OVHcloud accepted, found by the batch's tag in one or
        two requests (:func:`runner.providers.ovh.recovery.reconcile_batch`). When this process saw the
        batch's request end in doubt, it first waits until ``reconcile_delay`` seconds have passed since
        then. Returns None when the listing fails."""
        doubted = self._in_doubt_at.pop((batch.campaign_id, batch.batch_id), None)
        if doubted is not None:
            time.sleep(max(0.0, doubted + self.reconcile_delay - time.monotonic()))
        wanted: dict[str, OutgoingMessage] = {number_key(m.recipient): m for m in batch.messages}
        try:
            client, service = self.client, self.service_name
            # ``since`` is our clock; OVHcloud filters on its own: shift by the offset, minus a margin.
            with client.urgent():
                start = _aware(since) + timedelta(seconds=client.time_delta()) - RECONCILE_MARGIN
            return recovery.reconcile_batch(client, service, tag=self.tag(batch), messages=wanted, start=start,
                                            key=number_key, stop_mention=self.capabilities.stop_mention)
        except (ProviderError, SmsrunError):
            return None

    def history(self, campaign_id: str, sender: Sender, wanted: Mapping[str, str],
                since: datetime) -> ProviderHistory | None:
        """What OVHcloud holds for this campaign: the SMS tagged with its first request's tag, those whose
        tag starts with its slug (kept when receiver and text are the plan's), and its deferred jobs
        (:func:`runner.providers.ovh.recovery.campaign_history`; 3 requests, plus ``/auth/time``)."""
        client, service = self.client, self.service_name
        keyed = _ByKey(wanted)  # issue 14: no second dict of every recipient
        mark = client.requests_sent
        with client.urgent():
            start = _aware(since) + timedelta(seconds=client.time_delta()) - RECONCILE_MARGIN
        first_tag = job_tag(campaign_id, f"{campaign_id}.{recovery.FIRST_BATCH}")
        prefix = job_tag(campaign_id, "").split("-")[0] + "-"
        found, first_count, complete = recovery.campaign_history(
            client, service, first_tag=first_tag, tag_prefix=prefix, wanted=keyed, since=start, key=number_key,
            stop_mention=self.capabilities.stop_mention)
        traces = [SentTrace(recipient, ident, at) for recipient, ident, at in found]
        oldest = min((_aware(t.at) for t in traces if t.at), default=None)
        return ProviderHistory("OVHcloud", traces, max(len(traces), first_count), oldest, since,
                               complete=complete, requests=client.requests_sent - mark)

    def provider_ids(self, campaign_id: str, batches: Mapping[str, Sequence[str]], since: datetime) -> dict[str, str]:
        """The ids of SMS reconciled without one, by their batches' tags, in bulk
        (:func:`runner.providers.ovh.recovery.provider_ids`)."""
        client, service = self.client, self.service_name
        with client.urgent():
            start = _aware(since) + timedelta(seconds=client.time_delta()) - RECONCILE_MARGIN
        tags = {job_tag(campaign_id, batch_id): {number_key(r): r for r in recipients}
                for batch_id, recipients in batches.items()}
        return recovery.provider_ids(client, service, tags=tags, since=start, key=number_key)

    # -- preflight and delivery reports (runner.providers.ovh.reads) --------------------------------

    def preflight(self, *, sender: Sender, total_parts: int) -> list[str]:
        """Read-only checks: see :func:`runner.providers.ovh.reads.preflight`."""
        return reads.preflight(self, sender=sender, total_parts=total_parts)

    def delivery_reports(self, provider_ids: Sequence[str]) -> list[DeliveryReport]:
        """Statuses of earlier SMS: see :func:`runner.providers.ovh.reads.delivery_reports`."""
        return reads.delivery_reports(self, provider_ids)


__all__ = ["CREDENTIAL_VARIABLES", "STOP_MENTION", "TAG_MAX", "OvhProvider", "coding_for", "differed_minutes",
           "job_tag", "number_key"]
