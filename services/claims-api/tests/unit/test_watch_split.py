"""Claim watch (kröfuvakt): what a payment collects is shared between the creditor and the
collection agency by the agency's terms — the shares always add up to what was collected, the
agency never gets more than its percentage, and the odd minor unit goes to the creditor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_claims_api import domain

AMOUNTS = st.integers(min_value=-(10**12), max_value=10**12)
SHARES = st.integers(min_value=0, max_value=100)


@given(AMOUNTS, SHARES)
def test_the_shares_always_add_up_to_what_was_collected(collected: int, share: int) -> None:
    split = domain.watch_split(collected, share)
    assert split.collected_minor == collected
    assert split.creditor_minor + split.agency_minor == collected


@given(AMOUNTS, SHARES)
def test_the_agency_never_gets_more_than_its_percentage_and_less_only_by_a_minor_unit(
    collected: int, share: int
) -> None:
    agency = abs(domain.watch_split(collected, share).agency_minor)
    exact = abs(collected) * (100 - share)  # the agency's share x 100, exactly
    assert agency * 100 <= exact < (agency + 1) * 100


@given(st.integers(min_value=0, max_value=10**12), SHARES)
def test_a_reversal_of_the_same_amount_takes_back_exactly_what_the_payment_gave(collected: int, share: int) -> None:
    paid, reversed_ = domain.watch_split(collected, share), domain.watch_split(-collected, share)
    assert (reversed_.creditor_minor, reversed_.agency_minor) == (-paid.creditor_minor, -paid.agency_minor)


def test_fifty_fifty_with_the_odd_minor_unit_to_the_creditor() -> None:
    assert domain.watch_split(10_000, 50) == domain.WatchSplit(10_000, 5_000, 5_000)
    assert domain.watch_split(10_001, 50) == domain.WatchSplit(10_001, 5_001, 5_000)
    assert domain.watch_split(1, 50) == domain.WatchSplit(1, 1, 0)
    assert domain.watch_split(0, 50) == domain.WatchSplit(0, 0, 0)
    # Other terms: all to the creditor, all to the agency, a third.
    assert domain.watch_split(999, 100).agency_minor == 0
    assert domain.watch_split(999, 0).creditor_minor == 0
    assert domain.watch_split(1_000, 67) == domain.WatchSplit(1_000, 670, 330)


@pytest.mark.parametrize("share", [-1, 101])
def test_a_share_outside_0_to_100_is_refused(share: int) -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        domain.watch_split(1_000, share)
