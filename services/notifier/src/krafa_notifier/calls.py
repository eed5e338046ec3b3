"""Calling windows for phone-call tasks (docs/domain.md: SMS, email and phone): agents call on weekdays between 09:00
and 20:00 in the debtor's own time zone, never on the public holidays of the debtor's country
(calling on a holiday breaches good collection practice). A call not answered in the morning is
tried again in the afternoon window; one not answered in the afternoon, the next calling morning.
Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MORNING_OPENS: Final = time(9, 0)
AFTERNOON_OPENS: Final = time(13, 0)
DAY_CLOSES: Final = time(20, 0)
MAX_ATTEMPTS: Final = 4  # two calling days, morning and afternoon


@dataclass(frozen=True, slots=True)
class Window:
    opens_at: datetime
    closes_at: datetime

    @property
    def is_morning(self) -> bool:
        return self.opens_at.timetz().replace(tzinfo=None) < AFTERNOON_OPENS


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    # Imported on first use (and preloaded off the event loop): it takes seconds to load, which
    # a restarting service should not spend before it is ready.
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:  # a country the library does not know: weekends only
        return frozenset()


def preload(countries: tuple[str, ...], years: tuple[int, ...]) -> None:
    """Build the holiday calendars ahead (the library loads each country's module on first use,
    which takes seconds on a busy machine): call from a thread at start-up."""
    for country in countries:
        for year in years:
            _holidays(country, year)


def is_calling_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country.upper(), day.year)


def _window(day: date, opens: time, tz: ZoneInfo) -> Window:
    return Window(datetime.combine(day, opens, tz), datetime.combine(day, DAY_CLOSES, tz))


def window_at_or_after(moment: datetime, *, time_zone: str | None, country: str) -> Window:
    """The calling window that is open at `moment`, or the next one to open."""
    tz = zone(time_zone)
    local = moment.astimezone(tz)
    day = local.date()
    if is_calling_day(day, country) and local.time() < DAY_CLOSES:
        opens = MORNING_OPENS if local.time() < AFTERNOON_OPENS else AFTERNOON_OPENS
        window = _window(day, opens, tz)
        # Inside the window already: it stays open until 20:00; the start is only the label.
        return window
    return _next_morning(day, tz, country)


def _next_morning(after: date, tz: ZoneInfo, country: str) -> Window:
    day = after + timedelta(days=1)
    while not is_calling_day(day, country):
        day += timedelta(days=1)
    return _window(day, MORNING_OPENS, tz)


def retry_window(attempted_at: datetime, *, time_zone: str | None, country: str) -> Window:
    """Where a call that was not answered at `attempted_at` goes next: the same day's afternoon
    if it was tried in the morning, otherwise the next calling day's morning."""
    tz = zone(time_zone)
    local = attempted_at.astimezone(tz)
    if local.time() < AFTERNOON_OPENS and is_calling_day(local.date(), country):
        return _window(local.date(), AFTERNOON_OPENS, tz)
    return _next_morning(local.date(), tz, country)


def normalise_phone(raw: str, region: str = "IS") -> str:
    """E.164 of a number as a person or a phone system writes it ("+354 555 1234", "5551234"
    in `region`); ValueError if it cannot be a phone number."""
    import phonenumbers  # loaded on first use: its metadata is large

    try:
        parsed = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
