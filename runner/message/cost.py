"""What a campaign will cost: SMS parts per destination country times a price per part.

Prices are per SMS *part* and per destination region (ISO code, as ``phonenumbers`` gives it:
Réunion is ``RE``, Guadeloupe ``GP``..., not ``FR``), in a unit the user chooses (``credits`` by
default, or a currency).  The built-in table only knows what the reference documents: OVHcloud counts
one credit per part to France.  Every other country needs a price from the user, either per country
or as a ``default`` for all unlisted countries; until then the estimate leaves it out of the total
and names it in ``unpriced``, so a partial total is never mistaken for a full one.

Costs are computed in decimal (no ``0.1 * 3 = 0.30000000000000004``) and rounded half-up to
:data:`COST_PLACES` decimal places: enough for fractional credits and sub-cent currency prices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TypedDict

from runner.errors import CampaignError

__all__ = [
    "COST_PLACES",
    "DEFAULT_UNIT",
    "UNKNOWN_REGION",
    "CostEstimate",
    "CountryCost",
    "PriceTable",
    "estimate",
]

DEFAULT_UNIT = "credits"
UNKNOWN_REGION = "ZZ"  # phonenumbers' (and CLDR's) code for "no region"; used for numbers without one
COST_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
_REGION = re.compile(r"[A-Z]{2}")

_BUILT_IN_CREDITS: dict[str, float] = {"FR": 1.0}  # OVHcloud: 1 credit = one SMS part to France


class CountryCost(TypedDict):
    parts: int
    price: float
    cost: float


def _check_price(what: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise CampaignError(f"{what} must be a number >= 0, not {value!r}")
    return float(value)


@dataclass
class PriceTable:
    """Price of one SMS part by destination region, plus a ``default`` for the others (None: unknown)."""

    prices: dict[str, float]
    default: float | None
    unit: str = DEFAULT_UNIT

    def __post_init__(self) -> None:
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise CampaignError(f"the price unit must be a non-empty text, not {self.unit!r}")
        self.unit = self.unit.strip()
        prices: dict[str, float] = {}
        for region, price in self.prices.items():
            code = region.upper() if isinstance(region, str) else region
            if not isinstance(code, str) or not _REGION.fullmatch(code):
                raise CampaignError(f"price for {region!r}: countries are two-letter codes such as FR or RE")
            prices[code] = _check_price(f"the price for {code}", price)
        self.prices = prices
        if self.default is not None:
            self.default = _check_price("the default price", self.default)

    @classmethod
    def default_table(cls) -> PriceTable:
        """OVHcloud's credits: 1 per part to France; other countries unpriced."""
        return cls(dict(_BUILT_IN_CREDITS), None, DEFAULT_UNIT)

    @classmethod
    def from_settings(cls, prices: Mapping[str, float], default: float | None = None,
                      unit: str = DEFAULT_UNIT) -> PriceTable:
        """The campaign's prices, laid over the built-in ones when they share the unit (credits).

        With another unit (``EUR``...) the built-in credit prices would be meaningless, so only the
        user's prices count.
        """
        table = cls(dict(prices), default, unit)
        if table.unit == DEFAULT_UNIT:
            table.prices = {**_BUILT_IN_CREDITS, **table.prices}
        return table

    def price_for(self, region: str | None) -> float | None:
        """Price of one part to ``region`` (None or ``ZZ``: unknown region): its own, else the default."""
        code = (region or UNKNOWN_REGION).upper()
        return self.prices.get(code, self.default)


@dataclass(frozen=True)
class CostEstimate:
    """Total and per-country cost of the parts to send; ``unpriced`` countries are not in ``total``."""

    total: float
    by_country: dict[str, CountryCost]
    unit: str
    unpriced: list[str] = field(default_factory=list)
    unpriced_parts: int = 0  # parts to the unpriced countries, left out of total

    @property
    def complete(self) -> bool:
        """True when every part has a price (``total`` is the whole cost)."""
        return not self.unpriced


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def estimate(table: PriceTable, parts_by_region: Mapping[str | None, int]) -> CostEstimate:
    """Cost of sending ``parts_by_region[region]`` parts to each region (None: region unknown).

    Regions are listed by code; a region with no parts is left out.
    """
    parts: dict[str, int] = {}
    for region, count in parts_by_region.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"parts for {region!r} must be an integer >= 0, not {count!r}")
        code = (region or UNKNOWN_REGION).upper()
        parts[code] = parts.get(code, 0) + count
    by_country: dict[str, CountryCost] = {}
    unpriced: list[str] = []
    unpriced_parts = 0
    total = Decimal(0)
    for code in sorted(parts):
        count = parts[code]
        if count == 0:
            continue
        price = table.price_for(code)
        if price is None:
            unpriced.append(code)
            unpriced_parts += count
            continue
        cost = (_decimal(price) * count).quantize(_QUANTUM, rounding=ROUND_HALF_UP)
        total += cost
        by_country[code] = {"parts": count, "price": price, "cost": float(cost)}
    return CostEstimate(float(total), by_country, table.unit, unpriced, unpriced_parts)
