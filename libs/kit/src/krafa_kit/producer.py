"""The service's own producer (dead letters, and the outbox relay's records unless transactions
are configured), bound to the cluster its idempotence state came from.

An idempotent producer holds a producer id the cluster gave it and a sequence number per
partition; the broker drops a batch whose (id, epoch, sequence) it has seen and acknowledges it as
if written. Both are only meaningful on the cluster that handed the id out. When that cluster is
lost and an empty one comes up behind the same addresses (the disaster-recovery path:
`krafa outbox replay` onto a new cluster), a running producer keeps its old id, and the new
cluster hands the same ids out again (each cluster allocates them from 0 in blocks of 1000): two
producers then write under one id, and the second's first record on a partition the first already
wrote to is acknowledged as a duplicate and never stored. Nothing fails, the record is gone.

So each send is checked against the cluster id the brokers report: before it (a producer from
another cluster is replaced before it writes anything), and after the acknowledgement (a record
queued while the old cluster went away and delivered to the new one may have been taken for
another producer's: it is sent again by a new producer; a consumer absorbs a second copy, see
krafa_kit.consumer's inbox). A producer whose sender stopped on a producer-state error
(out-of-order sequence, unknown producer id) is replaced too, instead of failing every later send.

A transactional producer needs none of this: every transaction asks its coordinator for the
producer id's mapping first, which a new cluster refuses (InvalidProducerIdMapping), and the relay
makes a new one. Without idempotence there is no producer id to outlive its cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger(__name__)

# How long a replaced producer may take to flush and close before it is left to the collector.
RETIRE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Outgoing:
    """One record to send."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None


class ClusterChanged(Exception):
    """The cluster behind the bootstrap addresses is not the one a producer's id came from."""


async def cluster_id(producer: AIOKafkaProducer) -> str | None:
    """The cluster id a broker reports now (a metadata request for no topic); None from a broker
    too old to say (metadata v2 added it)."""
    client = producer.client
    node = client.get_random_node()
    if node is None:
        raise KafkaConnectionError("no broker known to ask for the cluster id")
    response = await client.send(node, MetadataRequest([]))
    found = getattr(response, "cluster_id", None)
    return str(found) if found is not None else None


class ClusterBoundProducer:
    """An AIOKafkaProducer made by `factory`, replaced by a new one when the cluster changes under
    an idempotent one (see the module's docstring). `start`, `send_and_wait` and `stop` as
    aiokafka's; `send_all` sends several records and waits for every acknowledgement."""

    def __init__(self, factory: Callable[[], AIOKafkaProducer], *, idempotent: bool) -> None:
        self._factory = factory
        self.idempotent = idempotent
        # Made at once, so a configuration error shows where the producer is created.
        self._producer = factory()
        self._cluster: str | None = None
        self._ready = False
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.replaced = 0

    @property
    def producer(self) -> AIOKafkaProducer:
        """The aiokafka producer in use (the next to be started, before `start`)."""
        return self._producer

    async def start(self) -> None:
        await self._current()

    async def stop(self) -> None:
        producer, self._ready = self._producer, False
        with contextlib.suppress(Exception):
            await producer.stop()
        if self._retiring:
            await asyncio.wait(self._retiring, timeout=RETIRE_TIMEOUT_S)

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any:
        """The record's RecordMetadata once the cluster the producer's id is from has it."""
        sent = await self.send_all([Outgoing(topic, value, key, list(headers or ()), partition)])
        return sent[0]

    async def send_all(self, records: Sequence[Outgoing]) -> list[Any]:
        """Send `records` and wait for every acknowledgement (RecordMetadata, in order). Sent
        again whole by a new producer when the cluster changed meanwhile; a failure raises with
        some perhaps written (the caller sends again, the consumers absorb the copies)."""
        while True:
            producer, cluster = await self._current()
            if self.idempotent and await cluster_id(producer) != cluster:
                self._replace(producer, f"cluster {cluster} gone before a send")
                continue
            try:
                futures = [
                    await producer.send(r.topic, value=r.value, key=r.key, partition=r.partition, headers=r.headers)
                    for r in records
                ]
                sent = list(await asyncio.gather(*futures))
            except Exception as exc:
                if _sender_stopped(producer):
                    self._replace(producer, f"its sender stopped: {exc!r}")
                raise
            now = await cluster_id(producer) if self.idempotent else cluster
            if now == cluster:
                return sent
            # Acknowledged, but perhaps by a new cluster as a duplicate of another producer's
            # record under the same id: sent again by a producer with an id of the new cluster.
            self._replace(producer, f"cluster {cluster} replaced by {now} under a send")

    async def _current(self) -> tuple[AIOKafkaProducer, str | None]:
        """The started producer and the cluster its id came from (started here if need be)."""
        async with self._lock:
            producer = self._producer
            if not self._ready:
                try:
                    await producer.start()
                    # An idempotent producer gets its id during `start`: the cluster asked after it
                    # is the id's, or a later one (then the first send replaces it, to be safe).
                    self._cluster = await cluster_id(producer) if self.idempotent else None
                except BaseException:
                    self._retire(producer)
                    self._producer = self._factory()
                    raise
                self._ready = True
            return producer, self._cluster

    def _replace(self, producer: AIOKafkaProducer, reason: str) -> None:
        if producer is not self._producer:
            return  # another send replaced it already
        log.warning("Kafka producer replaced", extra={"reason": reason})
        self.replaced += 1
        self._producer, self._ready, self._cluster = self._factory(), False, None
        self._retire(producer)

    def _retire(self, producer: AIOKafkaProducer) -> None:
        async def close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), RETIRE_TIMEOUT_S)

        task = asyncio.get_running_loop().create_task(close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)


def _sender_stopped(producer: AIOKafkaProducer) -> bool:
    # aiokafka stops its sender for good on producer-state errors (OutOfOrderSequenceNumber and
    # the like) and fails every later send with it; it has no public way to ask.
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    return task is not None and task.done()
