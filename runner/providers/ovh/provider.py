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

import hashlib
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from runner.campaign.model import Sender
from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    ProviderError,
    RetryableError,
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
from runner.providers.ovh import api, recovery
from runner.providers.ovh.client import (
    CREDENTIAL_VARIABLES,
    OvhClient,
    OvhNotFoundError,
    client_from_env,
    resolve_config,
)
from runner.providers.ovh.spec import PROVIDER, STOP_MENTION, OvhSettings, capabilities

TAG_MAX: Final = 20
RECONCILE_MARGIN: Final = timedelta(minutes=10)  # our clock vs OVHcloud's, for creationDatetime.from


def job_tag(campaign_id: str, batch_id: str) -> str:
    """The ``tag`` of every SMS of one batch (see the module docstring)."""
    slug = re.sub(r"[^A-Za-z0-9]", "", campaign_id)[:7] or "smsrun"
    digest = hashlib.sha256(f"{campaign_id}\n{batch_id}".encode()).hexdigest()[:12]
    tag = f"{slug}-{digest}"
    assert len(tag) <= TAG_MAX
    return tag


def number_key(number: str) -> str:
    """Compare numbers whatever their spelling: digits only, ``00`` international prefix dropped."""
    digits = number[1:]
    if number[:1] != "+" or not digits.isdecimal():  # isdecimal() is exactly \d: a clean E.164 needs no regex
        digits = re.sub(r"\D", "", number)
    return digits[2:] if digits.startswith("00") else digits


class _ByKey(Mapping[str, tuple[str, str]]):
    """``{number_key(recipient): (recipient, text)}`` of canonical E.164 recipients, looked up lazily: the
    key of ``+33612345678`` is ``33612345678``; a recipient written otherwise is found through a dict
    built on the first miss (issue 14: a plan of millions does not copy its recipients to ask)."""

    def __init__(self, wanted: Mapping[str, str]) -> None:
        self.wanted = wanted
        self._others: dict[str, tuple[str, str]] | None = None

    def __getitem__(self, key: str) -> tuple[str, str]:
        recipient = "+" + key
        text = self.wanted.get(recipient)
        if text is not None and number_key(recipient) == key:
            return recipient, text
        if self._others is None:
            self._others = {number_key(r): (r, t) for r, t in self.wanted.items() if number_key(r) != r[1:]}
        return self._others[key]

    def __iter__(self) -> Iterator[str]:
        return (number_key(recipient) for recipient in self.wanted)

    def __len__(self) -> int:
        return len(self.wanted)


def coding_for(encoding: str) -> str:
    return "8bit" if encoding.upper().replace("-", "") in ("UCS2", "UTF16", "UNICODE") else "7bit"


def differed_minutes(not_before: datetime | None, now: datetime | None = None) -> int | None:
    """Whole minutes (rounded up) from now to ``not_before``; None when not in the future."""
    if not_before is None:
        return None
    if now is None:
        now = datetime.now(UTC) if not_before.tzinfo else datetime.now()
    seconds = (not_before - now).total_seconds()
    if seconds <= 0:
        return None
    return max(1, math.ceil(seconds / 60))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.astimezone()


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

        results: list[RecipientResult] = []
        accepted = False
        first_permanent: PermanentError | None = None
        pending = list(groups.items())
        for index, (text, messages) in enumerate(pending):
            body = self.job_body(batch, text, [m.recipient for m in messages])
            try:
                report = api.post_job(client, service, body)
            except PermanentError as exc:
                first_permanent = first_permanent or exc
                results.extend(RecipientResult(m.recipient, Outcome.REJECTED, reason=exc.message) for m in messages)
                continue
            except OvhNotFoundError as exc:
                raise ConfigError(
                    f"OVHcloud SMS account {service!r} not found ({exc.message}); check the provider "
                    "setting service_name or OVH_SERVICE_NAME"
                ) from exc
            except (RetryableError, InDoubtError, CredentialsError) as exc:
                if isinstance(exc, InDoubtError):
                    self._in_doubt_at[(batch.campaign_id, batch.batch_id)] = time.monotonic()
                if not accepted:
                    raise  # nothing was accepted (or only rejected): the whole batch can be retried
                outcome = Outcome.IN_DOUBT if isinstance(exc, InDoubtError) else Outcome.RETRY
                results.extend(RecipientResult(m.recipient, outcome, reason=exc.message) for m in messages)
                for _, rest in pending[index + 1 :]:
                    results.extend(
                        RecipientResult(m.recipient, Outcome.RETRY, reason="not sent: an earlier request failed")
                        for m in rest
                    )
                return results
            accepted = True
            results.extend(self._map_report(report, messages))
        if not accepted and first_permanent is not None and len(groups) == 1:
            raise first_permanent
        return results

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

    # -- preflight ---------------------------------------------------------------------------------

    def preflight(self, *, sender: Sender, total_parts: int) -> list[str]:
        """Read-only checks. Returns warnings; raises :class:`ConfigError` (account or sender missing or
        not enabled) or :class:`CredentialsError` (credentials refused) for what would make the send
        fail."""
        if not self.config.has_credentials:
            return [
                f"OVHcloud credentials are not set ({', '.join(self.config.missing)}): the sender, the "
                "account and its credits were not checked"
            ]
        warnings: list[str] = []
        try:
            client = self.client
            try:
                service = self.service_name
                account = api.get_account(client, service)
            except OvhNotFoundError as exc:
                raise ConfigError(
                    f"OVHcloud SMS account {self._service_name!r} not found ({exc.message}); check the "
                    "provider setting service_name or OVH_SERVICE_NAME"
                ) from exc
            if account.status and account.status != "enable":
                raise ConfigError(f"OVHcloud SMS account {service} is {account.status!r}, not enabled")
            if sender.kind == "short-code":
                pass  # no sender to check: the short number belongs to the account (France only)
            elif sender.value:
                try:
                    info = api.get_sender(client, service, sender.value)
                except OvhNotFoundError as exc:
                    raise ConfigError(
                        f"sender {sender.value!r} is not registered on OVHcloud account {service} "
                        f"(POST /sms/{service}/senders, then wait for validation)"
                    ) from exc
                if not info.enabled:
                    detail = f": {info.comment}" if info.comment else ""
                    raise ConfigError(
                        f"sender {sender.value!r} on OVHcloud account {service} is {info.status!r}, "
                        f"not 'enable'{detail}"
                    )
            if account.credits_left < total_parts:
                warnings.append(
                    f"OVHcloud account {service} has {account.credits_left:g} credits left; this campaign "
                    f"needs about {total_parts} (1 credit per part to France, more abroad)"
                )
        except RetryableError as exc:
            warnings.append(f"could not check the OVHcloud account: {exc.message}")
        return warnings

    # -- delivery reports --------------------------------------------------------------------------

    def delivery_reports(self, provider_ids: Sequence[str]) -> list[DeliveryReport]:
        """Statuses of earlier SMS. Up to 3 ids are read one by one; beyond, three filtered listings
        (``deliveryReceipt`` 1, 2 and 16) answer for all, and only failed SMS are read individually
        (at most ``dlr_detail_limit``) to learn their ``ptt`` reason. Unknown ids are ``pending``."""
        wanted: dict[int, str] = {}
        for raw in provider_ids:
            try:
                wanted[int(raw)] = raw
            except (TypeError, ValueError):
                continue
        if not wanted:
            return []
        client, service = self.client, self.service_name
        if len(wanted) <= 3:
            return [self._report_one(client, service, ident, raw) for ident, raw in wanted.items()]

        delivered: set[int] = set()
        for receipt in api.DELIVERED_RECEIPTS:
            delivered.update(api.list_outgoing(client, service, delivery_receipt=receipt))
        failed: set[int] = set()
        for receipt in api.FAILED_RECEIPTS:
            failed.update(api.list_outgoing(client, service, delivery_receipt=receipt))
        reports: list[DeliveryReport] = []
        details_left = self.dlr_detail_limit
        for ident, raw in wanted.items():
            if ident in delivered:
                reports.append(DeliveryReport(raw, "delivered"))
            elif ident in failed:
                if details_left > 0:
                    details_left -= 1
                    reports.append(self._report_one(client, service, ident, raw))
                else:
                    reports.append(DeliveryReport(raw, "failed"))
            else:
                reports.append(DeliveryReport(raw, "pending"))
        return reports

    @staticmethod
    def _report_one(client: OvhClient, service: str, ident: int, raw: str) -> DeliveryReport:
        try:
            sms = api.get_outgoing(client, service, ident)
        except OvhNotFoundError:
            return DeliveryReport(raw, "pending")  # still a pending job, or deleted from the history
        status = sms.status
        reason = api.ptt_text(sms.ptt) if status == "failed" else None
        at = sms.delivered_at if status == "delivered" else None
        return DeliveryReport(raw, status, reason=reason, at=at)


__all__ = ["CREDENTIAL_VARIABLES", "STOP_MENTION", "OvhProvider", "job_tag"]
