"""The transactional outbox and its relay.

A use case adds events to `uow.outbox`; they are inserted in the same transaction as the state
change, so a state change never exists without its events and vice versa. The relay publishes
unpublished rows in id order and marks them published. One relay per service publishes at a
time (an advisory lock), which keeps per-key order across replicas. A broker outage only delays
publication: rows wait, API calls keep succeeding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from krafa_events import Event, encode
from krafa_events.envelope import EncodedEvent

from krafa_kit import metrics, tracing
from krafa_kit.producer import ClusterBoundProducer, Outgoing
from krafa_kit.tracing import child_traceparent
from krafa_kit.wakeup import PUBLISHED_CHANNEL

if TYPE_CHECKING:
    from krafa_kit.db import Database

log = logging.getLogger(__name__)


def notify_channel(schema: str) -> str:
    return f"krafa_outbox_{schema}"


class Outbox:
    """Collects the events of one unit of work; `flush()` writes them inside its transaction."""

    def __init__(self, source: str, schema: str | None = None) -> None:
        self.source = source
        # The service's schema (its relay's NOTIFY channel); None: asked of the connection.
        self.schema = schema
        # Each pending event as its outbox row, made when it is added: a use case adds its events
        # while its own statements run, so the commit only sends them (10,000 at the end of a bulk).
        self._rows: list[tuple[Any, ...]] = []
        self._conn: asyncpg.Connection | None = None

    def bind(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def add(self, event: Event, *, time: datetime | None = None, event_id: str | None = None) -> str:
        encoded = encode(event, source=self.source, time=time, event_id=event_id, traceparent=child_traceparent())
        self._rows.append(_record(encoded))
        return encoded.event_id

    def add_many(self, events: Sequence[Event], *, time: datetime, event_ids: Sequence[str]) -> None:
        """`add` for a batch of events with their ids, all at `time`: the very rows `add` makes,
        but the CloudEvents envelope is built once per event type and reused, since between events
        of one type at one time only the id, the subject and the trace differ (a 10,000-claim bulk
        spends half its encoding time in the envelope otherwise); the headers' JSON is the
        template's with those three values put in (json.dumps of the whole list, per event, was
        a third of the rest)."""
        template: _Template | None = None
        # Span ids (and trace ids outside a trace) from one read of the OS's randomness; the events
        # of a request or a handled event continue its trace.
        entropy = os.urandom(24 * len(events)).hex()
        context = tracing.current()
        rows = self._rows
        for n, (event, event_id) in enumerate(zip(events, event_ids, strict=True)):
            subject = event.subject()
            if template is None or template.shape != (type(event), subject is not None):
                encoded = encode(
                    event, source=self.source, time=time, event_id=event_id, traceparent=child_traceparent()
                )
                template = _Template(encoded, (type(event), subject is not None))
                rows.append(_record(encoded))
                continue
            trace = entropy[48 * n : 48 * n + 48]
            traceparent = (
                f"00-{trace[:32]}-{trace[32:]}-01"
                if context is None
                else f"00-{context.trace_id}-{trace[32:]}-{context.flags}"
            )
            fresh = {"ce_id": event_id, "ce_subject": subject, "traceparent": traceparent}
            headers = (
                template.pieces[0]
                + "".join(
                    _json_string(fresh[name]) + piece  # type: ignore[arg-type]
                    for name, piece in zip(template.fresh, template.pieces[1:], strict=True)
                )
            )
            value = event.__pydantic_serializer__.to_json(event)  # model_dump_json's bytes, not decoded
            rows.append((event_id, template.event_type, template.topic, event.key().encode(), headers, value))

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        """The outbox rows `flush` will write: (event_id, event_type, topic, key, headers JSON, value)."""
        return tuple(self._rows)

    @property
    def pending(self) -> tuple[EncodedEvent, ...]:
        """The events added and not yet flushed, as records (read back from their rows)."""
        return tuple(
            EncodedEvent(
                event_id=event_id,
                topic=topic,
                key=key,
                headers=tuple((name, value.encode()) for name, value in json.loads(headers)),
                value=value,
            )
            for event_id, _, topic, key, headers, value in self._rows
        )

    async def flush(self) -> None:
        if not self._rows:
            return
        assert self._conn is not None
        # Taken first: events added while the rows are being written wait for the next flush.
        records, self._rows = self._rows, []
        if len(records) > 50:
            await self._conn.copy_records_to_table(
                "outbox",
                records=records,
                columns=["event_id", "event_type", "topic", "key", "headers", "value"],
            )
        else:
            await self._conn.executemany(
                "INSERT INTO outbox (event_id, event_type, topic, key, headers, value) VALUES ($1, $2, $3, $4, $5, $6)",
                records,
            )
        schema = self.schema or await self._conn.fetchval("SELECT current_schema()")
        # NOTIFY is delivered at commit: it wakes the relay without polling delay.
        await self._conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))


def _record(e: EncodedEvent) -> tuple[Any, ...]:
    headers = [[name, value.decode()] for name, value in e.headers]
    event_type = next(v.decode() for n, v in e.headers if n == "ce_type")
    # The id as text: asyncpg's uuid codec parses it in C.
    return (e.event_id, event_type, e.topic, e.key, json.dumps(headers), e.value)


# The headers that differ between events of one type and time (see add_many).
_FRESH = frozenset({"ce_id", "ce_subject", "traceparent"})
# What json.dumps writes for a string (its ensure_ascii default): the same C function.
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


class _Template:
    """An encoded event's headers as `_record` writes them (json.dumps of [name, value] pairs),
    cut around the values of the `_FRESH` headers: `pieces[0]`, then the value of `fresh[0]`,
    `pieces[1]`, and so on."""

    def __init__(self, encoded: EncodedEvent, shape: tuple[type[Event], bool]) -> None:
        self.shape = shape
        self.topic = encoded.topic
        self.event_type = next(v.decode() for n, v in encoded.headers if n == "ce_type")
        self.fresh: list[str] = []
        self.pieces: list[str] = []
        text = "["
        for i, (name, value) in enumerate(encoded.headers):
            separator = ", " if i else ""
            if name in _FRESH:
                self.pieces.append(f"{text}{separator}[{_json_string(name)}, ")
                self.fresh.append(name)
                text = "]"
            else:
                text += separator + json.dumps([name, value.decode()])
        self.pieces.append(text + "]")


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer: Any,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        retention_days: int = 7,
        transactional_producer: Callable[[], Any] | None = None,
    ) -> None:
        self.db = db
        self.producer = producer
        # With Apache Kafka and KRAFA_KAFKA_TRANSACTIONAL_ID: a producer of its own, made once
        # this replica holds the relay lock, and each batch one Kafka transaction.
        self.transactional_producer = transactional_producer
        self._publisher: Any = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention_days = retention_days
        self._wake = asyncio.Event()
        self._stopping = False
        self.is_leader = False
        self.published_total = 0

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._run_with_connection()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay error, retrying", extra={"error": repr(exc)}, exc_info=True)
                self.is_leader = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_with_connection(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.db.dsn, server_settings={"search_path": f"{self.db.schema},public"}
        )
        try:
            lock_key = f"outbox:{self.db.schema}"
            while not self._stopping:
                if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock_key):
                    break
                await asyncio.sleep(1.0)  # a standby: another replica's relay is publishing
            self.is_leader = True
            if self.transactional_producer is not None:
                # Starting it fences any earlier producer under the same transactional id (a
                # relay that lost its lock but not its process): its open transaction aborts.
                self._publisher = self.transactional_producer()
                await self._publisher.start()
            await conn.add_listener(notify_channel(self.db.schema), self._on_notify)
            last_housekeeping = 0.0
            while not self._stopping:
                # Cleared before the rows are read: a NOTIFY that arrives while a batch is being
                # published wakes the next wait at once instead of being lost until the poll.
                self._wake.clear()
                published = await self._publish_batch(conn)
                now = time.monotonic()
                if now - last_housekeeping > 30:  # backlog gauges and retention: no hurry
                    await self._housekeeping(conn)
                    last_housekeeping = now
                if published < self.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
        finally:
            self.is_leader = False
            if self._publisher is not self.producer:
                with contextlib.suppress(Exception):
                    await self._publisher.stop()
                self._publisher = self.producer
            with contextlib.suppress(Exception):
                await conn.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, headers, value, event_type FROM outbox"
            " WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        if self._publisher is self.producer:
            await self._send_all(rows)
        else:
            # One transaction per batch: read_committed consumers see all of it or, when the
            # commit fails and the rows are sent again, nothing of the first attempt.
            async with self._publisher.transaction():
                await self._send_all(rows)
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
        # A hint for idle consumers in this database (krafa_kit.consumer): fetch these topics now.
        await conn.execute("SELECT pg_notify($1, $2)", PUBLISHED_CHANNEL, ",".join(sorted({r["topic"] for r in rows})))
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(self.service, row["topic"]).inc()
        self.published_total += len(rows)
        return len(rows)

    async def _send_all(self, rows: Sequence[asyncpg.Record]) -> None:
        records = [
            Outgoing(row["topic"], row["value"], row["key"], [(n, v.encode()) for n, v in json.loads(row["headers"])])
            for row in rows
        ]
        # Every record must be acknowledged before any row is marked: a failure leaves the whole
        # batch unpublished, to be sent again (consumers absorb the duplicates).
        if isinstance(self._publisher, ClusterBoundProducer):
            # Acknowledged by the cluster its producer's id is from (krafa_kit.producer).
            await self._publisher.send_all(records)
            return
        futures = [await self._publisher.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)

    async def _housekeeping(self, conn: asyncpg.Connection) -> None:
        backlog, oldest = await conn.fetchrow(
            "SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM outbox WHERE published_at IS NULL"
        )
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(float(oldest or 0.0))
        # Published rows are kept for a retention window so `krafa outbox replay` can restore a
        # lost broker; older ones go.
        await conn.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL AND created_at < now() - make_interval(days => $1)",
            self.retention_days,
        )


async def replay(db: Database, since: datetime) -> int:
    """Mark every event created since `since` unpublished again; the relay republishes them."""
    async with db.connection() as conn:
        result: str = await conn.execute("UPDATE outbox SET published_at = NULL WHERE created_at >= $1", since)
    schema = db.schema
    async with db.connection() as conn:
        await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
    return int(result.split()[-1])
