"""The escalation timeline of one claim: which step comes next and when. Pure: no I/O.

The default policy (until per-creditor policies arrive): at the first sending window after the
due date has passed, DueDatePassed and a friendly reminder (step 1); after the final due date
(Iceland: due + 10) or 14 days, a firmer reminder (step 2); then the timeline completes.
Debtor-facing steps land at 09:00 in the debtor's time zone on a business day of the
jurisdiction (weekends and public holidays from the `holidays` package are skipped).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
from krafa_events import Channel

SEND_AT = time(9, 0)
SECOND_STEP_DAYS = 14
REMINDER_NAMESPACE = uuid.UUID("6f0b2c8e-8a43-4c55-9d7e-7f7d6b0d7a11")


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    channels: tuple[Channel, ...]
    template: str
    tone: Literal["friendly", "firm", "final"]


STEPS: dict[int, Step] = {
    1: Step(1, (Channel.EMAIL, Channel.LETTER), "reminder", "friendly"),
    2: Step(2, (Channel.EMAIL, Channel.LETTER), "reminder", "firm"),
}
LAST_STEP = max(STEPS)


@lru_cache(maxsize=64)
def _holidays(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country.upper())
    except NotImplementedError:
        return holidays.HolidayBase()


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country)


def next_business_day(day: date, country: str) -> date:
    while not is_business_day(day, country):
        day += timedelta(days=1)
    return day


def send_moment(day: date, country: str, time_zone: str) -> datetime:
    """09:00 local on the first business day on or after `day`."""
    try:
        zone = ZoneInfo(time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(next_business_day(day, country), SEND_AT, tzinfo=zone)


def step_day(step: int, due_date: date, final_due_date: date) -> date:
    """The calendar day a step is due, before business-day adjustment."""
    if step == 1:
        return due_date + timedelta(days=1)
    later = max(final_due_date, due_date + timedelta(days=SECOND_STEP_DAYS - 1))
    return later + timedelta(days=1)


def reminder_id(claim_id: uuid.UUID, step: int) -> uuid.UUID:
    # Stable per (claim, step): a redelivered or re-swept step keeps its identity, and the
    # notifier's unique delivery key turns a second ReminderDue into nothing.
    return uuid.uuid5(REMINDER_NAMESPACE, f"{claim_id}:{step}")
