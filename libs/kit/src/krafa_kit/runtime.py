"""What every service process owns: the database pool and its migrations, the Kafka producer,
the outbox relay, the inbox consumer and any background loops of its own. The FastAPI lifespan
starts and stops one Runtime, so nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from krafa_events.registry import topics_consumed_by

from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.consumer import InboxConsumer, Routes, group_for
from krafa_kit.db import Database
from krafa_kit.kafka import create_consumer, create_producer
from krafa_kit.migrations import migrate_async
from krafa_kit.outbox import OutboxRelay
from krafa_kit.retention import RetentionSweeper, Rule, shared_rules
from krafa_kit.settings import ServiceSettings, database_tls_params
from krafa_kit.wakeup import PUBLISHED_CHANNEL, Listener, Wakeup

log = logging.getLogger(__name__)

BackgroundTask = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Lane:
    """Events consumed apart from the service's main consumer: a consumer of their own (group
    `<prefix>.<service>.<name>`, inbox name `<service>.<name>`), so they are never queued behind
    the records the main consumer works through. The notifier takes every event that stops a
    send on a lane, so a burst of ReminderDue never holds up a ClaimPaid (docs/adr/0008). An
    event may have a handler on both; the two handlers must not depend on each other's order."""

    name: str
    routes: Routes


@dataclass
class ServiceSpec:
    name: str  # "claims-api": the registry's producer/consumer name and the consumer group
    schema: str  # the service's own PostgreSQL schema
    migrations: Path
    routes: Routes = field(default_factory=dict)
    lanes: tuple[Lane, ...] = ()
    # What the service's own tables keep and for how long (krafa_kit.retention), besides the
    # inbox and outbox rules every service shares.
    retention: list[Rule] = field(default_factory=list)


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock or clock_from_settings(settings)
        self.db = Database(
            settings.database_url,
            settings.db_schema or spec.schema,
            pool_size=settings.database_pool_size,
            source=f"/krafa/{spec.name}",
            tls=database_tls_params(settings),  # the settings given, not the environment again
        )
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: InboxConsumer | None = None  # the main lane
        self.consumers: list[InboxConsumer] = []  # every lane, the main one first
        self.producer_ready = False
        # One LISTEN connection for the process's wake-ups (krafa_kit.wakeup): loops register
        # their channels on it before or after `start`.
        self.listener = Listener(self.db.dsn)
        self._background: list[tuple[str, BackgroundTask]] = []
        self._event_wakeups: list[Wakeup] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    def add_background(self, name: str, task: BackgroundTask) -> None:
        self._background.append((name, task))

    async def start(self) -> None:
        await migrate_async(self.db.dsn, self.db.schema, self.spec.migrations)
        await self.db.connect()
        self.producer = create_producer(self.settings)
        self.relay = OutboxRelay(
            self.db,
            self.producer,
            service=self.spec.name,
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
            retention_days=self.settings.outbox_retention_days,
            transactional_producer=(
                (lambda: create_producer(self.settings, transactional=True))
                if self.settings.kafka_transactional_id
                else None
            ),
        )
        self._spawn("producer", self._start_producer)
        self.consumers = self._lanes() if self.settings.consume else []
        for consumer in self.consumers:
            consumer.on_handled.extend(wakeup.set for wakeup in self._event_wakeups)
            # Events on one lane wake the others (the notifier's sends check the stops lane next).
            consumer.on_handled.extend(other.wake for other in self.consumers if other is not consumer)
        self.consumer = next((c for c in self.consumers if c.name == self.spec.name), None)
        sweeper = RetentionSweeper(
            self.db,
            self.spec.name,
            [*shared_rules(self.settings.inbox_retention_days), *self.spec.retention],
            interval_s=self.settings.retention_sweep_interval_s,
            clock=self.clock,
        )
        self._spawn("retention", sweeper.run)
        for consumer in self.consumers:
            if consumer.idle_after_s > 0:
                self.listener.on(PUBLISHED_CHANNEL, consumer.published)
        self._spawn("wakeups", self.listener.run)
        for name, task in self._background:
            self._spawn(name, task)
        self.started = True

    async def _start_producer(self) -> None:
        # The API must come up even while the broker is away: keep trying in the background;
        # the outbox holds events until the relay can publish.
        assert self.producer is not None and self.relay is not None
        backoff = 0.5
        while True:
            try:
                await self.producer.start()
                break
            except Exception as exc:
                log.warning("broker unreachable at start, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)
        self.producer_ready = True
        self._spawn("outbox-relay", self.relay.run)
        for consumer in self.consumers:
            self._spawn("consumer" if consumer is self.consumer else f"consumer:{consumer.name}", consumer.run)

    def wake_on_events(self, wakeup: Wakeup) -> None:
        """Wake `wakeup` whenever one of this process's consumers (any lane) has applied new events
        (before or after `start`): a loop waiting for the rows those handlers write looks at once."""
        self._event_wakeups.append(wakeup)
        for consumer in self.consumers:
            consumer.on_handled.append(wakeup.set)

    def lane(self, name: str) -> InboxConsumer | None:
        """The consumer of lane `name` (after `start`)."""
        return next((c for c in self.consumers if c.name == f"{self.spec.name}.{name}"), None)

    def _lanes(self) -> list[InboxConsumer]:
        """The main consumer over the topics of the registry's events for this service that it
        routes, then one consumer per lane. Undecodable records are dead-lettered by the first
        consumer reading their topic."""
        consumed = set(topics_consumed_by(self.spec.name))
        plan = [("", self.spec.routes), *((lane.name, lane.routes) for lane in self.spec.lanes)]
        owned: set[str] = set()
        consumers = []
        prefix = self.settings.kafka_consumer_group_prefix
        for name, routes in plan:
            topics = tuple(sorted(consumed if not self.spec.lanes else {m.TOPIC.value for m in routes} & consumed))
            if not routes or not topics:
                continue
            mine = frozenset(t for t in topics if t not in owned)
            owned |= mine
            group = group_for(prefix, f"{self.spec.name}.{name}" if name else self.spec.name)
            consumers.append(
                InboxConsumer(
                    service=self.spec.name,
                    lane=name,
                    db=self.db,
                    consumer=create_consumer(self.settings, topics, group),
                    producer=self.producer,
                    routes=routes,
                    dead_letter_topics=mine,
                    idle_after_s=self.settings.consumer_idle_after_s,
                    idle_check_s=self.settings.consumer_idle_check_s,
                )
            )
        return consumers

    def _spawn(self, name: str, task: BackgroundTask) -> None:
        async def guarded() -> None:
            # Supervised: a loop that dies on an error its own handling did not expect (e.g. the
            # database restarting) is started again with backoff instead of staying dead while
            # /readyz keeps answering 200.
            backoff = 0.5
            while True:
                try:
                    await task()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task crashed, restarting", extra={"task": name, "in_s": backoff})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)

        self._tasks.append(asyncio.create_task(guarded(), name=f"{self.spec.name}:{name}"))

    async def ready(self) -> dict[str, bool]:
        checks = {"database": await self.db.ping(), "broker": self.producer_ready}
        if self.consumers:
            checks["consumer_assigned"] = all(c.assigned for c in self.consumers)
        return checks

    async def stop(self) -> None:
        for consumer in self.consumers:
            consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.producer is not None and self.producer_ready:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        await self.db.close()
