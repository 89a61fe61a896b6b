"""What the ``kannel`` provider declares: typed settings, environment, capabilities (light: no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.errors import ConfigError
from runner.providers.base import Capabilities
from runner.providers.kannel.dlr import dlr_template
from runner.providers.settings import ProviderSettings, setting
from runner.providers.spec import ProviderSpec, ReceiverRoute

ENV_USERNAME = "KANNEL_USERNAME"
ENV_PASSWORD = "KANNEL_PASSWORD"
DEFAULT_MAX_RECIPIENTS = 100
DEFAULT_DLR_MASK = 31
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class KannelSettings(ProviderSettings):
    url: str | None = setting(None, "the smsbox sendsms URL (required), e.g. http://127.0.0.1:13013/cgi-bin/sendsms")
    short_code: str | None = setting(None, "the sender used for sender: short-code (default: Kannel's "
                                           "global-sender)", numbers_as_text=True)
    from_: str | None = setting(None, "another name of short_code", key="from", numbers_as_text=True)
    dlr_url: str | None = setting(None, "where Kannel reports deliveries (smsrun's receiver): a plain URL, or a "
                                        "template with {message_id}, {batch_id}, {campaign_id}, {recipient}")
    dlr_mask: int = setting(DEFAULT_DLR_MASK, "Kannel's dlr-mask when dlr_url is set (default 31)", minimum=1,
                            maximum=31)
    max_recipients_per_request: int = setting(DEFAULT_MAX_RECIPIENTS, "recipients sharing one request when they "
                                                                      "get the same text (default 100)", minimum=1)
    smsc: str | None = setting(None, "route through this smsc-id (X-Kannel-SMSC)")
    timeout: float = setting(DEFAULT_TIMEOUT, "seconds to wait for Kannel's answer (default 30); after that the "
                                              "request is in doubt", minimum=0.1, maximum=3600)


def max_recipients(settings: KannelSettings) -> int:
    """``max_recipients_per_request``, or 1 when the dlr_url can only name a message by its id."""
    try:
        template = dlr_template(settings.dlr_url)
    except ConfigError:
        template = None  # the provider refuses it when it is built
    if template is not None and not ("{batch_id}" in template and "{recipient}" in template):
        return 1  # only {message_id} identifies a message: one per request
    return settings.max_recipients_per_request


def capabilities(settings: KannelSettings) -> Capabilities:
    size = max_recipients(settings)
    return Capabilities(max_recipients_per_request=size, one_text_many_recipients=size > 1, stop_mention=None,
                        can_reconcile=False)


PROVIDER = ProviderSpec(
    name="kannel",
    title="Kannel",
    description="Kannel's smsbox sendsms interface (POST, X-Kannel-* headers); cannot reconcile: in-doubt rows "
                "are reported",
    factory="runner.providers.kannel.provider:KannelProvider",
    settings=KannelSettings,
    capabilities=capabilities,
    env=(ENV_USERNAME, ENV_PASSWORD),
    routes=(ReceiverRoute(("dlr",), frozenset({"GET", "POST"}), "runner.receiver.handlers:kannel_dlr"),
            ReceiverRoute(("mo",), frozenset({"GET", "POST"}), "runner.receiver.handlers:kannel_mo")),
)
