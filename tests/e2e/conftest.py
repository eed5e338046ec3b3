"""The whole embedded stack as separate processes, one per test module and broker: PostgreSQL,
the broker, the sinks and the five services, on free ports, with a simulated clock (a day every
3 s). Every test here runs on both brokers (`[embedded]`: Tansu; `[kafka]`: the session's
three-node Apache Kafka cluster) unless KRAFA_TEST_BACKEND names one (krafa_kit.testing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from krafa.stack import Stack, StackConfig
from krafa_kit.kafka_cluster import KafkaCluster

SIM_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def make_stack(
    home: Path, day_seconds: float = 3.0, kafka: KafkaCluster | None = None, sim_start: datetime = SIM_START
) -> Stack:
    config = StackConfig.with_free_ports(home, sim_speed=86400 / day_seconds, durable=False)
    config.sim_start = sim_start
    if kafka is not None:
        config.broker, config.kafka = "kafka", kafka
    return Stack(config)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None
) -> Iterator[Stack]:
    # A module may set STACK_DAY_S: a slower day where a journey must not meet the claim's next step.
    day_seconds = getattr(request.module, "STACK_DAY_S", 3.0)
    instance = make_stack(tmp_path_factory.mktemp("stack"), day_seconds=day_seconds, kafka=stack_kafka)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the whole session (each test opens its own context)."""
    from krafa.browser import launch
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await launch(playwright)
        try:
            yield instance
        finally:
            await instance.close()
