"""The hashes a plan is checked by.

:func:`plan_digest` is what a saved plan (``plan --out``) is refused by when it no longer matches: the
campaign file's text, the provider, the ledger's state for the campaign and every source's content.
:func:`content_hash` is what must not change once sending started (the ledger keeps it).
"""

from __future__ import annotations

import hashlib

from runner.audience.build import Audience
from runner.campaign.model import Campaign


def content_hash(campaign: Campaign) -> str:
    """What must not change once sending started: the message, sender and commercial flag."""
    parts = [campaign.message, campaign.sender.kind, campaign.sender.value or "", str(campaign.commercial),
             campaign.opt_out_text or "", str(campaign.transliterate)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def plan_digest(campaign: Campaign, audience: Audience, ledger_fingerprint: str) -> str:
    h = hashlib.sha256()
    for piece in (campaign.source_text, campaign.provider.name, ledger_fingerprint, *audience.digests):
        h.update(piece.encode())
        h.update(b"\x1f")
    return h.hexdigest()
