"""What the ``twilio`` provider declares: typed settings, environment, capabilities (light: no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.providers.base import Capabilities
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import ProviderSpec, ReceiverRoute

ENV_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
DEFAULT_BASE_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT = 30.0
SIGNATURE_CHECK = "runner.providers.twilio.receiver:check_request"  # X-Twilio-Signature, keyed by the auth token


@dataclass(frozen=True)
class TwilioSettings(ProviderSettings):
    base_url: str = setting(DEFAULT_BASE_URL, "Twilio's API (default https://api.twilio.com)")
    from_: str | None = setting(None, "a Twilio number (E.164), short code or alphanumeric sender ID, used when "
                                      "the campaign's sender is short-code", key="from")
    messaging_service_sid: str | None = setting(None, "MG...: the Messaging Service; needed to schedule "
                                                      "(not_before in the future)")
    status_callback: str | None = setting(None, "http(s) URL of smsrun's receiver; Twilio POSTs status changes "
                                                "there")
    validity_period: int | None = setting(None, "seconds (1-36000) a message may wait in Twilio's queue",
                                          minimum=1, maximum=36000)
    timeout: float = setting(DEFAULT_TIMEOUT, "seconds per HTTP request, at most (default 30)",
                             exclusive_minimum=0, maximum=3600)


def capabilities(settings: TwilioSettings) -> Capabilities:
    # Twilio appends nothing: the core adds opt_out_text to commercial messages
    return Capabilities(max_recipients_per_request=1, one_text_many_recipients=False, stop_mention=None,
                        can_reconcile=True, default_rate=None)


PROVIDER = ProviderSpec(
    name="twilio",
    title="Twilio",
    description="Twilio's Messages API, one request per recipient; reconciles by listing messages",
    factory="runner.providers.twilio.provider:TwilioProvider",
    settings=TwilioSettings,
    capabilities=capabilities,
    env=(ENV_ACCOUNT_SID, ENV_AUTH_TOKEN),
    routes=(ReceiverRoute(("status",), frozenset({"POST"}), "runner.receiver.handlers:twilio_status",
                          secrets=(ENV_AUTH_TOKEN,), check=SIGNATURE_CHECK),
            ReceiverRoute(("inbound",), frozenset({"POST"}), "runner.receiver.handlers:twilio_inbound",
                          secrets=(ENV_AUTH_TOKEN,), check=SIGNATURE_CHECK)),
)
