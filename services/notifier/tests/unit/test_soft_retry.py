"""The soft-bounce re-send rule, pure: schedule, covered by a pending re-send, or exhausted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from krafa_notifier.soft_retry import Retry, SoftRetryPolicy, SoftRetrySettings, decide

T0 = datetime(2026, 3, 3, 9, tzinfo=UTC)
POLICY = SoftRetryPolicy(delay=timedelta(hours=4), max_retries=2, window=timedelta(hours=72))


def test_the_first_soft_bounce_of_a_sent_email_schedules_a_resend() -> None:
    assert decide("sent", [], T0, POLICY) == "schedule"


@pytest.mark.parametrize("status", ["pending", "sending", "dropped", "failed"])
def test_a_bounce_while_the_delivery_is_not_sent_adds_nothing(status: str) -> None:
    assert decide(status, [Retry(1, "fired", T0)], T0 + timedelta(hours=5), POLICY) == "covered"


def test_a_bounce_while_a_resend_waits_adds_nothing() -> None:
    assert decide("sent", [Retry(1, "scheduled", T0)], T0 + timedelta(minutes=1), POLICY) == "covered"


def test_after_max_resends_within_the_window_the_bounce_is_exhausted() -> None:
    fired = [Retry(1, "fired", T0), Retry(2, "fired", T0 + timedelta(hours=5))]
    assert decide("sent", fired, T0 + timedelta(hours=10), POLICY) == "exhausted"
    # Re-sends older than the window no longer count; cancelled or skipped ones never do.
    assert decide("sent", fired, T0 + timedelta(hours=73), POLICY) == "schedule"
    assert decide("sent", [Retry(1, "skipped", T0), Retry(2, "cancelled", T0)], T0, POLICY) == "schedule"


def test_zero_resends_makes_every_soft_bounce_hard() -> None:
    assert decide("sent", [], T0, SoftRetryPolicy(max_retries=0)) == "exhausted"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SoftRetrySettings().policy == POLICY
    monkeypatch.setenv("KRAFA_SOFT_RETRY_DELAY_S", "60")
    monkeypatch.setenv("KRAFA_SOFT_RETRY_MAX", "5")
    monkeypatch.setenv("KRAFA_SOFT_RETRY_WINDOW_H", "24")
    assert SoftRetrySettings().policy == SoftRetryPolicy(timedelta(seconds=60), 5, timedelta(hours=24))
