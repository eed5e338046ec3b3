"""Lanes over the real broker and PostgreSQL: a service's lane is a consumer of its own (group,
inbox name) beside the main one, each takes only its events (the others skipped on their header),
an undecodable record is dead-lettered once, by the consumer that owns its topic, under the
service's name; and a lane says when it has caught up with its topics."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from krafa_events import ClaimCreated, ClaimPaid, DecodedEvent, PaymentReceived, Topic, dlq_topic
from krafa_events.testing import a_claim_created, a_payment_received
from krafa_kit.db import UnitOfWork
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.runtime import Lane, Runtime, ServiceSpec
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import TopicReader, eventually, publish
from krafa_kit.wakeup import Wakeup

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).parent / "migrations"


async def test_a_lane_consumes_its_events_apart_and_poison_is_dead_lettered_once(
    database_url: str, broker: EmbeddedBroker
) -> None:
    seen: dict[str, list[str]] = {"main": [], "stops": []}

    def handler(lane: str):  # type: ignore[no-untyped-def]
        async def handle(uow: UnitOfWork, envelope: DecodedEvent) -> None:
            seen[lane].append(type(envelope.event).__name__)

        return handle

    # The notifier's registry entry gives the topics (claims, dunning, bounces, payments).
    spec = ServiceSpec(
        "notifier",
        "kit_lanes",
        MIGRATIONS,
        routes={ClaimCreated: handler("main")},
        lanes=(Lane("stops", {ClaimPaid: handler("stops"), PaymentReceived: handler("stops")}),),
    )
    runtime = Runtime(spec, ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap))
    await runtime.start()
    try:
        main, stops = runtime.consumers
        assert (main.name, stops.name) == ("notifier", "notifier.stops")
        assert runtime.lane("stops") is stops
        assert set(main.consumer.subscription()) == {Topic.CLAIMS.value}
        assert set(stops.consumer.subscription()) == {Topic.CLAIMS.value, Topic.PAYMENTS.value}
        await eventually(lambda: stops.current(5.0) and main.current(5.0), timeout=60)

        claim = a_claim_created()
        paid = ClaimPaid(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            claim_id=claim.claim_id,
            amount_paid_minor=10_390,
            currency="ISK",
            paid_at=claim.created_at,
        )
        async with (
            TopicReader(broker.bootstrap, dlq_topic(Topic.CLAIMS.value)) as claims_dlq,
            TopicReader(broker.bootstrap, dlq_topic(Topic.PAYMENTS.value)) as payments_dlq,
        ):
            await publish(broker.bootstrap, claim, paid, a_payment_received(claim))
            raw = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await raw.start()
            try:
                for topic in (Topic.CLAIMS.value, Topic.PAYMENTS.value):
                    await raw.send_and_wait(topic, b"garbage", key=b"poison")
                # A known type on a topic it does not belong to, with a broken body.
                broken = [("ce_type", ClaimCreated.TYPE.encode()), ("ce_id", b"x-1"), ("ce_specversion", b"1.0")]
                await raw.send_and_wait(Topic.PAYMENTS.value, b'{"claim_id": "br', key=b"poison", headers=broken)
            finally:
                await raw.stop()
            await eventually(lambda: len(claims_dlq.raw) == 1 and len(payments_dlq.raw) == 2, timeout=60)
            await asyncio.sleep(1.0)  # nothing more comes: each poison record once
            assert len(claims_dlq.raw) == 1 and len(payments_dlq.raw) == 2
            services = {dict(r.headers)["krafa_dlq_service"] for r in [*claims_dlq.raw, *payments_dlq.raw]}  # type: ignore[attr-defined]
            assert services == {b"notifier"}
        # Two topics on the lane: no order between them.
        await eventually(
            lambda: (seen["main"], sorted(seen["stops"])) == (["ClaimCreated"], ["ClaimPaid", "PaymentReceived"])
        )
        async with runtime.db.connection() as conn:
            inbox = {
                (r["consumer"], r["event_type"]) for r in await conn.fetch("SELECT consumer, event_type FROM inbox")
            }
        assert inbox == {
            ("notifier", ClaimCreated.TYPE),
            ("notifier.stops", ClaimPaid.TYPE),
            ("notifier.stops", PaymentReceived.TYPE),
        }
    finally:
        await runtime.stop()


async def test_a_lane_is_not_current_while_records_wait_and_is_again_once_applied(
    database_url: str, broker: EmbeddedBroker
) -> None:
    gate = asyncio.Event()

    async def slow(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        await gate.wait()

    spec = ServiceSpec(
        "notifier", "kit_lanes_2", MIGRATIONS, routes={ClaimCreated: slow}, lanes=(Lane("stops", {ClaimPaid: slow}),)
    )
    runtime = Runtime(spec, ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap))
    await runtime.start()
    try:
        stops = runtime.lane("stops")
        assert stops is not None
        await eventually(lambda: stops.current(0.5), timeout=60)
        claim = a_claim_created()
        paid = ClaimPaid(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            claim_id=claim.claim_id,
            amount_paid_minor=1,
            currency="ISK",
            paid_at=claim.created_at,
        )
        await publish(broker.bootstrap, paid)
        await eventually(lambda: not stops.current(0.5), timeout=30)  # the stop is held up
        gate.set()
        await eventually(lambda: stops.current(0.5), timeout=30)
    finally:
        gate.set()
        await runtime.stop()


async def test_a_lane_on_its_own_thread_applies_stops_while_the_service_loop_is_blocked(
    database_url: str, broker: EmbeddedBroker
) -> None:
    """Lane.thread: the lane needs nothing from the service's event loop. Here that loop is held
    (a synchronous wait, as a burst of sends being rendered holds it in turns) until the lane's
    handler has run, which a lane on the service's loop could never do."""
    applied = threading.Event()

    async def main(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        pass

    async def stop(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        await uow.conn.execute("SELECT 1")  # on the lane's own pool
        applied.set()

    spec = ServiceSpec(
        "notifier",
        "kit_lanes_3",
        MIGRATIONS,
        routes={ClaimCreated: main},
        lanes=(Lane("stops", {ClaimPaid: stop}, thread=True),),
    )
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap, consumer_idle_after_s=0.5)
    runtime = Runtime(spec, settings)
    woken = Wakeup()  # a loop of the service, woken from the lane's thread when it applied events
    runtime.wake_on_events(woken)
    await runtime.start()
    try:
        stops = runtime.lane("stops")
        assert stops is not None and stops in runtime.consumers
        await eventually(lambda: stops.current(5.0), timeout=60)
        await eventually(lambda: stops.idle, timeout=30)  # asleep: the record must wake it
        claim = a_claim_created()
        paid = ClaimPaid(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            claim_id=claim.claim_id,
            amount_paid_minor=1,
            currency="ISK",
            paid_at=claim.created_at,
        )
        await publish(broker.bootstrap, paid)
        assert applied.wait(timeout=60), "the lane needed the service's event loop"
        assert await woken.wait(30)  # its on_handled reached this loop's wake-up across threads
        await eventually(lambda: stops.processed == 1, timeout=30)
        async with runtime.db.connection() as conn:
            consumer = await conn.fetchval("SELECT consumer FROM inbox WHERE event_type = $1", ClaimPaid.TYPE)
        assert consumer == "notifier.stops"
    finally:
        await runtime.stop()
    # Stopped with the service: its thread closed its consumer, producer and pool and ended.
    assert stops.stopping and not [t for t in threading.enumerate() if t.name == "notifier.stops"]
