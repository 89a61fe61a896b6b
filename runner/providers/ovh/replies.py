"""OVHcloud's replies, pulled (``smsrun replies``; the spec's ``replies`` hook): OVHcloud keeps them.

``GET /sms/{sn}/incoming`` lists the ids of the replies, each new one is read with ``GET
/sms/{sn}/incoming/{id}`` (the ids are the replies' references in the ledger: one already stored is never
read again), and ``GET /sms/{sn}/blacklists`` is the numbers OVHcloud itself stopped sending to after a
STOP. Storing them, and the suppression list, are the command's (:mod:`runner.commands.replies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runner.providers.ovh import api
from runner.providers.ovh.client import client_from_env, resolve_config
from runner.providers.spec import IncomingReply


class OvhReplyFeed:
    """A :class:`~runner.providers.spec.ReplyFeed` on one OVHcloud SMS account."""

    stop_list_name = "blacklists"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self._config = resolve_config(settings)
        self._client = client_from_env(settings)
        self.service = ""

    def __enter__(self) -> OvhReplyFeed:
        self._client.__enter__()
        try:
            self.service = api.find_service_name(self._client, self._config.service_name)
        except BaseException:
            self._client.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(None, None, None)

    def incoming(self, since: datetime | None) -> list[str]:
        return [str(i) for i in sorted(api.list_incoming(self._client, self.service, since=since))]

    def read(self, ref: str) -> IncomingReply:
        sms = api.get_incoming(self._client, self.service, int(ref))
        return IncomingReply(str(sms.id), sms.sender, sms.message, sms.created.isoformat() if sms.created else None)

    def stop_list(self) -> list[str]:
        return list(api.list_blacklists(self._client, self.service))
