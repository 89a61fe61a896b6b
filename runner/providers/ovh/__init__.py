"""OVHcloud SMS: the provider's declaration (:mod:`~runner.providers.ovh.spec`, imported light by the
registry), the signed API client, typed endpoint functions and the ``ovh`` provider.

* :mod:`runner.providers.ovh.client`: :class:`OvhClient` (signing, clock offset, error classification,
  read retries, rate limiting) and configuration helpers;
* :mod:`runner.providers.ovh.api`: account, senders, jobs, outgoing, incoming, blacklists, receivers
  slots, phonebooks — functions returning dataclasses;
* :mod:`runner.providers.ovh.provider`: :class:`OvhProvider`;
* what the spec declares beside sending: :mod:`runner.providers.ovh.replies` (replies pulled by
  ``smsrun replies``), :mod:`runner.providers.ovh.commands` and :mod:`runner.providers.ovh.lists`
  (``smsrun ovh lists``); its sources (phonebooks, slots) are :mod:`runner.sources.ovh`.
"""

from __future__ import annotations

from runner.providers.lazy import lazy_getattr
from runner.providers.ovh.spec import PROVIDER

# the rest is imported on first use: the registry imports this package for PROVIDER, and httpx costs ~100 ms
_LAZY = {
    "ENDPOINTS": "client",
    "STOP_MENTION": "spec",
    "Account": "api",
    "BlacklistEntry": "api",
    "IncomingSms": "api",
    "JobEstimate": "api",
    "OutgoingSms": "api",
    "OvhClient": "client",
    "OvhConfig": "client",
    "OvhNotFoundError": "client",
    "OvhProvider": "provider",
    "OvhServiceExpiredError": "client",
    "Phonebook": "api",
    "PhonebookContact": "api",
    "RateLimiter": "client",
    "ReceiverLine": "api",
    "ReceiverSlot": "api",
    "SenderInfo": "api",
    "SendingReport": "api",
    "client_from_env": "client",
    "job_tag": "provider",
    "resolve_config": "client",
    "resolve_endpoint": "client",
    "sign": "client",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["PROVIDER", *_LAZY]
