"""Campaign files: parse, validate against the schema, build a :class:`~runner.campaign.model.Campaign`.

This stage reads the file alone; the checks that need the message, source and provider stages run
above them, in :mod:`runner.check` (whose ``load_campaign`` is what ``plan`` and ``send`` use).
"""

from __future__ import annotations

from runner.campaign.loader import ParsedCampaign, accept, parse_campaign, read_campaign
from runner.campaign.model import Campaign, Position, SourceSpec

__all__ = ["Campaign", "ParsedCampaign", "Position", "SourceSpec", "accept", "parse_campaign", "read_campaign"]
