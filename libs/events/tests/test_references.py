"""The local payment identities: KID (MOD10 and MOD11, as Nets checks them), the Estonian 7-3-1
reference number, and the Icelandic bank claim's keys."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_events import references
from stdnum import luhn
from stdnum.iso7064 import mod_97_10


def _mod11_valid(kid: str) -> bool:
    # The Nets rule written out independently: weights 2..7 from the right, check 11 - sum % 11,
    # 11 gives 0 and 10 is not a printable digit.
    weights = [2, 3, 4, 5, 6, 7]
    total = sum(int(d) * weights[i % 6] for i, d in enumerate(reversed(kid[:-1])))
    check = 11 - total % 11
    return check != 10 and str(0 if check == 11 else check) == kid[-1]


@given(st.integers(min_value=1, max_value=10**12))
def test_mod11_kids_are_valid_digits_and_unique(number: int) -> None:
    kid = references.kid_from(number, "mod11")
    assert kid.isdigit()
    assert _mod11_valid(kid)
    assert references.validate("NO", kid) == kid
    assert references.kid_from(number + 1, "mod11") != kid


def test_mod11_uses_the_second_lead_digit_only_when_the_first_has_no_check() -> None:
    # Bodies whose MOD11 check would be "-" exist; they take lead digit 1.
    kids = [references.kid_from(n, "mod11") for n in range(1, 400)]
    assert len(set(kids)) == len(kids)
    assert {k[0] for k in kids} == {"0", "1"}
    assert all(_mod11_valid(k) for k in kids)


def test_known_kids() -> None:
    # Worked examples: Luhn of 1234567 is 4; MOD11 of 0 0000 1234 (weights 7,6,5,4,3,2 on 1234… from
    # the right: 4*2+3*3+2*4+1*5 = 30, 30 % 11 = 8, 11 - 8 = 3).
    assert references.kid_from(1234567) == "12345674"
    assert luhn.is_valid(references.kid_from(1234567))
    assert references.kid_from(1234, "mod11") == "0000012343"
    assert references.kid_scheme_of("0000012343") == "mod11"
    assert references.kid_scheme_of("12345674") == "mod10"
    assert references.kid_scheme_of("12345675") is None


def test_a_kid_valid_under_both_check_digits_is_named_by_the_creditors_scheme() -> None:
    # 000000029 + 9 holds under MOD11 (from the right 9*2 + 2*3 = 24, 11 - 24 % 11 = 9) and under
    # Luhn (9, then 9 doubled = 18 -> 9, then 2: 20, a multiple of 10).
    kid = references.kid_from(29, "mod11")
    assert kid == "0000000299" and luhn.is_valid(kid)
    assert references.kid_scheme_of(kid, "mod11") == "mod11"
    assert references.kid_scheme_of(kid, "mod10") == "mod10"
    assert references.kid_scheme_of(kid) == "mod10"  # unknown agreement: MOD10 first, as Nets tries it
    # The expected scheme wins only where its check digit holds.
    assert references.kid_scheme_of("10000008", "mod11") == "mod10"


def test_estonian_reference_number_7_3_1() -> None:
    # Weights 7, 3, 1 from the right: 1*7 + 6*3 + 5*1 + 4*7 + 3*3 + 2*1 + 1*7 = 76, check (10 - 6) = 4.
    assert references.viitenumber_from(1234561) == "12345614"
    assert references.validate("EE", "12345614") == "12345614"
    with pytest.raises(references.InvalidReference):
        references.validate("EE", "12345616")


def test_bank_claim_keys() -> None:
    due = date(2026, 9, 1)
    assert references.claim_number_from(1) == "000001"
    assert references.claim_number_from(999_999) == "999999"
    assert references.claim_number_from(1_000_000) == "000001"
    assert references.bank_claim_account("0133", "000123") == "013366000123"
    claim_id = references.bank_claim_id("4101692069", "0133", "000123", due)
    assert claim_id == "4101692069013366000123+20260901"
    assert references.bank_claim_reference("4101692069", "0133", "000123", due) == claim_id.replace("+", "")
    with pytest.raises(references.InvalidReference):
        references.bank_claim_account("133", "000123")
    reference = references.bank_claim_reference("4101692069", "0133", "000123", due)
    assert references.is_bank_claim_reference(reference)
    assert references.is_bank_claim_reference(claim_id)
    assert not references.is_bank_claim_reference(reference[:-2] + "32")  # 2026-09-32
    assert not references.is_bank_claim_reference(reference.replace("013366", "013326"))
    assert not references.is_bank_claim_reference(references.rf_from(123))


def test_an_estonian_reference_that_also_passes_a_kid_check_is_read_by_the_payers_country() -> None:
    # 26: 7-3-1 check digit 6 over "2", and by chance a valid Luhn (KID MOD10) number too.
    assert references.viitenumber_from(2) == "26"
    assert references.kind_in("EE", "26") == "viitenumber"
    assert references.kind_in("NO", "26") == "kid"
    assert references.kind_in("EE", "RF18539007547034") == "rf"


@given(
    st.integers(min_value=1, max_value=10**21 - 1)
    | st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=21)
)
def test_rf_check_digits_are_iso_7064_mod_97_10(body: int | str) -> None:
    # Computed in one integer operation; python-stdnum's implementation of the standard is the oracle.
    compact = str(body)
    assert references.rf_from(body) == "RF" + mod_97_10.calc_check_digits(compact + "RF") + compact
