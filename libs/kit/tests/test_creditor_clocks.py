"""The sandbox clock rules: a creditor's now is the service's now plus its offset, and an offset
only ever moves forward (docs/adr/0015)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from krafa_kit import errors
from krafa_kit.clock import (
    MAX_SANDBOX_ADVANCE,
    CreditorClocks,
    ManualClock,
    OffsetClock,
    SimulatedClock,
    advanced_offset,
    parse_duration,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H", timedelta(days=1, hours=6)),
        ("P2W", timedelta(days=14)),
        ("PT90M", timedelta(minutes=90)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("p3d", timedelta(days=3)),
    ],
)
def test_a_duration_of_weeks_days_and_hours_is_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "P1M3DT4H"])
def test_years_and_months_are_refused_for_having_no_fixed_length(text: str) -> None:
    with pytest.raises(errors.Invalid) as refused:
        parse_duration(text)
    assert refused.value.kind == "bad-duration"
    assert "no fixed length" in str(refused.value)


@pytest.mark.parametrize("text", ["30 days", "P", "PT", "-P1D", "P1DT", "30", ""])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(errors.Invalid) as refused:
        parse_duration(text)
    assert refused.value.kind == "bad-duration"


def test_an_advance_by_a_duration_adds_it_to_the_offset() -> None:
    assert advanced_offset(timedelta(days=2), NOW, by=timedelta(days=30)) == timedelta(days=32)


def test_an_advance_to_an_instant_makes_that_instant_the_sandbox_now() -> None:
    offset = advanced_offset(timedelta(days=2), NOW, to=datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    assert NOW + offset == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("by", [timedelta(0), timedelta(seconds=-1), timedelta(days=-30)])
def test_a_zero_or_negative_advance_is_refused_as_going_backwards(by: timedelta) -> None:
    with pytest.raises(errors.Invalid) as refused:
        advanced_offset(timedelta(days=5), NOW, by=by)
    assert refused.value.kind == "clock-backwards"
    assert refused.value.facts["sandbox_now"] == (NOW + timedelta(days=5)).isoformat()


def test_an_instant_not_after_the_sandbox_now_is_refused_even_if_after_the_service_now() -> None:
    # The sandbox is 10 days ahead: a day ahead of the service is still in the sandbox's past.
    with pytest.raises(errors.Invalid) as refused:
        advanced_offset(timedelta(days=10), NOW, to=NOW + timedelta(days=1))
    assert refused.value.kind == "clock-backwards"
    with pytest.raises(errors.Invalid):
        advanced_offset(timedelta(days=10), NOW, to=NOW + timedelta(days=10))


def test_an_instant_without_a_time_zone_is_refused() -> None:
    with pytest.raises(errors.Invalid):
        advanced_offset(timedelta(0), NOW, to=datetime(2026, 4, 1, 9, 0))


def test_more_than_the_bound_in_one_call_is_refused_but_the_bound_itself_is_allowed() -> None:
    assert advanced_offset(timedelta(0), NOW, by=MAX_SANDBOX_ADVANCE) == MAX_SANDBOX_ADVANCE
    with pytest.raises(errors.Invalid) as refused:
        advanced_offset(timedelta(0), NOW, by=MAX_SANDBOX_ADVANCE + timedelta(seconds=1))
    assert refused.value.kind == "advance-too-large"


def test_exactly_one_of_a_duration_and_an_instant_is_needed() -> None:
    with pytest.raises(errors.Invalid):
        advanced_offset(timedelta(0), NOW)
    with pytest.raises(errors.Invalid):
        advanced_offset(timedelta(0), NOW, by=timedelta(days=1), to=NOW + timedelta(days=2))


def test_a_creditor_without_an_offset_runs_on_the_service_clock() -> None:
    base = ManualClock(NOW)
    clocks = CreditorClocks(base)
    assert clocks.of(uuid.uuid4()) is base


def test_a_sandbox_now_moves_with_the_service_clock_plus_its_offset() -> None:
    base = ManualClock(NOW)
    sandbox = uuid.uuid4()
    clocks = CreditorClocks(base, {sandbox: timedelta(days=30)})
    assert clocks.now(sandbox) == NOW + timedelta(days=30)
    base.advance(timedelta(hours=1))
    assert clocks.now(sandbox) == NOW + timedelta(days=30, hours=1)


def test_learning_an_offset_keeps_the_largest_so_a_late_event_never_moves_a_clock_back() -> None:
    sandbox = uuid.uuid4()
    clocks = CreditorClocks(ManualClock(NOW))
    assert clocks.learn(sandbox, timedelta(days=30))
    assert not clocks.learn(sandbox, timedelta(days=3))
    assert not clocks.learn(sandbox, timedelta(days=30))
    assert clocks.now(sandbox) == NOW + timedelta(days=30)


def test_an_offset_composes_with_a_simulated_clock_and_keeps_its_speed() -> None:
    simulated = SimulatedClock(NOW, epoch=time.time(), speed=86400.0)
    ahead = OffsetClock(simulated, timedelta(days=30))
    # A simulated day still passes in one wall second on the sandbox's clock.
    assert ahead.wall_seconds(timedelta(days=1)) == simulated.wall_seconds(timedelta(days=1)) == 1.0
    assert ahead.now() >= NOW + timedelta(days=30)
