from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from krafa_scheduler import domain


def test_first_step_is_the_morning_after_the_due_date() -> None:
    moment = domain.send_moment(domain.step_day(1, date(2026, 3, 2), date(2026, 3, 12)), "IS", "Atlantic/Reykjavik")
    assert moment == datetime(2026, 3, 3, 9, 0, tzinfo=ZoneInfo("Atlantic/Reykjavik"))


def test_christmas_and_the_weekend_are_skipped_in_iceland() -> None:
    moment = domain.send_moment(date(2026, 12, 25), "IS", "Atlantic/Reykjavik")
    assert moment.date() == date(2026, 12, 28)


def test_second_step_waits_for_the_icelandic_final_due_date() -> None:
    assert domain.step_day(2, date(2026, 3, 2), date(2026, 3, 20)) == date(2026, 3, 21)
    assert domain.step_day(2, date(2026, 3, 2), date(2026, 3, 2)) == date(2026, 3, 16)


def test_reminder_identity_is_stable() -> None:
    import uuid

    claim = uuid.uuid4()
    assert domain.reminder_id(claim, 1) == domain.reminder_id(claim, 1) != domain.reminder_id(claim, 2)


@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)), st.sampled_from(["IS", "NO", "EE", "DE"]))
def test_steps_land_on_business_days_in_the_morning(due: date, country: str) -> None:
    for step in (1, 2):
        moment = domain.send_moment(domain.step_day(step, due, due), country, "Europe/Oslo")
        assert domain.is_business_day(moment.date(), country)
        assert moment.hour == 9
        assert moment.date() > due
