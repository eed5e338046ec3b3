"""The idempotent consumer: decode → inbox check → handler → commit, then the Kafka offset.

At-least-once transport, exactly-once effect: the event id is recorded in the inbox in the same
transaction as the handler's effect, so a redelivered event does nothing the second time.
Records that cannot be decoded, and handlers that fail permanently, go to `<topic>.dlq` with
the reason; the consumer goes on. Transient failures (database or network) are retried with
backoff and never dead-lettered, so an outage delays events but loses none.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from krafa_events import DecodedEvent, Event, UndecodableMessage, decode, dlq_topic
from krafa_events.registry import EVENT_TYPES
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from krafa_kit import metrics, tracing
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.producer import ClusterBoundProducer
from krafa_kit.wakeup import Wakeup

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, DecodedEvent], Awaitable[None]]
Routes = Mapping[type[Event], Handler]


class PermanentError(Exception):
    """A handler's verdict that this event can never be processed: it goes to the DLQ."""


E = TypeVar("E", bound=Event)
TypedHandler = Callable[[UnitOfWork, E, DecodedEvent], Awaitable[None]]


def typed(event_type: type[E], handler: TypedHandler[E]) -> Handler:
    """A routing-table entry for a handler written for one event type: `handler(uow, event,
    envelope)` gets the event as that type (checked here, once, not by an assert in every
    handler). Several types may share a handler: `typed(ClaimAmended, on_dates)`."""

    async def route(uow: UnitOfWork, envelope: DecodedEvent) -> None:
        event = envelope.event
        if not isinstance(event, event_type):
            raise PermanentError(f"{envelope.type} routed to a handler of {event_type.TYPE}")
        await handler(uow, event, envelope)

    route.__name__ = getattr(handler, "__name__", "route")
    route.__qualname__ = getattr(handler, "__qualname__", "route")
    return route


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError, ConnectionError)):
        return True
    if isinstance(exc, asyncpg.InternalClientError) and "in progress" in str(exc):
        # A connection lost mid-query leaves its protocol busy ("cannot switch to state …;
        # another operation is in progress"): the connection's fault, not the event's.
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", "") or ""
        # 08: connection, 40: serialization/deadlock, 53: resources, 57: operator intervention
        # (e.g. the server restarting), 23505 under a race between replicas.
        return sqlstate[:2] in {"08", "40", "53", "57"} or sqlstate == "23505"
    return False


class Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Counts the group's rebalances (revocations and assignments) so that offsets fetched before
    one are never committed after it. A round whose handling outlasted a rebalance, for example
    a rejoin after the broker was replaced by an empty one, would otherwise commit the old
    positions under the new generation, and the records before them would be skipped for good.
    A new assignment also wakes an idle consumer (`wake`), whose new partitions may hold work."""

    def __init__(self, wake: Wakeup | None = None) -> None:
        self.epoch = 0
        self.wake = wake

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.epoch += 1

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.epoch += 1
        if self.wake is not None:
            self.wake.set()


class InboxConsumer:
    def __init__(
        self,
        *,
        service: str,
        db: Database,
        consumer: AIOKafkaConsumer,
        producer: ClusterBoundProducer,
        routes: Routes,
        max_attempts: int = 3,
        lane: str = "",
        dead_letter_topics: frozenset[str] | None = None,
        idle_after_s: float = 0.0,
        idle_check_s: float = 1.0,
    ) -> None:
        """A `lane` (krafa_kit.runtime.Lane) records its events in the inbox as
        `<service>.<lane>` and leaves the undecodable records of topics outside
        `dead_letter_topics` (default: all it reads) to the consumer that owns them. Records of
        an event type this consumer does not route, on that type's own topic, are skipped on
        their `ce_type` header alone, without decoding the payload.

        With `idle_after_s` > 0 the consumer stops fetching once it has been caught up that long
        without a record (a broker that answers a waiting fetch only when the wait runs out,
        like the embedded one, otherwise costs a fetch every few milliseconds per consumer). It
        fetches again at once when woken (`published`: an outbox relay in the same database
        published to a topic it reads; `current` asked while it is behind; another lane of the
        process applied events; a new assignment), and otherwise when its check every
        `idle_check_s` (the partitions' end offsets against its positions) finds records, which
        bounds the delay of a record whose producer sends no wake-up. 0: always fetching."""
        self.service = service
        self.name = f"{service}.{lane}" if lane else service
        self.dead_letter_topics = dead_letter_topics
        self.db = db
        self.consumer = consumer
        self.producer = producer
        self.routes = {model.TYPE: handler for model, handler in routes.items()}
        self.max_attempts = max_attempts
        self._stopping = False
        self.started = False
        self.processed = 0
        self._positions: dict[TopicPartition, int] = {}
        # The moment (unix seconds) of the oldest of the latest fetch responses of its
        # partitions, when every record up to their high watermarks had been applied (`current`).
        self.caught_up_at: float | None = None
        self.idle_after_s = idle_after_s
        self.idle_check_s = idle_check_s
        self.idle = False  # not fetching (paused) until woken
        self.idle_checks = 0  # idle checks made (ListOffsets requests instead of fetches)
        self._wake = Wakeup()
        self._active_at = time.monotonic()  # the last record, or the last wake-up with a reason
        self._asked_at = 0.0  # monotonic seconds of the last `current` question
        self._resumed_at = 0.0  # wall seconds of the last resume: a pause needs a fresher fetch
        self.rebalances = Rebalances(self._wake)
        # Called after a round that applied new events: the service's loops that wait for work
        # those events create (Runtime.wake_on_events) look at once instead of polling for it.
        self.on_handled: list[Callable[[], None]] = []
        topics = consumer.subscription()
        self.topics = frozenset(topics or ())
        if topics:
            consumer.subscribe(topics=sorted(topics), listener=self.rebalances)

    @property
    def assigned(self) -> bool:
        return self.started and bool(self.consumer.assignment())

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Stop after the round under way; safe from any thread (a lane may run on its own)."""
        self._stopping = True
        self._wake.set()

    def current(self, within_s: float) -> bool:
        """Whether, less than `within_s` ago, every record up to the high watermark the broker
        reported on its last fetch had been applied, on every partition of the group (the
        notifier sends nothing while its stops lane is behind, docs/adr/0008). An idle consumer
        asked while it cannot say so fetches again at once. A consumer asked does not go idle
        until `idle_after_s` after the last question: paused, it could not answer yes, so every
        send of a burst would wait for it to wake and fetch. Safe from any thread."""
        self._asked_at = time.monotonic()
        fresh = self.caught_up_at is not None and time.time() - self.caught_up_at < within_s
        if not fresh:
            self._wake.set()
        return fresh

    def wake(self) -> None:
        """Fetch now if idle, and stay awake a while (work on another lane tends to mean work here)."""
        self._wake.set()

    def published(self, topics: str) -> None:
        """A wake-up hint: records were published to `topics` (comma-separated; empty: maybe
        any). Only a hint: the records themselves arrive by fetching."""
        if not topics or not self.topics.isdisjoint(topics.split(",")):
            self._wake.set()

    async def _note_caught_up(self) -> None:
        """After a round: caught up as of the oldest latest fetch response if on every partition
        the position reached that response's high watermark, i.e. nothing the broker held then
        is left to apply. A broker that stops answering stops the clock too."""
        assignment = self.consumer.assignment()
        if not assignment:
            return
        oldest = None
        for tp in assignment:
            highwater = self.consumer.highwater(tp)
            fetched_ms = self.consumer.last_poll_timestamp(tp)
            if highwater is None or fetched_ms is None or await self.consumer.position(tp) < highwater:
                return
            oldest = fetched_ms if oldest is None else min(oldest, fetched_ms)
        if oldest is not None:
            self.caught_up_at = oldest / 1000

    async def run(self) -> None:
        await self._start_consumer()
        try:
            last_lag = 0.0
            while not self._stopping:
                if self._wake.is_set() and not self.idle:
                    self._wake.clear()  # a wake-up while fetching: stay awake a while longer
                    self._active_at = time.monotonic()
                if self._may_idle():
                    await self._pause_until_woken()
                    continue
                epoch = self.rebalances.epoch
                batches = await self.consumer.getmany(timeout_ms=200)
                if batches:
                    self._active_at = time.monotonic()
                    before = self.processed
                    await self.handle_round(batches, epoch)
                    if self.processed != before:
                        for callback in self.on_handled:
                            callback()
                await self._note_caught_up()
                if time.monotonic() - last_lag > 2:
                    self._record_lag()
                    last_lag = time.monotonic()
        finally:
            await self.consumer.stop()

    def _may_idle(self) -> bool:
        """Idle once caught up as of a fetch after the last resume, with no record, no wake-up and
        no `current` question for `idle_after_s`: a pause never hides a record the broker
        already held."""
        now = time.monotonic()
        return (
            self.idle_after_s > 0
            and now - self._active_at >= self.idle_after_s
            and now - self._asked_at >= self.idle_after_s
            and self.caught_up_at is not None
            and self.caught_up_at >= self._resumed_at
            and bool(self.consumer.assignment())
        )

    async def _pause_until_woken(self) -> None:
        paused = self.consumer.assignment()
        self.consumer.pause(*paused)
        self.idle = True
        try:
            while not self._stopping and not await self._wake.wait(self.idle_check_s):
                self.idle_checks += 1
                if await self._records_waiting(paused):
                    break
        finally:
            self.idle = False
            self._resumed_at = time.time()
            # Partitions of a newer assignment were never paused; resuming them is harmless.
            self.consumer.resume(*(tp for tp in paused if tp in self.consumer.assignment()))
        self._active_at = time.monotonic()  # awake for idle_after_s: work tends to follow work

    async def _records_waiting(self, partitions: set[TopicPartition]) -> bool:
        """The idle check: one ListOffsets request, answered at once, instead of a fetch (which
        the embedded broker holds for its whole wait, at a cost that grows with the partitions
        asked for). True when a partition's end is not where the consumer stands (records
        waiting, or a broker replaced by an empty one), or it cannot say."""
        try:
            ends = await self.consumer.end_offsets(list(partitions))
            for tp in partitions:
                if ends.get(tp) != await self.consumer.position(tp):
                    return True
        except (KafkaError, AssertionError, TypeError, ValueError):
            return True  # e.g. the partition was revoked meanwhile: fetch and find out
        return False

    async def _start_consumer(self) -> None:
        backoff = 0.5
        while not self._stopping:
            try:
                await self.consumer.start()
                self.started = True
                return
            except Exception as exc:
                log.warning("broker unreachable, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)

    async def handle_round(
        self, batches: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]], epoch: int | None = None
    ) -> None:
        """Everything one fetch returned, over all partitions: one transaction (each partition's
        records in their order) and then one offset commit, instead of one of each per
        partition. Offsets move only after every effect of the round has committed, and not at
        all when the group rebalanced since the fetch (`epoch`, see Rebalances): the partitions
        start again from what the group committed, and the inbox drops what comes twice."""
        await self.handle_batch([record for records in batches.values() for record in records])
        if epoch is not None and epoch != self.rebalances.epoch:
            log.warning("group rebalanced while a round was handled: its offsets are not committed")
            for tp in batches:
                self._positions.pop(tp, None)  # unknown until the next commit: no lag reported from it
            return
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance, or a broker that came back without the group: the records come again
            # after the rejoin and the inbox drops them as duplicates.
            log.warning("offset commit failed, batch will be redelivered", extra={"error": repr(exc)})
            return
        self._positions.update(offsets)

    def _record_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            done = self._positions.get(tp, highwater)
            metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(highwater - done, 0))

    async def handle_batch(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Records in one transaction: the inbox takes every id in one statement and each new
        event's handler runs in order (per partition, the partition's order), so a burst costs
        one commit instead of one per event. If anything in the batch fails, the batch rolls back
        and every record goes the careful way, one transaction each, with retries and
        dead-lettering."""
        if len(records) == 1:
            await self.handle_record(records[0])
            return
        started = time.perf_counter()
        routed: list[tuple[ConsumerRecord[bytes, bytes], DecodedEvent, Handler]] = []
        ignored: list[tuple[str, str]] = []
        for record in records:
            skipped = self._not_ours(record)
            if skipped is not None:
                ignored.append((record.topic, skipped))
                continue
            try:
                decoded = decode(list(record.headers or ()), record.value, record.key)
            except UndecodableMessage:
                routed.clear()
                break
            handler = self.routes.get(decoded.type)
            if handler is not None:
                routed.append((record, decoded, handler))
            else:
                ignored.append((record.topic, decoded.type))
        else:
            try:
                duplicates = await self._handle_many(routed)
            except Exception as exc:
                log.info("batch fell back to one-by-one handling", extra={"error": type(exc).__name__})
            else:
                per_record = (time.perf_counter() - started) / len(records)
                for index, (record, decoded, _) in enumerate(routed):
                    outcome = "duplicate" if index in duplicates else "processed"
                    metrics.EVENTS_CONSUMED.labels(self.name, record.topic, decoded.type, outcome).inc()
                    metrics.HANDLER_SECONDS.labels(self.name, record.topic).observe(per_record)
                for topic, event_type in ignored:
                    metrics.EVENTS_CONSUMED.labels(self.name, topic, event_type, "ignored").inc()
                self.processed += len(routed) - len(duplicates)
                return
        for record in records:
            await self.handle_record(record)

    async def _handle_many(self, routed: list[tuple[ConsumerRecord[bytes, bytes], DecodedEvent, Handler]]) -> set[int]:
        """Handle a batch in one transaction; returns the positions that were duplicates."""
        duplicates: set[int] = set()
        if not routed:
            return duplicates
        async with self.db.uow() as uow:
            ids = [_event_uuid(decoded.id) for _, decoded, _ in routed]
            fresh = {
                row["event_id"]
                for row in await uow.conn.fetch(
                    "INSERT INTO inbox (event_id, consumer, event_type)"
                    " SELECT e.id, $2, e.type FROM unnest($1::uuid[], $3::text[]) AS e(id, type)"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    ids,
                    self.name,
                    [decoded.type for _, decoded, _ in routed],
                )
            }
            for index, ((_, decoded, handler), event_id) in enumerate(zip(routed, ids, strict=True)):
                if event_id not in fresh:
                    duplicates.add(index)
                    continue
                fresh.discard(event_id)  # the same event twice in one batch: the second is a duplicate
                with tracing.continued(decoded.traceparent):
                    await handler(uow, decoded)
            await uow.commit()
        return duplicates

    def _not_ours(self, record: ConsumerRecord[bytes, bytes]) -> str | None:
        """The type of a record this consumer skips: a known event type it does not route, or
        (when another consumer owns the topic's dead letters) anything it does not route.
        None: decode it."""
        ce_type = next((v for k, v in record.headers or () if k == "ce_type"), None)
        name = ce_type.decode(errors="replace") if ce_type is not None else None
        if name is not None and name in self.routes:
            return None
        model = EVENT_TYPES.get(name) if name is not None else None
        if model is not None and model.TOPIC.value == record.topic:
            return name
        if self.dead_letter_topics is not None and record.topic not in self.dead_letter_topics:
            return name or "unknown"
        return None

    async def handle_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        started = time.perf_counter()
        skipped = self._not_ours(record)
        if skipped is not None:
            metrics.EVENTS_CONSUMED.labels(self.name, record.topic, skipped, "ignored").inc()
            return
        try:
            decoded = decode(list(record.headers or ()), record.value, record.key)
        except UndecodableMessage as exc:
            await self._dead_letter(record, exc.reason)
            metrics.EVENTS_CONSUMED.labels(self.name, record.topic, exc.ce_type or "unknown", "dead_lettered").inc()
            return
        handler = self.routes.get(decoded.type)
        if handler is None:
            # Topics carry several event types; those this service does not need are skipped.
            metrics.EVENTS_CONSUMED.labels(self.name, record.topic, decoded.type, "ignored").inc()
            return
        outcome = "processed"
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_transient),
                wait=wait_exponential(multiplier=0.1, max=5),
                reraise=True,
            ):
                with attempt:
                    outcome = await self._handle_once(handler, decoded, record.topic)
        except PermanentError as exc:
            outcome = "dead_lettered"
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            outcome = await self._retry_then_dead_letter(handler, decoded, record, exc)
        metrics.EVENTS_CONSUMED.labels(self.name, record.topic, decoded.type, outcome).inc()
        metrics.HANDLER_SECONDS.labels(self.name, record.topic).observe(time.perf_counter() - started)

    async def _handle_once(self, handler: Handler, decoded: DecodedEvent, topic: str) -> str:
        async with self.db.uow() as uow:
            first_time = await uow.conn.fetchval(
                "INSERT INTO inbox (event_id, consumer, event_type) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING true",
                _event_uuid(decoded.id),
                self.name,
                decoded.type,
            )
            if not first_time:
                return "duplicate"
            with tracing.continued(decoded.traceparent):
                await handler(uow, decoded)
            await uow.commit()
        self.processed += 1
        return "processed"

    async def _retry_then_dead_letter(
        self, handler: Handler, decoded: DecodedEvent, record: ConsumerRecord[bytes, bytes], first: Exception
    ) -> str:
        # Only failures with the infrastructure answering count towards dead-lettering: a handler
        # that failed oddly while PostgreSQL restarted and then meets "connection refused" waits
        # for the database like any transient failure, never parks a payment in the DLQ.
        log.warning(
            "handler failed, retrying",
            extra={"event_id": decoded.id, "event_type": decoded.type, "error": repr(first)},
            exc_info=first,
        )
        error: Exception = first
        failures = 0 if is_transient(first) else 1
        attempt = 0
        while is_transient(error) or failures < self.max_attempts:
            attempt += 1
            await asyncio.sleep(min(0.2 * attempt, 5.0))
            try:
                return await self._handle_once(handler, decoded, record.topic)
            except PermanentError as exc:
                error = exc
                break
            except Exception as exc:
                error = exc
                if not is_transient(exc):
                    failures += 1
        log.error(
            "handler failed, dead-lettering",
            extra={
                "event_id": decoded.id,
                "event_type": decoded.type,
                "subject": decoded.subject,
                "error": repr(error),
            },
        )
        await self._dead_letter(record, f"handler failed: {type(error).__name__}: {error}")
        return "dead_lettered"

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        headers = list(record.headers or ())
        headers += [
            ("krafa_dlq_reason", reason[:2000].encode()),
            ("krafa_dlq_service", self.service.encode()),
            ("krafa_dlq_consumer", self.name.encode()),  # the group is <prefix>.<this> (a lane's own)
            ("krafa_dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        log.warning(
            "dead-lettered record",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason[:300],
            },
        )
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=5), stop=stop_after_attempt(1000), reraise=True
        ):
            with attempt:
                await self.producer.send_and_wait(
                    dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
                )
        metrics.DEAD_LETTERED.labels(self.service, record.topic).inc()


def _event_uuid(value: str) -> uuid.UUID:
    # CloudEvents ids are any string; ours are UUIDs, others are hashed into one.
    return uuid.UUID(value) if _is_uuid(value) else uuid.uuid5(uuid.NAMESPACE_URL, value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def group_for(prefix: str, service: str) -> str:
    return f"{prefix}.{service}"
