"""``smsrun replies``: pull replies from the provider where it can, store them, feed opt-outs to the
suppression list; or list the replies already stored (including those ``smsrun receive`` recorded).

A provider whose replies can be pulled says so in its spec (``ProviderSpec.replies`` opens a
:class:`~runner.providers.spec.ReplyFeed`: OVHcloud's, :mod:`runner.providers.ovh.replies`). Each new
reply is read once and stored (its reference is the provider's id, so nothing is stored twice); the
provider's own STOP list is added to the suppression list. Providers that push their replies (Kannel,
Twilio) declare receiver routes instead: run ``smsrun receive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.ledger.store import Ledger
from runner.ledger.url import ledger_exists
from runner.masking import mask_number
from runner.optout.keywords import mentions_opt_out
from runner.receiver.store import Reply, check_region, known_refs, list_replies, normalise_sender, store_reply

WHO = "smsrun replies"


@dataclass
class PulledReplies:
    """What a pull did: ``new`` (the replies stored now, numbers masked unless asked), ``already_known``,
    ``opt_outs`` (new replies that are opt-outs), ``suppressed`` (numbers newly added to the suppression
    list, replies and STOP list together), ``blacklist`` (numbers on the provider's STOP list) and
    ``unreadable`` (why each STOP-list number that is not a phone number was not added)."""

    provider: str
    service: str | None = None
    new: list[dict[str, Any]] = field(default_factory=list)
    already_known: int = 0
    opt_outs: int = 0
    suppressed: int = 0
    blacklist: int = 0
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                 blacklists: bool = True) -> PulledReplies:
    """Fetch new replies from ``provider`` (one whose spec can pull them), store them, add opt-outs to the
    suppression list; see :class:`PulledReplies`."""
    from runner.optout.store import add_optouts
    from runner.providers.registry import reply_pullers, specs
    from runner.providers.spec import load_target

    spec = specs().get(provider)
    if spec is None or spec.replies is None:
        pullable = ", ".join(s.name for s in reply_pullers())
        pushers = " and ".join(s.title for s in specs().values() if s.routes and not s.replies)
        raise ConfigError(f"replies cannot be pulled from provider {provider!r} (only {pullable}): "
                          f"{pushers} push them to `smsrun receive`; `smsrun replies --stored` lists "
                          "what it recorded")
    region = check_region(region)
    out = PulledReplies(provider)
    with load_target(spec.replies)(settings) as feed, Ledger(state_dir) as ledger:
        out.service = feed.service
        known = set(known_refs(ledger, provider))
        refs = feed.incoming(since)
        out.already_known = sum(1 for ref in refs if ref in known)
        for ref in (r for r in refs if r not in known):  # one read each, stored as it comes
            sms = feed.read(ref)
            reply = Reply(provider, sms.ref, normalise_sender(sms.sender, region), sms.text, sms.received_at)
            outcome = store_reply(ledger, reply, who=WHO)
            out.opt_outs += int(outcome.opt_out)
            out.suppressed += int(outcome.suppressed)
            if outcome.stored:
                out.new.append(_shown({"provider": provider, "provider_ref": reply.provider_ref,
                                       "sender": reply.sender, "text": reply.text,
                                       "received_at": reply.received_at, "opt_out": outcome.opt_out},
                                      show_numbers))
        if blacklists:
            numbers = feed.stop_list()
            out.blacklist = len(numbers)
            readable, out.unreadable = _readable_optouts([normalise_sender(n, region) for n in numbers], region)
            if readable:
                out.suppressed += add_optouts(state_dir, readable,
                                              reason=f"on the {spec.title} STOP list ({feed.stop_list_name})",
                                              source=f"{provider}:{feed.stop_list_name}", who=WHO)
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
            from runner.providers.registry import reply_pullers

            hints = " or ".join(f"--provider {s.name} (settings from {' and '.join(s.settings.environment())})"
                                for s in reply_pullers())
            raise ConfigError(f"say where to pull replies from: a campaign file (its provider settings) or {hints}")
        return provider, {}
    from runner.check import load_campaign

    loaded = load_campaign(campaign, check_files=False)
    return loaded.provider.name, dict(loaded.provider.settings)


def fetch_replies(state_dir: Path, campaign: Path | None, provider: str | None, *, since: datetime | None = None,
                  show_numbers: bool = False, region: str | None = None, blacklists: bool = True) -> PulledReplies:
    """:func:`replies_source` then :func:`pull_replies` (what ``smsrun replies`` runs)."""
    name, settings = replies_source(campaign, provider)
    return pull_replies(state_dir, name, settings, since=since, show_numbers=show_numbers, region=region,
                        blacklists=blacklists)
