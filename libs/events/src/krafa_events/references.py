"""Structured payment references: part of the contract, because claims-api generates them,
debtors print them on their transfers and payments-ingest matches bank entries by them.

python-stdnum covers RF (ISO 11649) and the Luhn MOD10 used by Norwegian KID; it has no KID
MOD11 and no Estonian/Finnish 7-3-1 reference, which are a few lines each and written here.

An Icelandic claim in the payer's netbank is keyed by the creditor's kennitala, the claim bank
(four digits), ledger 66 with a six-digit claim number, and the due date; its reference here is
those digits run together (``bank_claim_reference``), 30 digits that are unique across creditors.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Literal

from stdnum import iso11649, luhn

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


KidScheme = Literal["mod10", "mod11"]
KID_MOD11_WIDTH = 8


def kid_from(number: int, scheme: KidScheme = "mod10") -> str:
    """Norwegian KID for a sequence number, with the check digit of the creditor's agreement with
    Nets: MOD10 (Luhn) or MOD11. A MOD11 body whose check digit would be 10 cannot be printed on a
    giro, so MOD11 bodies are zero-padded to a fixed width behind a lead digit 0, and such a body
    takes lead digit 1 instead (changing one digit by one changes the weighted sum by its weight,
    never a multiple of 11, so the check is then valid); the two ranges cannot meet."""
    if scheme == "mod10":
        body = str(number)
        return body + luhn.calc_check_digit(body)
    digits = str(number).zfill(KID_MOD11_WIDTH)
    for lead in "01":
        check = _kid_mod11_check(lead + digits)
        if check is not None:
            return lead + digits + check
    raise AssertionError("unreachable: one of two adjacent lead digits gives a printable check")


def kid_scheme_of(kid: str, expected: KidScheme | None = None) -> KidScheme | None:
    """Which KID check digit a reference carries; None: neither. About one KID in ten is valid
    under both, so the scheme `expected` (the creditor's agreement with Nets) wins where it holds;
    otherwise MOD10 first, as Nets tries it."""
    ref = compact(kid)
    if not (ref.isdigit() and 2 <= len(ref) <= 25):
        return None
    if expected == "mod11" and _kid_mod11_check(ref[:-1]) == ref[-1]:
        return "mod11"
    if luhn.is_valid(ref):
        return "mod10"
    if _kid_mod11_check(ref[:-1]) == ref[-1]:
        return "mod11"
    return None


CLAIM_LEDGER = "66"


def claim_number_from(number: int) -> str:
    """The six-digit number of an Icelandic bank claim (ledger 66) for a sequence number: 000001
    to 999999, then round again (the due date in the claim's key tells the rounds apart)."""
    return f"{(number - 1) % 999_999 + 1:06d}"


def bank_claim_account(claim_bank: str, claim_number: str) -> str:
    """The claim's account as the banks write it: claim bank, ledger 66, claim number (12 digits)."""
    if not (len(claim_bank) == 4 and claim_bank.isdigit() and len(claim_number) == 6 and claim_number.isdigit()):
        raise InvalidReference("a claim bank is 4 digits and a claim number 6")
    return claim_bank + CLAIM_LEDGER + claim_number


def bank_claim_id(claimant_id: str, claim_bank: str, claim_number: str, due: date) -> str:
    """The banks' claim id: kennitala, account and due date (``0101010101000166000001+20221231``)."""
    return f"{claimant_id}{bank_claim_account(claim_bank, claim_number)}+{due:%Y%m%d}"


def is_bank_claim_reference(reference: str) -> bool:
    """Whether a (compact) reference is an Icelandic bank claim's: a kennitala, a claim bank,
    ledger 66, a claim number and a due date (YYYYMMDD), 30 digits."""
    ref = compact(reference).replace("+", "")
    if len(ref) != 30 or not ref.isdigit() or ref[14:16] != CLAIM_LEDGER:
        return False
    try:
        date(int(ref[22:26]), int(ref[26:28]), int(ref[28:30]))
    except ValueError:
        return False
    return True


def bank_claim_reference(claimant_id: str, claim_bank: str, claim_number: str, due: date) -> str:
    """The claim id as a compact reference (digits only): how claims are indexed and matched."""
    return bank_claim_id(claimant_id, claim_bank, claim_number, due).replace("+", "")


def viitenumber_from(number: int) -> str:
    """Estonian reference number (viitenumber), 7-3-1 check digit; 2 to 20 digits."""
    body = str(number)
    return body + _731_check(body)


# ISO 7064 MOD 97-10 reads letters as the numbers 10 (A) to 35 (Z).
_AS_DIGITS = {ord(c): str(n) for n, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}


def rf_from(number: int | str) -> str:
    """ISO 11649 creditor reference: RF + two check digits + up to 21 alphanumerics."""
    body = compact(str(number))
    # mod_97_10.calc_check_digits(body + "RF"), in one integer operation: a bulk of 10,000 claims
    # draws 10,000 references, and the library's digit-by-digit loop was a tenth of its work.
    remainder = int((body + "RF").translate(_AS_DIGITS)) % 97
    return f"RF{98 - 100 * remainder % 97:02d}{body}"


# Generated references are drawn at random, not counted: a counter shared by creditors lets each
# infer the others' volume and guess their debtors' valid references. 15 random digits make a
# guess hit an issued reference about once in a hundred million tries (fewer than 10^7 claims),
# and stay short enough to type into a netbank form (KID 16-17 digits, RF 19 characters).
RANDOM_DIGITS = 15


def random_number() -> int:
    """A reference body from the CSPRNG, without a leading zero (a payer typing the reference as a
    number would drop it)."""
    low: int = 10 ** (RANDOM_DIGITS - 1)
    return low + secrets.randbelow(9 * low)


def random_reference(jurisdiction: str, kid_scheme: KidScheme = "mod10") -> str:
    """A new reference for the creditor's country (`generate` of a random number). Uniqueness
    across creditors is the caller's database's."""
    return generate(jurisdiction, random_number(), kid_scheme)


def generated_kind(jurisdiction: str) -> ReferenceKind:
    """The kind of reference `generate` makes for the country (NO: KID, EE/FI: 7-3-1, elsewhere RF)."""
    match jurisdiction.upper():
        case "NO":
            return "kid"
        case "EE" | "FI":
            return "viitenumber"
        case _:
            return "rf"


def generate(jurisdiction: str, number: int, kid_scheme: KidScheme = "mod10") -> str:
    """The reference with check digits for `number` in the country's scheme (generated_kind)."""
    match generated_kind(jurisdiction):
        case "kid":
            return kid_from(number, kid_scheme)
        case "viitenumber":
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


def kind_in(jurisdiction: str, reference: str) -> ReferenceKind:
    """The kind of reference as the jurisdiction's payers read it: an Estonian 7-3-1 number may also
    pass a KID check digit by chance, and is still a viitenumber in Estonia (and a KID in Norway)."""
    ref = compact(reference)
    estonian = jurisdiction.upper() in ("EE", "FI") and ref.isdigit() and 2 <= len(ref) <= 20
    if estonian and _731_check(ref[:-1]) == ref[-1]:
        return "viitenumber"
    return kind_of(ref)


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
