"""The calendar and the windows: deadlines on business days (Icelandic half days closed), sending
windows per channel, and the one rule for retrying an unanswered call."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from krafa_events import Channel
from krafa_law import calendar, jurisdiction, windows

REYKJAVIK = ZoneInfo("Atlantic/Reykjavik")
OSLO = ZoneInfo("Europe/Oslo")


def test_icelandic_half_days_are_no_business_days() -> None:
    cal = calendar(jurisdiction("IS"))
    for day in (date(2025, 12, 24), date(2025, 12, 31), date(2026, 12, 24), date(2026, 12, 31)):
        assert day.weekday() < 5 and not cal.is_holiday(day) and cal.is_half_day(day)
        assert not cal.is_business_day(day)
    # Elsewhere a half day is an ordinary business day unless the pack says otherwise.
    assert calendar(jurisdiction("EE")).is_business_day(date(2025, 12, 23))


@pytest.mark.parametrize(
    ("code", "sent", "days", "expected"),
    [
        # 10 days from Sat 14 Dec 2024 is Tue 24 Dec (half day), then 25, 26 holidays, 27 Fri.
        ("IS", date(2024, 12, 14), 10, date(2024, 12, 27)),
        # Maundy Thursday 2025 (17 Apr) → Good Friday, Easter weekend, Easter Monday → Tue 22 Apr.
        ("IS", date(2025, 4, 7), 10, date(2025, 4, 22)),
        # Sumardagurinn fyrsti (Thu 24 Apr 2025) → Fri 25 Apr.
        ("IS", date(2025, 4, 14), 10, date(2025, 4, 25)),
        # A Sunday never: 14 days from Sun 1 Jun 2025 is Sun 15 Jun → Mon 16 Jun.
        ("NO", date(2025, 6, 1), 14, date(2025, 6, 16)),
        # Norway's 17 May 2027 is a Monday: → Tue 18 May.
        ("NO", date(2027, 5, 3), 14, date(2027, 5, 18)),
        # Estonia: Midsummer (23 and 24 Jun 2026, Tue/Wed) → Thu 25 Jun.
        ("EE", date(2026, 6, 9), 14, date(2026, 6, 25)),
    ],
)
def test_deadlines_end_on_business_days(code: str, sent: date, days: int, expected: date) -> None:
    cal = calendar(jurisdiction(code))
    pay_by = cal.deadline(sent, days)
    assert pay_by == expected
    assert cal.is_business_day(pay_by) and (pay_by - sent).days >= days


def test_the_eu_pack_takes_the_debtors_calendar() -> None:
    pack = jurisdiction("EU")
    assert calendar(pack, "DE").is_holiday(date(2025, 10, 3))  # Tag der Deutschen Einheit
    assert not calendar(pack, "FR").is_holiday(date(2025, 10, 3))
    assert calendar(pack, None).country == "ECB"


def test_sms_windows_come_from_the_pack() -> None:
    pack = jurisdiction("IS")
    cal = calendar(pack)
    saturday = datetime(2025, 3, 8, 12, 0, tzinfo=REYKJAVIK)
    assert windows.in_window(pack, cal, (Channel.SMS,), saturday, REYKJAVIK)
    assert not windows.in_window(pack, cal, (Channel.SMS,), saturday.replace(hour=16), REYKJAVIK)
    # Sunday evening → Monday 09:00.
    sunday = datetime(2025, 3, 9, 19, 0, tzinfo=REYKJAVIK)
    assert windows.next_window(pack, cal, (Channel.SMS,), sunday, REYKJAVIK) == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    # Aðfangadagur closes at 13:00: an SMS asked for at 14:00 waits until 27 December.
    eve = datetime(2025, 12, 24, 14, 0, tzinfo=REYKJAVIK)
    assert windows.next_window(pack, cal, (Channel.SMS,), eve, REYKJAVIK) == datetime(2025, 12, 27, 10, 0, tzinfo=UTC)
    # Email may go out on holidays, within its hours.
    assert windows.in_window(pack, cal, (Channel.EMAIL,), datetime(2025, 12, 25, 10, 0, tzinfo=REYKJAVIK), REYKJAVIK)


def test_an_unanswered_morning_call_is_retried_that_afternoon_then_the_next_calling_morning() -> None:
    pack = jurisdiction("NO")
    cal = calendar(pack)
    morning = datetime(2026, 3, 4, 10, 15, tzinfo=OSLO)  # a Wednesday
    first = windows.call_retry(pack, cal, morning, OSLO)
    assert (first.opens_at, first.closes_at, first.afternoon) == (
        datetime(2026, 3, 4, 13, 0, tzinfo=OSLO),
        datetime(2026, 3, 4, 20, 0, tzinfo=OSLO),
        True,
    )
    second = windows.call_retry(pack, cal, datetime(2026, 3, 4, 15, 0, tzinfo=OSLO), OSLO)
    assert second.opens_at == datetime(2026, 3, 5, 9, 0, tzinfo=OSLO) and not second.afternoon
    # Friday afternoon → Monday; Maundy Thursday 2026 (2 Apr) → Tuesday after Easter (7 Apr).
    friday = windows.call_retry(pack, cal, datetime(2026, 3, 6, 16, 0, tzinfo=OSLO), OSLO)
    assert friday.opens_at == datetime(2026, 3, 9, 9, 0, tzinfo=OSLO)
    easter = windows.call_retry(pack, cal, datetime(2026, 4, 1, 16, 0, tzinfo=OSLO), OSLO)
    assert easter.opens_at == datetime(2026, 4, 7, 9, 0, tzinfo=OSLO)


def test_the_calling_window_open_now_is_labelled_by_the_afternoon() -> None:
    pack = jurisdiction("IS")
    cal = calendar(pack)
    at = datetime(2026, 3, 4, 14, 30, tzinfo=REYKJAVIK)
    window = windows.call_window_at_or_after(pack, cal, at, REYKJAVIK)
    assert window.afternoon and window.opens_at.time() == time(13, 0) and window.closes_at.time() == time(20, 0)
    night = windows.call_window_at_or_after(pack, cal, at.replace(hour=21), REYKJAVIK)
    assert night.opens_at == datetime(2026, 3, 5, 9, 0, tzinfo=REYKJAVIK) and not night.afternoon
    assert night.opens_at - at > timedelta(hours=10)
