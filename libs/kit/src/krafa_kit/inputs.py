"""The rules every service applies to values an API client sends, so each rule has one owner.

- Amounts and counts are JSON integers: `1200.0`, `"1200"` and `true` are refused (an ERP that
  sends 12.00 EUR as `12.0` must hear about it, not get a 12-cent claim).
- Calendar dates lie within DATE_WINDOW_YEARS of today (wall clock): a claim dated in year 9999
  is a typo, and date arithmetic on it (a final due date ten days later) has nowhere to go.
- Identifiers the client chooses and later reads back by URL (customer numbers) are printable,
  have no slash and no surrounding white space.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt

DATE_WINDOW_YEARS = 100


def date_window(today: date | None = None) -> tuple[date, date]:
    """The first and last calendar date a request may carry."""
    today = today or datetime.now(UTC).date()
    return _shift(today, -DATE_WINDOW_YEARS), _shift(today, DATE_WINDOW_YEARS)


def _shift(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def check_date(value: date) -> date:
    first, last = date_window()
    if not first <= value <= last:
        raise ValueError(
            f"must lie within {DATE_WINDOW_YEARS} years of today ({first.isoformat()} to {last.isoformat()})"
        )
    return value


def check_datetime(value: datetime) -> datetime:
    check_date(value.date() if value.tzinfo is None else value.astimezone(UTC).date())
    return value


_WINDOW = f"within {DATE_WINDOW_YEARS} years of today"
BoundedDate = Annotated[date, AfterValidator(check_date), Field(description=f"a calendar date {_WINDOW}")]
BoundedDatetime = Annotated[datetime, AfterValidator(check_datetime)]

# A JSON integer, never a float, a numeric string or a boolean.
Integer = StrictInt


# A printable identifier without '/', control characters or surrounding white space: what a
# client can put in a URL path and read back exactly as it sent it.
IDENTIFIER_PATTERN = r"^[^\s/\x00-\x1f\x7f]([^/\x00-\x1f\x7f]*[^\s/\x00-\x1f\x7f])?$"
# Printable text without control characters or surrounding white space (may contain '/').
LABEL_PATTERN = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
