"""Injectable time. Production uses the wall clock; demos and tests use a simulated clock that
runs days in seconds. Every process derives simulated time from the same three settings
(start, wall epoch, speed), so separate processes agree on "now" without talking."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

from krafa_kit import errors
from krafa_kit.settings import ServiceSettings


class Clock(Protocol):
    def now(self) -> datetime: ...

    def wall_seconds(self, simulated: timedelta) -> float:
        """How long the process must really wait for `simulated` time to pass."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wall_seconds(self, simulated: timedelta) -> float:
        return max(simulated.total_seconds(), 0.0)


class SimulatedClock:
    def __init__(self, start: datetime, epoch: float, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("simulated start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.epoch = epoch
        self.speed = speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)

    def wall_seconds(self, simulated: timedelta) -> float:
        return max(simulated.total_seconds() / self.speed, 0.0)


class ManualClock:
    """For unit tests: time moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment

    def wall_seconds(self, simulated: timedelta) -> float:
        return 0.0


def clock_from_settings(settings: ServiceSettings) -> Clock:
    if settings.clock == "simulated":
        epoch = settings.sim_epoch or time.time()
        return SimulatedClock(settings.sim_start, epoch, settings.sim_speed)
    return WallClock()


async def sleep_until(clock: Clock, moment: datetime, *, max_wall_s: float = 1.0) -> None:
    await asyncio.sleep(min(clock.wall_seconds(moment - clock.now()), max_wall_s))


# -- a creditor's own clock (sandboxes) --------------------------------------------------------
#
# A sandbox creditor runs on the service's clock plus an offset of its own, so an integrator can
# watch a claim reach its third step without waiting a month (docs/adr/0015). The offset only
# grows: nothing that already fired is ever "undone", and every service that learns an offset
# keeps the largest it has seen, so a replayed or late event cannot move a clock back.

# The most one advance may move a sandbox: a year and a bit covers every timeline of the
# jurisdiction packs, and a typo ("P3000D") is refused instead of jumping past every step.
MAX_SANDBOX_ADVANCE = timedelta(days=400)

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds ("P30D", "PT36H",
    "P1DT12H"). Years and months have no fixed length, so they are refused with a pointer to
    an instant instead; so is a sign (a sandbox clock never goes back)."""
    value = text.strip().upper()
    date_part = value[1:].split("T", 1)[0] if value.startswith("P") else ""
    if "Y" in date_part or "M" in date_part:
        raise errors.Invalid(
            f"{text!r}: years and months have no fixed length; give weeks, days or hours (P30D), or an instant in `to`",
            kind="bad-duration",
        )
    found = _DURATION.match(value)
    if found is None or value in ("P", "PT"):
        raise errors.Invalid(f"{text!r} is not an ISO 8601 duration such as P30D, PT12H or P1DT6H", kind="bad-duration")
    parts = {name: float(v) for name, v in found.groupdict().items() if v is not None}
    return timedelta(**parts)


def advanced_offset(
    offset: timedelta,
    base_now: datetime,
    *,
    by: timedelta | None = None,
    to: datetime | None = None,
    most: timedelta = MAX_SANDBOX_ADVANCE,
) -> timedelta:
    """The offset after an advance of a clock that is now `base_now + offset`: by a duration, or
    to an instant. Refused (`errors.Invalid`, kind `clock-backwards`) when it would not move the
    clock forward, and (kind `advance-too-large`) when one call would move it more than `most`."""
    if (by is None) == (to is None):
        raise errors.Invalid("give either `advance` (a duration) or `to` (an instant), not both", kind="validation")
    current = base_now + offset
    if to is not None:
        if to.tzinfo is None:
            raise errors.Invalid("`to` needs a time zone (e.g. 2026-04-01T09:00:00Z)", kind="validation")
        by = to.astimezone(UTC) - current
    assert by is not None
    if by <= timedelta(0):
        raise errors.Invalid(
            f"a sandbox clock only moves forward: it is {current.isoformat()} and the advance would take it to "
            f"{(current + by).isoformat()}",
            kind="clock-backwards",
            facts={"sandbox_now": current.isoformat()},
        )
    if by > most:
        raise errors.Invalid(
            f"one advance moves a sandbox clock at most {most.days} days; advance in several steps",
            kind="advance-too-large",
            facts={"sandbox_now": current.isoformat(), "max_days": most.days},
        )
    return offset + by


class OffsetClock:
    """A clock running `offset` ahead of `base` (a sandbox's clock). Waiting is the base's: the
    offset moves "now", not the speed of time."""

    def __init__(self, base: Clock, offset: timedelta) -> None:
        self.base = base
        self.offset = offset

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def wall_seconds(self, simulated: timedelta) -> float:
        return self.base.wall_seconds(simulated)


class CreditorClocks:
    """Each creditor's clock: the service's own, plus the offset of a sandbox creditor. Learning
    an offset keeps the largest seen (events may come twice or late, never take a clock back)."""

    def __init__(self, base: Clock, offsets: Mapping[UUID, timedelta] | None = None) -> None:
        self.base = base
        self.offsets: dict[UUID, timedelta] = dict(offsets or {})

    def learn(self, creditor_id: UUID, offset: timedelta) -> bool:
        """Record a creditor's offset; False (and nothing changes) when it is not ahead of the known one."""
        if offset <= self.offsets.get(creditor_id, timedelta(0)):
            return False
        self.offsets[creditor_id] = offset
        return True

    def of(self, creditor_id: UUID) -> Clock:
        offset = self.offsets.get(creditor_id)
        return self.base if not offset else OffsetClock(self.base, offset)

    def now(self, creditor_id: UUID) -> datetime:
        return self.of(creditor_id).now()
