"""The debtor's self-service terms: within them granted at once, beyond them a request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_claims_api.portal import domain

TODAY = date(2026, 3, 2)
TERMS = domain.Terms(max_deferral_days=14, max_instalments=3, max_plan_days=90, min_instalment_minor=2_000)


def test_a_deferral_within_the_days_is_granted_once() -> None:
    assert domain.deferral_verdict(TERMS, TODAY + timedelta(days=14), TODAY, used=False).within
    late = domain.deferral_verdict(TERMS, TODAY + timedelta(days=15), TODAY, used=False)
    assert not late.within and "14 days" in late.reasons[0]
    assert not domain.deferral_verdict(TERMS, TODAY + timedelta(days=3), TODAY, used=True).within


def test_a_plan_is_judged_on_count_length_and_smallest_instalment() -> None:
    ok = domain.propose_plan(9_000, 3, TODAY, 30)
    assert domain.plan_verdict(TERMS, ok, TODAY, used=False).within
    assert not domain.plan_verdict(TERMS, domain.propose_plan(9_000, 4, TODAY, 30), TODAY, used=False).within
    small = domain.plan_verdict(TERMS, domain.propose_plan(5_000, 3, TODAY, 30), TODAY, used=False)
    assert not small.within and any("below" in r for r in small.reasons)
    long = domain.plan_verdict(TERMS, domain.propose_plan(9_000, 3, TODAY, 50), TODAY, used=False)
    assert not long.within


@given(balance=st.integers(min_value=2, max_value=10**9), count=st.integers(min_value=2, max_value=60))
def test_a_proposed_plan_adds_up_to_the_balance_exactly(balance: int, count: int) -> None:
    if balance < count:
        with pytest.raises(ValueError):
            domain.propose_plan(balance, count, TODAY, 30)
        return
    plan = domain.propose_plan(balance, count, TODAY, 30)
    assert sum(a for _, a in plan) == balance
    assert [d for d, _ in plan] == sorted({d for d, _ in plan})
    assert max(a for _, a in plan) - min(a for _, a in plan) < count  # the remainder only on the first
