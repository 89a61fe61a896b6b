"""``smsrun replies``: pull replies from the provider where it can, store them, feed opt-outs to the
suppression list; or list the replies already stored (including those ``smsrun receive`` recorded).

Only OVHcloud can be polled: ``GET /sms/{sn}/incoming`` lists the ids of the replies, each new one is
read with ``GET /sms/{sn}/incoming/{id}`` (ids already stored are never read again: they are the
replies' references in the ledger, so nothing is stored twice), and ``GET /sms/{sn}/blacklists`` (the
numbers OVHcloud itself stopped sending to after a STOP) is added to the suppression list. Kannel and
Twilio push their replies: run ``smsrun receive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.ledger.store import Ledger
from runner.ledger.url import ledger_exists
from runner.masking import mask_number
from runner.optout.keywords import mentions_opt_out
from runner.receiver.store import Reply, check_region, known_refs, list_replies, normalise_sender, store_reply

PULLABLE = ("ovh",)
WHO = "smsrun replies"


def _shown(row: dict[str, Any], show_numbers: bool) -> dict[str, Any]:
    out = dict(row)
    if not show_numbers:
        out["sender"] = mask_number(str(out["sender"]))
    out["review"] = not out["opt_out"] and mentions_opt_out(str(out["text"]))
    return out


def stored_replies(state_dir: Path, *, provider: str | None = None, limit: int | None = None,
                   show_numbers: bool = False) -> list[dict[str, Any]]:
    """The replies in the ledger (oldest first), numbers masked unless ``show_numbers``; ``review`` marks
    replies that mention an opt-out keyword without being one (to read by hand)."""
    if not ledger_exists(state_dir):
        return []
    with Ledger(state_dir) as ledger:
        return [_shown(r, show_numbers) for r in list_replies(ledger, provider=provider, limit=limit)]


def pull_replies(state_dir: Path, provider: str, settings: Mapping[str, Any] | None = None, *,
                 since: datetime | None = None, show_numbers: bool = False, region: str | None = None,
                 blacklists: bool = True) -> dict[str, Any]:
    """Fetch new replies from ``provider`` (``ovh`` only), store them, add opt-outs to the suppression list.

    Returns ``provider``, ``service``, ``new`` (the replies stored now), ``already_known``, ``opt_outs``
    (replies that are opt-outs), ``suppressed`` (numbers newly added to the suppression list, replies and
    blacklist together) and ``blacklist`` (numbers on the provider's STOP list)."""
    if provider not in PULLABLE:
        raise ConfigError(f"replies cannot be pulled from provider {provider!r} (only {', '.join(PULLABLE)}): "
                          "Kannel and Twilio push them to `smsrun receive`; `smsrun replies --stored` lists "
                          "what it recorded")
    from runner.optout.store import add_optouts
    from runner.providers.ovh import api
    from runner.providers.ovh.client import client_from_env, resolve_config

    region = check_region(region)
    config = resolve_config(settings)
    out: dict[str, Any] = {"provider": provider, "service": None, "new": [], "already_known": 0, "opt_outs": 0,
                           "suppressed": 0, "blacklist": 0, "unreadable": []}
    with client_from_env(settings) as client, Ledger(state_dir) as ledger:
        service = api.find_service_name(client, config.service_name)
        out["service"] = service
        known = {int(ref) for ref in known_refs(ledger, provider) if ref.isdigit()}
        ids = api.list_incoming(client, service, since=since)
        out["already_known"] = sum(1 for i in ids if i in known)
        for ident in sorted(i for i in ids if i not in known):  # one GET each, stored as it comes
            sms = api.get_incoming(client, service, ident)
            reply = Reply(provider, str(sms.id), normalise_sender(sms.sender, region), sms.message,
                          sms.created.isoformat() if sms.created else None)
            outcome = store_reply(ledger, reply, who=WHO)
            out["opt_outs"] += int(outcome.opt_out)
            out["suppressed"] += int(outcome.suppressed)
            if outcome.stored:
                out["new"].append(_shown({"provider": provider, "provider_ref": reply.provider_ref,
                                          "sender": reply.sender, "text": reply.text,
                                          "received_at": reply.received_at, "opt_out": outcome.opt_out},
                                         show_numbers))
        if blacklists:
            numbers = api.list_blacklists(client, service)
            out["blacklist"] = len(numbers)
            readable, out["unreadable"] = _readable_optouts([normalise_sender(n, region) for n in numbers], region)
            if readable:
                out["suppressed"] += add_optouts(state_dir, readable,
                                                 reason="on the OVHcloud STOP list (blacklists)",
                                                 source=f"{provider}:blacklists", who=WHO)
    return out


def _readable_optouts(numbers: list[str], region: str | None) -> tuple[list[str], list[str]]:
    """(E.164 numbers, why each other one was not added): issue 15, an opt-out is E.164 or reported."""
    from runner.errors import SmsrunError
    from runner.optout.numbers import optout_number

    readable: list[str] = []
    unreadable: list[str] = []
    for number in numbers:
        try:
            readable.append(optout_number(number, region))
        except SmsrunError as exc:
            unreadable.append(exc.message)
    return readable, unreadable


def replies_source(campaign: Path | None, provider: str | None) -> tuple[str, dict[str, Any]]:
    """(provider name, settings) from a campaign file, or ``--provider`` with settings from the environment."""
    if campaign is not None and provider is not None:
        raise ConfigError("give a campaign file or --provider, not both")
    if campaign is None:
        if provider is None:
            raise ConfigError("say where to pull replies from: a campaign file (its provider settings) or "
                              "--provider ovh (settings from OVH_ENDPOINT and OVH_SERVICE_NAME)")
        return provider, {}
    from runner.check import load_campaign

    loaded = load_campaign(campaign, check_files=False)
    return loaded.provider.name, dict(loaded.provider.settings)


def fetch_replies(state_dir: Path, campaign: Path | None, provider: str | None, *, since: datetime | None = None,
                  show_numbers: bool = False, region: str | None = None, blacklists: bool = True) -> dict[str, Any]:
    """:func:`replies_source` then :func:`pull_replies` (what ``smsrun replies`` runs)."""
    name, settings = replies_source(campaign, provider)
    return pull_replies(state_dir, name, settings, since=since, show_numbers=show_numbers, region=region,
                        blacklists=blacklists)
