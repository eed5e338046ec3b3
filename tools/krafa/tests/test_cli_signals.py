"""`krafa run` and `krafa demo` stop on a signal even while their event loop is held by CPU work:
the loop's own handlers would only run once it is free again, so an unanswered signal is turned
into KeyboardInterrupt, which unwinds through the `finally` blocks that stop the servers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from krafa import cli


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _signal_soon(sig: signal.Signals, after: float = 0.2) -> None:
    threading.Timer(after, os.kill, (os.getpid(), sig)).start()


async def test_a_free_loop_stops_in_order_and_nothing_is_raised(
    handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "SIGNAL_GRACE_S", 0.5)
    stop = asyncio.Event()
    escalation = cli.stop_gracefully(asyncio.get_running_loop(), stop)
    _signal_soon(signal.SIGTERM)
    await asyncio.wait_for(stop.wait(), 5)
    escalation.cancel()
    await asyncio.sleep(1.0)  # past the grace: a cancelled escalation raises nothing


async def test_a_loop_held_by_cpu_work_is_interrupted_after_the_grace(
    handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "SIGNAL_GRACE_S", 0.5)
    stop = asyncio.Event()
    cli.stop_gracefully(asyncio.get_running_loop(), stop)
    _signal_soon(signal.SIGTERM)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        while time.monotonic() - began < 30:  # the loop never gets a turn
            sum(range(1000))
    assert not stop.is_set()


async def test_a_second_signal_interrupts_at_once(handlers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "SIGNAL_GRACE_S", 60.0)
    stop = asyncio.Event()
    escalation = cli.stop_gracefully(asyncio.get_running_loop(), stop)
    _signal_soon(signal.SIGINT)
    await asyncio.wait_for(stop.wait(), 5)
    try:
        _signal_soon(signal.SIGINT, after=0.1)
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            while time.monotonic() - began < 30:  # the clean-up hangs; the user presses Ctrl-C again
                sum(range(1000))
        assert time.monotonic() - began < 30
    finally:
        escalation.cancel()
