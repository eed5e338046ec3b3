"""The consumers' heartbeat interval: a sixth of the session timeout unless configured, and never
more than a third of it (two heartbeats may be lost before the coordinator gives a member up)."""

from __future__ import annotations

from krafa_kit.kafka import create_consumer, heartbeat_interval_ms
from krafa_kit.settings import ServiceSettings


def test_a_sixth_of_the_session_unless_configured() -> None:
    assert heartbeat_interval_ms(ServiceSettings(kafka_session_timeout_ms=6000)) == 1000
    assert heartbeat_interval_ms(ServiceSettings(kafka_session_timeout_ms=1200)) == 250


def test_configured_but_at_most_a_third_of_the_session() -> None:
    configured = ServiceSettings(kafka_session_timeout_ms=6000, kafka_heartbeat_interval_ms=2000)
    assert heartbeat_interval_ms(configured) == 2000
    capped = ServiceSettings(kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=2000)
    assert heartbeat_interval_ms(capped) == 1000


async def test_the_consumer_heartbeats_at_that_interval() -> None:
    settings = ServiceSettings(kafka_session_timeout_ms=6000, kafka_heartbeat_interval_ms=2000)
    consumer = create_consumer(settings, ("krafa.claims",), "kit-test")
    assert consumer._heartbeat_interval_ms == 2000
    assert consumer._session_timeout_ms == 6000
