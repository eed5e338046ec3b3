"""The one currency table of Krafa: ISO 4217 codes with their minor units.

Every amount is integer minor units of an ISO 4217 currency, so whoever reads, writes or prints
an amount needs the currency's exponent: an ERP's 12.00 EUR is 1200, 12 ISK is 12. The list is
the ISO 4217 maintenance agency's own (list one, shipped by the `iso4217` package, which is
versioned by the list's publication date); codes without a minor unit (gold, SDR, test codes)
are no money a claim can be in. A few pre-euro codes (list three) still turn up in old bank
statements and are read there, never accepted for a claim.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from iso4217 import Currency
from pydantic import AfterValidator, Field

# Active ISO 4217 currencies with a minor unit: code -> number of decimals.
MINOR_UNITS: dict[str, int] = {c.code: c.exponent for c in Currency if c.exponent is not None}

# Withdrawn codes (ISO 4217 list three) that old statements still carry; read, never billed in.
HISTORIC_MINOR_UNITS: dict[str, int] = {
    "ADP": 0,
    "ATS": 2,
    "BEF": 0,
    "DEM": 2,
    "ESP": 0,
    "FIM": 2,
    "FRF": 2,
    "GRD": 0,
    "IEP": 2,
    "ITL": 0,
    "LUF": 0,
    "NLG": 2,
    "PTE": 0,
    "TRL": 0,
    "EEK": 2,
    "LTL": 2,
    "LVL": 2,
}


class UnknownCurrency(ValueError):
    pass


def is_currency(code: str) -> bool:
    """Whether a claim, fee or payment may be in `code` (an active ISO 4217 currency)."""
    return code in MINOR_UNITS


def minor_units(code: str) -> int:
    """Decimals of the currency's minor unit (ISK 0, EUR 2, KWD 3, CLF 4)."""
    try:
        return MINOR_UNITS[code]
    except KeyError:
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency") from None


def statement_minor_units(code: str) -> int:
    """`minor_units`, also for the withdrawn codes of old bank statements."""
    if code in HISTORIC_MINOR_UNITS:
        return HISTORIC_MINOR_UNITS[code]
    return minor_units(code)


def to_minor(amount: Decimal | int | str, code: str) -> int:
    """An amount in the currency's major unit (12.5 EUR, "1.234" KWD) as integer minor units
    (1250, 1234). Exact or refused: a float is no amount (it may already have lost a digit), and a
    fraction finer than the currency's minor unit raises instead of being rounded away."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"an amount is a Decimal, an int or a decimal string, not {type(amount).__name__}")
    exponent = minor_units(code)
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise ValueError(f"amount {amount!r} is not a number") from None
    # Beyond 24 digits it is garbage (ISO 20022 allows 18), and the exact scaling below stays
    # within decimal's default 28-digit precision.
    if not value.is_finite() or len(value.as_tuple().digits) > 24:
        raise ValueError(f"amount {amount!r} is not a number")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {amount} has more decimals than {code} allows ({exponent})")
    return int(scaled)


def check(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an active ISO 4217 currency code")
    return code


# For request models: three capital letters that name an active ISO 4217 currency.
CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}$",
        description="an active ISO 4217 currency code; amounts are in its minor unit (ISK 0 decimals, EUR 2)",
        examples=["ISK"],
    ),
    AfterValidator(check),
]
