"""What the ``ovh`` provider declares: its typed settings, environment, capabilities, sources and admin
commands (a light module: no HTTP client is imported)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from runner.providers.base import Capabilities
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import ProviderSpec, ReceiverRoute

STOP_MENTION: Final = "\nSTOP:36111"
DEFAULT_BATCH_SIZE: Final = 500


@dataclass(frozen=True)
class OvhSettings(ProviderSettings):
    endpoint: str | None = setting(None, "ovh-eu, ovh-ca, ovh-us or a base URL (default: OVH_ENDPOINT, else "
                                         "ovh-eu)", env="OVH_ENDPOINT", examples=["ovh-eu"])
    service_name: str | None = setting(None, "the SMS account, sms-xx12345-1 (default: OVH_SERVICE_NAME, else the "
                                             "only account the credentials see)", env="OVH_SERVICE_NAME")
    batch_size: int = setting(DEFAULT_BATCH_SIZE, "recipients per request (default 500)", minimum=1)
    timeout: float = setting(30.0, "seconds per HTTP request (default 30)", exclusive_minimum=0, maximum=3600)
    requests_per_minute: float | None = setting(
        None, "client-side limit of requests per minute (default: OVH_REQUESTS_PER_MINUTE, else 60; 0 or null: "
              "no limit)", minimum=0, env="OVH_REQUESTS_PER_MINUTE")
    max_retries: int = setting(4, "internal retries of read-only calls (default 4)", minimum=0, maximum=20)
    priority: Literal["high", "medium", "low", "veryLow"] = setting("high", "OVHcloud's sending priority "
                                                                              "(default high)")
    validity_period: int | None = setting(None, "minutes before an undelivered SMS is dropped (default: "
                                                "OVHcloud's, 2880)", minimum=1)
    stop_mention: str = setting(STOP_MENTION, "what OVHcloud appends to commercial SMS (default "
                                              "'\\nSTOP:36111'); the plan counts it in parts and cost")
    dlr_detail_limit: int = setting(20, "failed SMS whose reason is fetched per delivery-report call "
                                        "(default 20)", minimum=0)
    reconcile_delay: float = setting(5.0, "seconds reconcile waits after this process's own in-doubt request "
                                          "(default 5)", minimum=0, maximum=600)


def capabilities(settings: OvhSettings) -> Capabilities:
    return Capabilities(max_recipients_per_request=settings.batch_size, one_text_many_recipients=True,
                        stop_mention=settings.stop_mention, can_reconcile=True)


PROVIDER = ProviderSpec(
    name="ovh",
    title="OVHcloud",
    description="OVHcloud's SMS API, POST /sms/{service}/jobs, signed requests; reconciles by job tag",
    factory="runner.providers.ovh.provider:OvhProvider",
    settings=OvhSettings,
    capabilities=capabilities,
    env=("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY", "OVH_ENDPOINT", "OVH_SERVICE_NAME",
         "OVH_REQUESTS_PER_MINUTE"),
    sources={"ovh-phonebook": "runner.sources.ovh:OvhPhonebookSource",
             "ovh-receivers": "runner.sources.ovh:OvhReceiversSource"},
    routes=(ReceiverRoute(("dlr",), frozenset({"GET", "POST"}), "runner.receiver.handlers:ovh_dlr"),),
    replies="runner.providers.ovh.replies:OvhReplyFeed",
    admin="runner.providers.ovh.commands:app",
)
