"""The OVHcloud provider's read-only calls: the checks ``plan`` makes before a send (account, sender,
credits) and delivery reports. Functions of the provider (``self``), which delegates to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.campaign.model import Sender
from runner.errors import ConfigError, RetryableError
from runner.providers.base import DeliveryReport
from runner.providers.ovh import api
from runner.providers.ovh.client import OvhClient, OvhNotFoundError

if TYPE_CHECKING:
    from runner.providers.ovh.provider import OvhProvider


def preflight(self: OvhProvider, *, sender: Sender, total_parts: int) -> list[str]:
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

def delivery_reports(self: OvhProvider, provider_ids: Sequence[str]) -> list[DeliveryReport]:
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
        return [report_one(client, service, ident, raw) for ident, raw in wanted.items()]

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
                reports.append(report_one(client, service, ident, raw))
            else:
                reports.append(DeliveryReport(raw, "failed"))
        else:
            reports.append(DeliveryReport(raw, "pending"))
    return reports

def report_one(client: OvhClient, service: str, ident: int, raw: str) -> DeliveryReport:
    try:
        sms = api.get_outgoing(client, service, ident)
    except OvhNotFoundError:
        return DeliveryReport(raw, "pending")  # still a pending job, or deleted from the history
    status = sms.status
    reason = api.ptt_text(sms.ptt) if status == "failed" else None
    at = sms.delivered_at if status == "delivered" else None
    return DeliveryReport(raw, status, reason=reason, at=at)
