"""Calling windows: weekdays 09–20 in the debtor's zone, no public holidays, morning → afternoon."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from krafa_notifier.calls import normalise_phone, retry_window, window_at_or_after

OSLO = ZoneInfo("Europe/Oslo")


def test_a_task_due_before_nine_waits_for_the_morning_window() -> None:
    # Monday 2 March 2026, 06:00 in Reykjavík (UTC all year).
    w = window_at_or_after(datetime(2026, 3, 2, 6, tzinfo=UTC), time_zone="Atlantic/Reykjavik", country="IS")
    assert (w.opens_at, w.closes_at) == (datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 20, tzinfo=UTC))
    assert w.is_morning


def test_windows_follow_the_debtors_own_time_zone() -> None:
    # 19:30 UTC is 20:30 in Oslo in winter: too late there, so the next morning, 09:00 Oslo time.
    w = window_at_or_after(datetime(2026, 3, 2, 19, 30, tzinfo=UTC), time_zone="Europe/Oslo", country="NO")
    assert w.opens_at == datetime(2026, 3, 3, 9, tzinfo=OSLO)


def test_weekends_and_public_holidays_are_skipped() -> None:
    # Friday 20:00 → Monday; Wednesday 17 June 2026 is Iceland's National Day → Thursday.
    friday = window_at_or_after(datetime(2026, 3, 6, 20, 0, tzinfo=UTC), time_zone="Atlantic/Reykjavik", country="IS")
    assert friday.opens_at == datetime(2026, 3, 9, 9, tzinfo=UTC)
    national_day = window_at_or_after(datetime(2026, 6, 17, 10, tzinfo=UTC), time_zone="UTC", country="IS")
    assert national_day.opens_at == datetime(2026, 6, 18, 9, tzinfo=UTC)


def test_no_answer_in_the_morning_retries_in_the_afternoon_then_the_next_morning() -> None:
    morning = retry_window(datetime(2026, 3, 6, 10, 15, tzinfo=UTC), time_zone="Atlantic/Reykjavik", country="IS")
    assert morning.opens_at == datetime(2026, 3, 6, 13, tzinfo=UTC) and not morning.is_morning
    afternoon = retry_window(datetime(2026, 3, 6, 15, 0, tzinfo=UTC), time_zone="Atlantic/Reykjavik", country="IS")
    assert afternoon.opens_at == datetime(2026, 3, 9, 9, tzinfo=UTC)  # Friday → Monday


def test_an_unknown_zone_is_treated_as_utc() -> None:
    w = window_at_or_after(datetime(2026, 3, 2, 10, tzinfo=UTC), time_zone="Mars/Olympus", country="XX")
    assert w.opens_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [("+354 661 2345", "IS", "+3546612345"), ("661 2345", "IS", "+3546612345"), ("412 34 567", "NO", "+4741234567")],
)
def test_phone_numbers_normalise_to_e164(raw: str, region: str, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


def test_a_non_number_is_refused() -> None:
    with pytest.raises(ValueError):
        normalise_phone("call me maybe")
