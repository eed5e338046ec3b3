"""The legal calendar of a jurisdiction: public holidays, half days, business days and deadlines.
One `Calendar` per (pack, country) — the country is the pack's own, or for the generic EU pack
the debtor's. Pure; the `holidays` package supplies the dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

import holidays

from krafa_law.packs import Jurisdiction


def holiday_country(pack: Jurisdiction, debtor_country: str | None) -> str:
    """Whose holidays apply: the pack's, or — the generic EU pack has none of its own — the
    debtor's country (falling back to the TARGET calendar)."""
    if pack.code == "EU":
        return (debtor_country or pack.holidays).upper()
    return pack.holidays.upper()


@lru_cache(maxsize=64)
def _public(country: str) -> holidays.HolidayBase:
    try:
        if country == "ECB":
            return holidays.financial_holidays("XECB")
        return holidays.country_holidays(country)
    except NotImplementedError:  # a country the library does not know: weekends only
        return holidays.HolidayBase()


@lru_cache(maxsize=64)
def _half_days(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, categories=("half_day",))
    except (NotImplementedError, ValueError):  # no such country, or no half days there
        return holidays.HolidayBase()


@dataclass(frozen=True, slots=True)
class Calendar:
    country: str
    half_days_closed: bool
    half_day_closes_at: time

    def is_holiday(self, day: date) -> bool:
        return day in _public(self.country)

    def is_half_day(self, day: date) -> bool:
        return self.half_days_closed and day in _half_days(self.country)

    def closes_early(self, day: date) -> time | None:
        """When a half day ends (nothing goes out after), or None on a full day."""
        return self.half_day_closes_at if self.is_half_day(day) else None

    def is_business_day(self, day: date) -> bool:
        """A weekday that is no public holiday and, where the pack says so, no half day."""
        return day.weekday() < 5 and not self.is_holiday(day) and not self.is_half_day(day)

    def next_business_day(self, day: date) -> date:
        """`day` itself when it is a business day, else the first business day after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add_business_days(self, day: date, n: int) -> date:
        while n > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                n -= 1
        return day

    def deadline(self, sent_on: date, days: int) -> date:
        """The pay-by date of a notice sent on `sent_on` giving `days` days: that many calendar
        days on, moved to the next business day (a deadline never ends on a Sunday, a holiday or
        a half day — the debtor always gets at least `days` days, and a whole bank day at the end)."""
        return self.next_business_day(sent_on + timedelta(days=days))


@lru_cache(maxsize=256)
def _calendar(country: str, half_days_closed: bool, closes_at: time) -> Calendar:
    return Calendar(country, half_days_closed, closes_at)


def calendar(pack: Jurisdiction, debtor_country: str | None = None) -> Calendar:
    return _calendar(holiday_country(pack, debtor_country), pack.half_days_closed, pack.half_day_closes_at)


def preload(countries: tuple[str, ...]) -> None:
    """Build the holiday tables ahead (the library loads each country's module on first use,
    which takes seconds on a busy machine): call from a thread at start-up."""
    today = date.today()
    for country in countries:
        for table in (_public(country.upper()), _half_days(country.upper())):
            for year in (today.year - 1, today.year, today.year + 1):
                _ = date(year, 1, 1) in table
