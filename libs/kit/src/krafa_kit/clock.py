"""Injectable time. Production uses the wall clock; demos and tests use a simulated clock that
runs days in seconds. Every process derives simulated time from the same three settings
(start, wall epoch, speed), so separate processes agree on "now" without talking."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

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
