"""OVHcloud SMS: the signed API client, typed endpoint functions and the ``ovh`` provider.

* :mod:`runner.providers.ovh.client`: :class:`OvhClient` (signing, clock offset, error classification,
  read retries, rate limiting) and configuration helpers;
* :mod:`runner.providers.ovh.api`: account, senders, jobs, outgoing, incoming, blacklists, receivers
  slots, phonebooks — functions returning dataclasses;
* :mod:`runner.providers.ovh.provider`: :class:`OvhProvider`.
"""

from __future__ import annotations

from runner.providers.ovh.api import (
    Account,
    BlacklistEntry,
    IncomingSms,
    JobEstimate,
    OutgoingSms,
    Phonebook,
    PhonebookContact,
    ReceiverLine,
    ReceiverSlot,
    SenderInfo,
    SendingReport,
)
from runner.providers.ovh.client import (
    ENDPOINTS,
    OvhClient,
    OvhConfig,
    OvhNotFoundError,
    OvhServiceExpiredError,
    RateLimiter,
    client_from_env,
    resolve_config,
    resolve_endpoint,
    sign,
)
from runner.providers.ovh.provider import STOP_MENTION, OvhProvider, job_tag

__all__ = [
    "ENDPOINTS",
    "STOP_MENTION",
    "Account",
    "BlacklistEntry",
    "IncomingSms",
    "JobEstimate",
    "OutgoingSms",
    "OvhClient",
    "OvhConfig",
    "OvhNotFoundError",
    "OvhProvider",
    "OvhServiceExpiredError",
    "Phonebook",
    "PhonebookContact",
    "RateLimiter",
    "ReceiverLine",
    "ReceiverSlot",
    "SenderInfo",
    "SendingReport",
    "client_from_env",
    "job_tag",
    "resolve_config",
    "resolve_endpoint",
    "sign",
]
