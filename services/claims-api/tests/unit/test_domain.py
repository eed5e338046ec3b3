from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_claims_api import domain
from krafa_events import references
from krafa_events.references import InvalidReference
from stdnum import luhn


def test_iceland_final_due_date_is_ten_days_after_the_due_date() -> None:
    assert domain.default_final_due_date("IS", date(2026, 3, 2)) == date(2026, 3, 12)
    assert domain.default_final_due_date("NO", date(2026, 3, 2)) == date(2026, 3, 2)


def test_reference_is_generated_per_country_and_validated_when_given() -> None:
    kid = domain.payment_reference("NO", None, references.random_number())
    assert kid.isdigit() and len(kid) == 16 and luhn.is_valid(kid)
    assert domain.payment_reference("IS", None, references.random_number()).startswith("RF")
    assert domain.payment_reference("NO", None, references.random_number()) != kid
    mod11 = domain.payment_reference("NO", None, references.random_number(), "mod11")
    assert len(mod11) == 17 and references.validate("NO", mod11) == mod11
    assert domain.payment_reference("NO", "1234 5674", 1) == "12345674"
    with pytest.raises(InvalidReference):
        domain.payment_reference("NO", "12345675", 1)


@given(st.integers(0, 10**9), st.integers(0, 10**6), st.integers(0, 2 * 10**9))
def test_balance_never_negative_and_overpayment_recorded(amount: int, fees: int, paid: int) -> None:
    balance = domain.Balance(amount, fees, paid)
    assert balance.balance_minor >= 0 and balance.overpaid_minor >= 0
    assert balance.balance_minor - balance.overpaid_minor == amount + fees - paid
    assert balance.settled == (paid >= amount + fees)


def test_api_key_round_trip_and_wrong_secret() -> None:
    key = domain.new_api_key()
    prefix, secret = domain.parse_token(key.token) or ("", "")
    assert prefix == key.prefix
    assert domain.secret_matches(secret, key.secret_hash)
    assert not domain.secret_matches(secret + "x", key.secret_hash)
    assert domain.parse_token("Bearer nonsense") is None
