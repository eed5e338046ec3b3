"""Never a reminder after payment, under load (docs/adr/0008): claims are paid, by bank files, in
the middle of a burst of reminders being sent (1,000 in make test, a queue of tens of seconds;
KRAFA_BURST_CLAIMS=10000 for the issue's scale, which `make bench` runs), and no send for any of
them begins after the notifier recorded the payment — one broker hop after payments-ingest
committed it, however long the queue of sends. The figure is `make bench`'s
payment_to_stop_under_load_p99_ms; this test asserts the guarantee, not a time."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from krafa.stack import Stack, StackConfig
from krafa.stopload import pay_during_burst
from krafa_kit.kafka_cluster import KafkaCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CLAIMS = int(os.environ.get("KRAFA_BURST_CLAIMS", "1000"))
DAY_SECONDS = 1800.0  # every reminder of the burst is a first one, inside the sending window


@pytest.fixture(scope="module")
def burst_stack(tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None) -> Iterator[Stack]:
    config = StackConfig.with_free_ports(tmp_path_factory.mktemp("burst"), sim_speed=86400 / DAY_SECONDS, durable=False)
    config.sim_start = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday morning
    if stack_kafka is not None:
        config.broker, config.kafka = "kafka", stack_kafka
    stack = Stack(config)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_no_send_begins_after_the_notifier_recorded_the_payment(burst_stack: Stack, tmp_path: Path) -> None:
    report = asyncio.run(pay_during_burst(burst_stack, claims=CLAIMS, payments=40, say=print))
    print(report.summary())
    assert len(report.samples) == 40, report.summary()
    # Each payment was made while reminders were still waiting: a burst, not an idle notifier.
    assert min(s.waiting for s in report.samples) > 0
    assert report.late == [], report.summary()
    # Every reminder of the burst reached its end: sent, or dropped for its paid claim.
    assert report.sent >= CLAIMS - len(report.samples)
