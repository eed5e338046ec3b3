"""The one currency table: ISO 4217's own minor units, and exact conversion into them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_events import currencies


def test_the_exponents_are_iso_4217s() -> None:
    # ISO 4217 list one: the dinars of Bahrain, Iraq, Jordan, Kuwait, Libya and Tunisia and Oman's
    # rial have three decimals (CLDR's display data says IQD has none; the list is the authority).
    for code in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"):
        assert currencies.minor_units(code) == 3, code
    assert (currencies.minor_units("ISK"), currencies.minor_units("JPY")) == (0, 0)
    assert (currencies.minor_units("EUR"), currencies.minor_units("NOK")) == (2, 2)
    assert currencies.minor_units("CLF") == 4
    with pytest.raises(currencies.UnknownCurrency):
        currencies.minor_units("XAU")  # gold has no minor unit: no money a claim is in
    assert currencies.statement_minor_units("DEM") == 2 and not currencies.is_currency("DEM")


def test_amounts_become_exact_minor_units() -> None:
    assert currencies.to_minor(Decimal("1.234"), "KWD") == 1234
    assert currencies.to_minor("0.005", "BHD") == 5
    assert currencies.to_minor(Decimal("12.5"), "EUR") == 1250
    assert currencies.to_minor(Decimal("1585.00"), "ISK") == 1585
    assert currencies.to_minor(3000, "ISK") == 3000
    assert currencies.to_minor(3000, "IQD") == 3_000_000
    assert currencies.to_minor(Decimal("-75"), "ISK") == -75  # a reversal keeps its sign


def test_a_fraction_the_currency_has_not_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="more decimals than ISK allows"):
        currencies.to_minor(Decimal("1585.5"), "ISK")
    with pytest.raises(ValueError, match="more decimals than KWD allows"):
        currencies.to_minor("1.2345", "KWD")
    with pytest.raises(ValueError, match="not a number"):
        currencies.to_minor("NaN", "EUR")
    with pytest.raises(ValueError, match="not a number"):
        currencies.to_minor("1" * 25, "EUR")


def test_a_float_is_no_amount() -> None:
    with pytest.raises(TypeError, match="float"):
        currencies.to_minor(0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        currencies.to_minor(True, "EUR")


@given(
    minor=st.integers(min_value=-(10**18), max_value=10**18),
    code=st.sampled_from(["ISK", "EUR", "KWD", "IQD", "CLF", "JPY"]),
)
def test_major_and_minor_round_trip_exactly(minor: int, code: str) -> None:
    major = Decimal(minor).scaleb(-currencies.minor_units(code))
    assert currencies.to_minor(major, code) == minor
    assert currencies.to_minor(str(major), code) == minor
