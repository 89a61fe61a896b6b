"""Cost estimate: parts by country times price per part, and honesty about unpriced countries."""

from __future__ import annotations

import pytest

from runner.errors import CampaignError
from runner.message.cost import UNKNOWN_REGION, PriceTable, estimate


def test_default_table_is_one_credit_per_part_to_france() -> None:
    table = PriceTable.default_table()
    assert table.prices == {"FR": 1.0}
    assert table.default is None
    assert table.unit == "credits"
    result = estimate(table, {"FR": 1200})
    assert result.total == 1200.0
    assert result.by_country == {"FR": {"parts": 1200, "price": 1.0, "cost": 1200.0}}
    assert result.unit == "credits"
    assert result.unpriced == [] and result.complete


def test_unknown_countries_are_named_not_guessed() -> None:
    result = estimate(PriceTable.default_table(), {"FR": 10, "RE": 4, "BE": 2, None: 1})
    assert result.total == 10.0
    assert list(result.by_country) == ["FR"]
    assert result.unpriced == ["BE", "RE", UNKNOWN_REGION]
    assert result.unpriced_parts == 7
    assert not result.complete


def test_default_price_covers_other_countries() -> None:
    table = PriceTable({"FR": 1.0, "BE": 2.5}, default=3.0)
    result = estimate(table, {"FR": 2, "BE": 2, "RE": 1, None: 1})
    assert result.by_country["BE"] == {"parts": 2, "price": 2.5, "cost": 5.0}
    assert result.by_country["RE"]["price"] == 3.0
    assert result.by_country[UNKNOWN_REGION]["cost"] == 3.0
    assert result.total == 13.0
    assert result.complete


def test_fractional_prices_are_exact_and_rounded() -> None:
    table = PriceTable({"FR": 0.1}, default=None)
    assert estimate(table, {"FR": 3}).total == 0.3  # not 0.30000000000000004
    currency = PriceTable({"US": 0.0079, "GB": 0.0333333333}, default=None, unit="USD")
    result = estimate(currency, {"US": 1001, "GB": 3})
    assert result.by_country["US"]["cost"] == 7.9079
    assert result.by_country["GB"]["cost"] == 0.1  # 0.0999999999 rounded to 6 places
    assert result.total == 8.0079
    assert result.unit == "USD"


def test_from_settings_overrides_built_in_credits() -> None:
    table = PriceTable.from_settings({"BE": 2.0, "FR": 1.5}, default=4.0)
    assert table.prices == {"FR": 1.5, "BE": 2.0}
    assert PriceTable.from_settings({"RE": 3.0}).prices == {"FR": 1.0, "RE": 3.0}
    assert estimate(PriceTable.from_settings({}, default=2.0), {"FR": 1, "DE": 1}).total == 3.0


def test_from_settings_in_another_unit_drops_built_in_credits() -> None:
    table = PriceTable.from_settings({"BE": 0.05}, unit="EUR")
    assert table.prices == {"BE": 0.05}
    assert estimate(table, {"FR": 1, "BE": 2}).unpriced == ["FR"]


def test_region_codes_are_normalised() -> None:
    table = PriceTable({"fr": 1.0}, default=None)
    assert table.prices == {"FR": 1.0}
    result = estimate(table, {"fr": 2, "FR": 3})
    assert result.by_country["FR"]["parts"] == 5
    assert table.price_for("fr") == 1.0
    assert table.price_for(None) is None


def test_zero_parts_are_left_out() -> None:
    result = estimate(PriceTable.default_table(), {"FR": 0, "BE": 0})
    assert result.total == 0.0 and result.by_country == {} and result.unpriced == []


@pytest.mark.parametrize(
    ("prices", "default", "unit"),
    [
        ({"FR": -1.0}, None, "credits"),
        ({"FRA": 1.0}, None, "credits"),
        ({"F1": 1.0}, None, "credits"),
        ({"FR": float("nan")}, None, "credits"),
        ({}, float("inf"), "credits"),
        ({}, -0.5, "credits"),
        ({}, None, " "),
    ],
)
def test_bad_prices_are_refused(prices: dict[str, float], default: float | None, unit: str) -> None:
    with pytest.raises(CampaignError):
        PriceTable(prices, default, unit)


def test_negative_parts_are_a_bug() -> None:
    with pytest.raises(ValueError):
        estimate(PriceTable.default_table(), {"FR": -1})
