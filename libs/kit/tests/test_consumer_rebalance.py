"""A round whose handling outlasts a group rebalance commits no offsets: after the rejoin the
partitions start from what the group committed (or from the beginning on a new, empty broker),
and the records fetched under the old assignment come again (the inbox drops them)."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from krafa_events import encode
from krafa_events.testing import a_claim_created
from krafa_kit.consumer import InboxConsumer
from krafa_kit.db import Database


class FakeConsumer:
    """The slice of AIOKafkaConsumer that InboxConsumer uses to subscribe and commit."""

    def __init__(self) -> None:
        self.listener: Any = None
        self.commits: list[dict[TopicPartition, int]] = []

    def subscription(self) -> set[str]:
        return {"krafa.claims"}

    def subscribe(self, topics: list[str], listener: Any) -> None:
        assert topics == ["krafa.claims"]
        self.listener = listener

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


def _record(offset: int) -> ConsumerRecord[bytes, bytes]:
    event = encode(a_claim_created(), source="/t")
    return ConsumerRecord(
        topic="krafa.claims", partition=2, offset=offset, timestamp=0, timestamp_type=0, key=event.key,
        value=event.value, checksum=None, serialized_key_size=0, serialized_value_size=0,
        headers=list(event.headers),
    )  # fmt: skip


async def test_offsets_fetched_before_a_rebalance_are_not_committed_after_it() -> None:
    fake = FakeConsumer()
    consumer = InboxConsumer(
        service="kit-test", db=cast(Database, None), producer=cast(AIOKafkaProducer, None),
        consumer=cast(AIOKafkaConsumer, fake), routes={},  # no handler: the records are only skipped
    )  # fmt: skip
    assert fake.listener is consumer.rebalances
    tp = TopicPartition("krafa.claims", 2)

    epoch = consumer.rebalances.epoch
    await consumer.handle_round({tp: [_record(7), _record(8)]}, epoch)
    assert fake.commits == [{tp: 9}]

    # Fetched, then the member is kicked out and rejoins while the round is being handled.
    epoch = consumer.rebalances.epoch
    await fake.listener.on_partitions_revoked({tp})
    await fake.listener.on_partitions_assigned({tp})
    await consumer.handle_round({tp: [_record(40), _record(41)]}, epoch)
    assert fake.commits == [{tp: 9}]

    # The next round, fetched after the rejoin, commits again.
    await consumer.handle_round({tp: [_record(0)]}, consumer.rebalances.epoch)
    assert fake.commits == [{tp: 9}, {tp: 1}]
