"""Calling windows for phone-call tasks: agents call within the call windows of the debtor's
jurisdiction pack, in the debtor's own time zone, never on the public holidays of the debtor's
country. A call not answered in the morning is tried again that afternoon; one not answered in
the afternoon, the next calling morning. The windows and the retry rule are krafa_law's — the
same the scheduler plans with — and this queue is the only place a retry happens. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import krafa_law
from krafa_events import Channel
from krafa_law import windows as law_windows

MAX_ATTEMPTS: Final = krafa_law.jurisdiction("EU").call_retry.max_attempts  # two calling days, morning and afternoon


@dataclass(frozen=True, slots=True)
class Window:
    opens_at: datetime
    closes_at: datetime
    afternoon: bool = False

    @property
    def is_morning(self) -> bool:
        return not self.afternoon


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _law(country: str) -> tuple[krafa_law.Jurisdiction, krafa_law.Calendar]:
    pack = krafa_law.jurisdiction(country or "EU")
    return pack, krafa_law.calendar(pack, country.upper() or None)


def preload(countries: tuple[str, ...], years: tuple[int, ...]) -> None:
    """Build the holiday calendars ahead (the library loads each country's module on first use,
    which takes seconds on a busy machine): call from a thread at start-up."""
    del years  # the calendars cover the years around today
    krafa_law.calendar_preload(countries)


def is_calling_day(day: date, country: str) -> bool:
    pack, cal = _law(country)
    return bool(law_windows.spans(pack, cal, (Channel.CALL,), day))


def max_attempts(country: str) -> int:
    return _law(country)[0].call_retry.max_attempts


def window_at_or_after(moment: datetime, *, time_zone: str | None, country: str) -> Window:
    """The calling window that is open at `moment`, or the next one to open."""
    pack, cal = _law(country)
    w = law_windows.call_window_at_or_after(pack, cal, moment, zone(time_zone))
    return Window(w.opens_at, w.closes_at, w.afternoon)


def retry_window(attempted_at: datetime, *, time_zone: str | None, country: str) -> Window:
    """Where a call that was not answered at `attempted_at` goes next: the same day's afternoon
    if it was tried in the morning, otherwise the next calling day's morning."""
    pack, cal = _law(country)
    w = law_windows.call_retry(pack, cal, attempted_at, zone(time_zone))
    return Window(w.opens_at, w.closes_at, w.afternoon)


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
