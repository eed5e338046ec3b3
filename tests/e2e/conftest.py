"""The whole embedded stack as separate processes, one per test module: PostgreSQL, the broker,
the sinks and the five services, on free ports, with a simulated clock (a day every 3 s)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from krafa.stack import Stack, StackConfig

SIM_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def make_stack(home: Path, day_seconds: float = 3.0) -> Stack:
    config = StackConfig.with_free_ports(home, sim_speed=86400 / day_seconds, durable=False)
    config.sim_start = SIM_START
    return Stack(config)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    instance = make_stack(tmp_path_factory.mktemp("stack"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
