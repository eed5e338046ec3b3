"""When a debtor may be contacted: the sending windows of each channel in the debtor's own time
zone, closed on public holidays (unless the channel may go out then) and after a half day closes;
and the calling windows an agent works in, with the one rule for retrying an unanswered call.

The scheduler plans steps inside these windows and the notifier holds a send (an SMS at night, a
call task) to them: both call these functions with the claim's pack, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from krafa_events import Channel

from krafa_law.calendar import Calendar
from krafa_law.packs import Jurisdiction

SEARCH_DAYS = 60
WHOLE_DAY = (time(0, 0), time(23, 59, 59))

Span = tuple[time, time]


def _intervals(pack: Jurisdiction, cal: Calendar, channel: Channel, day: date) -> list[Span]:
    rule = pack.windows.get(channel)
    if rule is None:
        return [WHOLE_DAY]
    if rule.holidays:
        return [(w.start, w.end) for w in rule.windows if day.weekday() in w.days]
    if cal.is_holiday(day):
        return []
    spans = [(w.start, w.end) for w in rule.windows if day.weekday() in w.days]
    closes = cal.closes_early(day)
    if closes is not None:
        spans = [(s, min(e, closes)) for s, e in spans if s < closes]
    return spans


def _intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((s, e) for s, e in out if s < e)


_SPANS: dict[tuple[object, ...], list[Span]] = {}


def spans(
    pack: Jurisdiction, cal: Calendar, channels: tuple[Channel, ...], day: date, business_days_only: bool = False
) -> list[Span]:
    """The local times of `day` inside the windows of every one of `channels` — none at all on a
    day that is no business day when `business_days_only` (a legal notice) — cached: packs are
    static."""
    key = (pack.code, cal, channels, day, business_days_only)
    hit = _SPANS.get(key)
    if hit is None:
        hit = [WHOLE_DAY] if not business_days_only or cal.is_business_day(day) else []
        for channel in channels:
            hit = _intersect(hit, _intervals(pack, cal, channel, day))
        if len(_SPANS) > 50_000:
            _SPANS.clear()
        _SPANS[key] = hit
    return hit


def in_window(
    pack: Jurisdiction,
    cal: Calendar,
    channels: tuple[Channel, ...],
    moment: datetime,
    tz: ZoneInfo,
    business_days_only: bool = False,
) -> bool:
    local = moment.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    return any(s <= t < e for s, e in spans(pack, cal, channels, local.date(), business_days_only))


def next_window(
    pack: Jurisdiction,
    cal: Calendar,
    channels: tuple[Channel, ...],
    moment: datetime,
    tz: ZoneInfo,
    prefer: time | None = None,
    business_days_only: bool = False,
) -> datetime:
    """The earliest moment at or after `moment` inside the windows of every channel (and on a
    business day, when `business_days_only`); on a later day, at `prefer` (the step's time of
    day) when the window allows it. A pack that leaves no window within SEARCH_DAYS returns
    `moment` rather than stall forever."""
    if not channels and not business_days_only:
        return moment
    local = moment.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, end in spans(pack, cal, channels, day, business_days_only):
            if offset == 0 and now_t >= start:
                if now_t < end:
                    return moment
                continue
            if offset > 0 and prefer is not None and start < prefer < end:
                start = prefer
            return datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
    return moment


# -- calls ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallWindow:
    opens_at: datetime
    closes_at: datetime
    afternoon: bool


def _call_window(pack: Jurisdiction, day: date, start: time, end: time, tz: ZoneInfo) -> CallWindow:
    afternoon = start >= pack.call_retry.afternoon_from
    return CallWindow(datetime.combine(day, start, tzinfo=tz), datetime.combine(day, end, tzinfo=tz), afternoon)


def call_window_at_or_after(pack: Jurisdiction, cal: Calendar, moment: datetime, tz: ZoneInfo) -> CallWindow:
    """The calling window open at `moment` (labelled afternoon from the pack's afternoon time),
    or the next one to open."""
    local = moment.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    afternoon = pack.call_retry.afternoon_from
    for offset in range(SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for start, end in spans(pack, cal, (Channel.CALL,), day):
            if offset == 0:
                if now_t >= end:
                    continue
                if now_t >= start:
                    opens = afternoon if start < afternoon <= now_t else start
                    return _call_window(pack, day, opens, end, tz)
            return _call_window(pack, day, start, end, tz)
    raise ValueError(f"{pack.code}: no calling window within {SEARCH_DAYS} days")


def call_retry(pack: Jurisdiction, cal: Calendar, attempted_at: datetime, tz: ZoneInfo) -> CallWindow:
    """Where a call not answered at `attempted_at` goes next: the same day's afternoon when it
    was tried in the morning and the day's calling window reaches into the afternoon, else the
    next calling day's first window. The only retry rule: the notifier's call queue applies it
    to the same task (no second task is ever made for a retry)."""
    local = attempted_at.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    afternoon = pack.call_retry.afternoon_from
    if now_t < afternoon:
        for start, end in spans(pack, cal, (Channel.CALL,), local.date()):
            if start <= afternoon < end:
                return _call_window(pack, local.date(), afternoon, end, tz)
    next_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=tz)
    return call_window_at_or_after(pack, cal, next_day, tz)
