"""What every service process owns: the database pool and its migrations, the Kafka producer,
the outbox relay, the inbox consumer and any background loops of its own. The FastAPI lifespan
starts and stops one Runtime, so nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from krafa_events.registry import topics_consumed_by

from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.consumer import InboxConsumer, Routes, group_for
from krafa_kit.db import Database
from krafa_kit.kafka import create_consumer, create_producer
from krafa_kit.migrations import migrate_async
from krafa_kit.outbox import OutboxRelay
from krafa_kit.producer import ClusterBoundProducer
from krafa_kit.retention import RetentionSweeper, Rule, shared_rules
from krafa_kit.settings import ServiceSettings, database_tls_params
from krafa_kit.wakeup import PUBLISHED_CHANNEL, Listener, Wakeup, due_channel

log = logging.getLogger(__name__)

# How long a stopping service waits for its background tasks to end after cancelling them.
STOP_TASKS_S = 10.0

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
    # On a thread of its own, with its own event loop, database connections and Kafka clients:
    # an asyncio loop runs its ready tasks in turn, so a lane sharing the service's loop waits a
    # whole turn of it (every send being rendered, every batch being decoded) at each of the
    # dozen awaits of a round. On its own thread it waits at most the interpreter's switch
    # interval for the GIL. For a lane that must never queue behind the service's own work.
    thread: bool = False


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
        self.producer: ClusterBoundProducer | None = None
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
        self._lane_threads: list[LaneThread] = []
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
        consumers = []
        for plan in self._lanes() if self.settings.consume else []:
            if plan.thread:
                lane = LaneThread(plan, self.settings, self.db)
                self._lane_threads.append(lane)
                consumers.append(await lane.start())
            else:
                consumers.append(plan.build(self.db, self.producer, self.settings))
        self.consumers = consumers
        self._spawn("producer", self._start_producer)
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
        threaded = {id(lane.consumer) for lane in self._lane_threads}
        for consumer in self.consumers:
            if id(consumer) not in threaded:  # a lane on its own thread runs there
                self._spawn("consumer" if consumer is self.consumer else f"consumer:{consumer.name}", consumer.run)

    def wake_on_events(self, wakeup: Wakeup) -> None:
        """Wake `wakeup` whenever one of this process's consumers (any lane) has applied new events
        (before or after `start`): a loop waiting for the rows those handlers write looks at once."""
        self._event_wakeups.append(wakeup)
        for consumer in self.consumers:
            consumer.on_handled.append(wakeup.set)

    def wake_on_due(self, work: str, wakeup: Wakeup) -> None:
        """Wake `wakeup` whenever a transaction that NOTIFYs `work` is due commits, in any process
        on the service's database (krafa_kit.wakeup.notify_due: an API call, a handler, another
        replica), before or after `start`."""
        self.listener.wake(due_channel(self.db.schema, work), wakeup)

    def lane(self, name: str) -> InboxConsumer | None:
        """The consumer of lane `name` (after `start`)."""
        return next((c for c in self.consumers if c.name == f"{self.spec.name}.{name}"), None)

    def _lanes(self) -> list[LanePlan]:
        """The main consumer over the topics of the registry's events for this service that it
        routes, then one consumer per lane. Undecodable records are dead-lettered by the first
        consumer reading their topic."""
        consumed = set(topics_consumed_by(self.spec.name))
        plan = [("", self.spec.routes, False), *((lane.name, lane.routes, lane.thread) for lane in self.spec.lanes)]
        owned: set[str] = set()
        plans = []
        prefix = self.settings.kafka_consumer_group_prefix
        for name, routes, thread in plan:
            topics = tuple(sorted(consumed if not self.spec.lanes else {m.TOPIC.value for m in routes} & consumed))
            if not routes or not topics:
                continue
            mine = frozenset(t for t in topics if t not in owned)
            owned |= mine
            group = group_for(prefix, f"{self.spec.name}.{name}" if name else self.spec.name)
            plans.append(LanePlan(self.spec.name, name, routes, topics, group, mine, thread))
        return plans

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
        for lane in self._lane_threads:
            await lane.join()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task that lost its cancellation must not hold the service's stop forever.
            stopped, stuck = await asyncio.wait(self._tasks, timeout=STOP_TASKS_S)
            for task in stopped:
                if not task.cancelled():
                    task.exception()  # retrieved: a crash on the way out is no stop failure
            for task in stuck:
                log.error("background task did not stop", extra={"task": task.get_name()})
        if self.producer is not None and self.producer_ready:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        await self.db.close()


@dataclass(frozen=True)
class LanePlan:
    """One consumer of a service: its lane ("" for the main one), what it reads and owns."""

    service: str
    name: str
    routes: Routes
    topics: tuple[str, ...]
    group: str
    dead_letter_topics: frozenset[str]
    thread: bool

    def build(self, db: Database, producer: ClusterBoundProducer, settings: ServiceSettings) -> InboxConsumer:
        """The consumer, made in the event loop it will run in (aiokafka binds its clients to it)."""
        return InboxConsumer(
            service=self.service,
            lane=self.name,
            db=db,
            consumer=create_consumer(settings, self.topics, self.group),
            producer=producer,
            routes=self.routes,
            dead_letter_topics=self.dead_letter_topics,
            idle_after_s=settings.consumer_idle_after_s,
            idle_check_s=settings.consumer_idle_check_s,
        )


class LaneThread:
    """A lane on a thread of its own (Lane.thread): an event loop there runs its consumer over a
    small pool of its own and its own producer (for dead letters). The service's loops talk to it
    only through what is safe across threads: `current`, the wake-ups (krafa_kit.wakeup.Wakeup)
    and `stop`; its handlers' effects reach them through the database, as every lane's do."""

    POOL_SIZE = 2  # one round's transaction at a time, and one spare

    def __init__(self, plan: LanePlan, settings: ServiceSettings, db: Database) -> None:
        self.plan = plan
        self.settings = settings
        self.db = Database(db.dsn, db.schema, pool_size=self.POOL_SIZE, source=db.source, tls={})
        self.consumer: InboxConsumer | None = None
        self._built = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"{plan.service}.{plan.name}", daemon=True)

    async def start(self) -> InboxConsumer:
        """Start the thread; its consumer once made (it connects and runs on its own)."""
        self._thread.start()
        await asyncio.to_thread(self._built.wait)
        if self.consumer is None:
            raise RuntimeError(f"lane {self.plan.name} could not be made") from self._error
        return self.consumer

    async def join(self, timeout: float = 15.0) -> None:
        """After `consumer.stop()`: wait for the thread to close its consumer, producer and pool."""
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            log.warning("lane thread did not stop in time", extra={"lane": self.plan.name})

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to `start` if it never got its consumer
            self._error = exc
            log.exception("lane thread failed", extra={"lane": self.plan.name})
        finally:
            self._built.set()

    async def _run(self) -> None:
        producer = create_producer(self.settings)
        try:
            consumer = self.consumer = self.plan.build(self.db, producer, self.settings)
        finally:
            self._built.set()
        producer_started = False
        try:
            await self.db.connect()
            backoff = 0.5
            while not producer_started and not consumer.stopping:
                try:
                    await producer.start()
                    producer_started = True
                except Exception as exc:
                    log.warning("broker unreachable at start, retrying", extra={"error": repr(exc)})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5)
            backoff = 0.5
            while not consumer.stopping:
                # Supervised like the service's own loops (Runtime._spawn).
                try:
                    await consumer.run()
                except Exception:
                    log.exception("lane crashed, restarting", extra={"lane": self.plan.name, "in_s": backoff})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
        finally:
            if producer_started:
                with contextlib.suppress(Exception):
                    await producer.stop()
            await self.db.close()
