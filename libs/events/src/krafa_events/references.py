"""Structured payment references: part of the contract, because claims-api generates them,
debtors print them on their transfers and payments-ingest matches bank entries by them.

python-stdnum covers RF (ISO 11649) and the Luhn MOD10 used by Norwegian KID; it has no KID
MOD11 and no Estonian/Finnish 7-3-1 reference, which are a few lines each and written here.
"""

from __future__ import annotations

from typing import Literal

from stdnum import iso11649, luhn
from stdnum.iso7064 import mod_97_10

ReferenceKind = Literal["kid", "viitenumber", "rf", "plain"]


class InvalidReference(ValueError):
    pass


def compact(reference: str) -> str:
    return "".join(reference.split()).upper()


def _kid_mod11_check(body: str) -> str | None:
    weights = (2, 3, 4, 5, 6, 7)
    total = sum(int(d) * weights[i % 6] for i, d in enumerate(reversed(body)))
    check = 11 - total % 11
    if check == 11:
        return "0"
    if check == 10:
        return None  # this body has no valid MOD11 KID ("-" is not printable on giro)
    return str(check)


def _731_check(body: str) -> str:
    weights = (7, 3, 1)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def kid_from(number: int) -> str:
    """Norwegian KID with a MOD10 (Luhn) check digit."""
    body = str(number)
    return body + luhn.calc_check_digit(body)


def viitenumber_from(number: int) -> str:
    """Estonian reference number (viitenumber), 7-3-1 check digit; 2 to 20 digits."""
    body = str(number)
    return body + _731_check(body)


def rf_from(number: int | str) -> str:
    """ISO 11649 creditor reference: RF + two check digits + up to 21 alphanumerics."""
    body = compact(str(number))
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def generate(jurisdiction: str, number: int) -> str:
    match jurisdiction.upper():
        case "NO":
            return kid_from(number)
        case "EE" | "FI":
            return viitenumber_from(number)
        case _:
            return rf_from(number)


def kind_of(reference: str) -> ReferenceKind:
    ref = compact(reference)
    if ref.startswith("RF") and iso11649.is_valid(ref):
        return "rf"
    if ref.isdigit() and 2 <= len(ref) <= 25:
        if luhn.is_valid(ref) or _kid_mod11_check(ref[:-1]) == ref[-1]:
            return "kid"
        if _731_check(ref[:-1]) == ref[-1]:
            return "viitenumber"
    return "plain"


def validate(jurisdiction: str, reference: str) -> str:
    """Return the compact reference, or raise InvalidReference saying why."""
    ref = compact(reference)
    if not ref:
        raise InvalidReference("reference is empty")
    if ref.startswith("RF"):
        if not iso11649.is_valid(ref):
            raise InvalidReference(f"{ref!r} is not a valid ISO 11649 RF reference")
        return ref
    match jurisdiction.upper():
        case "NO":
            if not (ref.isdigit() and 2 <= len(ref) <= 25):
                raise InvalidReference("a KID is 2 to 25 digits")
            if not (luhn.is_valid(ref) or _kid_mod11_check(ref[:-1]) == ref[-1]):
                raise InvalidReference(f"{ref!r} fails both the MOD10 and MOD11 KID check")
        case "EE" | "FI":
            if not (ref.isdigit() and 2 <= len(ref) <= 20):
                raise InvalidReference("a reference number is 2 to 20 digits")
            if _731_check(ref[:-1]) != ref[-1]:
                raise InvalidReference(f"{ref!r} fails the 7-3-1 check digit")
        case _:
            if len(ref) > 35 or not ref.isalnum():
                raise InvalidReference("a reference is at most 35 letters and digits")
    return ref
