"""The soft-bounce policy: the N-th soft bounce for one creditor's address within the window
counts as hard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from krafa_bounce_handler import domain
from krafa_bounce_handler.domain import BounceVerdict, SoftBouncePolicy

SOFT = BounceVerdict("soft", "4.2.2", "452 4.2.2 Mailbox full", "anna@example.is", matched=True)
HARD = BounceVerdict("hard", "5.1.1", "550 5.1.1 User unknown", "anna@example.is", matched=True)
POLICY = SoftBouncePolicy(max_soft=3, window=timedelta(hours=72))


@pytest.mark.parametrize("earlier", [0, 1])
def test_soft_bounces_below_the_threshold_stay_soft(earlier: int) -> None:
    assert domain.apply_soft_policy(SOFT, earlier, POLICY) is None


@pytest.mark.parametrize("earlier", [2, 3, 10])
def test_the_nth_soft_bounce_and_later_ones_are_hard_with_the_escalation_noted(earlier: int) -> None:
    escalated = domain.apply_soft_policy(SOFT, earlier, POLICY)
    assert escalated is not None
    assert (escalated.kind, escalated.status, escalated.reported_address) == ("hard", "4.2.2", "anna@example.is")
    assert escalated.reason == (f"escalated: soft bounce {earlier + 1} within 72h (limit 3): 452 4.2.2 Mailbox full")


def test_a_hard_verdict_is_left_alone_and_a_limit_of_one_makes_every_soft_bounce_hard() -> None:
    assert domain.apply_soft_policy(HARD, 5, POLICY) is None
    once = domain.apply_soft_policy(SOFT, 0, SoftBouncePolicy(max_soft=1, window=timedelta(hours=1)))
    assert once is not None and once.kind == "hard"
    with pytest.raises(ValueError, match="max_soft"):
        SoftBouncePolicy(max_soft=0)


def test_the_escalated_reason_is_bounded() -> None:
    long = BounceVerdict("soft", None, "x" * 300, "anna@example.is", matched=True)
    escalated = domain.apply_soft_policy(long, 2, POLICY)
    assert escalated is not None and len(escalated.reason) == 300
