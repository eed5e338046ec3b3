"""The dead-letter topics, read and replayed: the one implementation behind `krafa dlq list` /
`krafa dlq replay` and the operators' dead-letter page in the web.

A consumer that cannot decode a record, or whose handler fails on it for good, copies it to
`<topic>.dlq` (krafa_kit.consumer) with its key, value and headers, plus `krafa_dlq_reason`,
`krafa_dlq_service`, `krafa_dlq_consumer` (the group is `<prefix>.<consumer>`) and
`krafa_dlq_source` (`<topic>/<partition>/<offset>` of the original). Every group that fails on a
record writes a dead letter of its own.

A replay republishes the original — its key, value and every header but the `krafa_dlq_*` ones
(the CloudEvents `ce_*` and `traceparent` as they were) — to its topic and partition, once however
many groups dead-lettered it, and then writes a replay marker beside each of its dead letters, in
the same DLQ partition: a record with the header `krafa_dlq_replay_of` (the dead letter's
position) and a JSON value saying where it went, when and by whom. The markers are the record of
what was replayed, shared by every operator and kept as long as the DLQ: listings show them and
`choose` refuses a replayed record unless `again`. A replay stopped between the two writes leaves
its record unmarked; replaying it again is harmless, as below. Why the DLQ holds the markers:
docs/adr/0014-dead-letter-replay-marks-the-dlq.md.

Why a replay applies nothing twice: every consumer records an event's id in its inbox in the
transaction of the event's effect (krafa_kit.consumer), so a group that already processed the
event drops the replayed copy as a duplicate and only the groups that failed on it apply it. The
inbox keeps an id KRAFA_INBOX_RETENTION_DAYS (30) days after processing: a dead letter older than
that, less a day's margin, may have left the inboxes, and is refused unless `past_retention`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from krafa_events.topics import Topic, dlq_topic

DLQ_PREFIX = "krafa_dlq_"
REPLAY_OF = "krafa_dlq_replay_of"
REPLAYED_TO = "krafa_dlq_replayed_to"
TOPICS = tuple(t.value for t in Topic)
INBOX_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Replay:
    """A replay marker: the dead letter at `of` was republished to `to` at `at` by `by`."""

    of: str
    to: str
    at: datetime
    by: str

    def to_json(self) -> dict[str, str]:
        return {"to": self.to, "at": iso(self.at), "by": self.by}


@dataclass
class DeadLetter:
    """One record of a DLQ topic, with the replays recorded for it."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    replays: list[Replay] = field(default_factory=list)
    # The dead letters whose replay this record is (it failed again after being replayed).
    replay_of: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        raw = next((v for k, v in self.headers if k == name), None)
        return raw.decode(errors="replace") if raw is not None else None

    @property
    def position(self) -> str:
        return f"{self.dlq_topic}/{self.partition}/{self.offset}"

    @property
    def source(self) -> tuple[str, int | None, int | None]:
        """The original record's topic, partition and offset (partition and offset None when
        the dead letter does not say)."""
        topic = self.dlq_topic.removesuffix(".dlq")
        text = self.header("krafa_dlq_source")
        if text:
            name, _, rest = text.rpartition("/")
            name, _, partition = name.rpartition("/")
            if name and partition.isdigit() and rest.isdigit():
                return name, int(partition), int(rest)
        return topic, None, None

    @property
    def source_position(self) -> str:
        topic, partition, offset = self.source
        return f"{topic}/{partition}/{offset}" if partition is not None else self.position

    @property
    def event_id(self) -> str | None:
        return self.header("ce_id")

    @property
    def event_type(self) -> str | None:
        return self.header("ce_type")

    @property
    def consumer(self) -> str:
        return self.header("krafa_dlq_consumer") or self.header("krafa_dlq_service") or "unknown"

    def group(self, prefix: str) -> str:
        return f"{prefix}.{self.consumer}"

    @property
    def reason(self) -> str:
        return self.header("krafa_dlq_reason") or ""

    @property
    def dead_lettered_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_PREFIX)]

    def to_json(self, prefix: str) -> dict[str, Any]:
        topic, partition, offset = self.source
        return {
            "dlq": self.position,
            "dead_lettered_at": iso(self.dead_lettered_at),
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": self.header("ce_time"),
            "subject": self.header("ce_subject"),
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "service": self.header("krafa_dlq_service"),
            "consumer_group": self.group(prefix),
            "reason": self.reason,
            "replays": [r.to_json() for r in self.replays],
            "replay_of": self.replay_of,
        }


def iso(when: datetime, timespec: str = "auto") -> str:
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def shown(when: datetime) -> str:
    return iso(when, "seconds")


# -- reading --------------------------------------------------------------------------------------


async def read(bootstrap: str, topics: Iterable[str], security: dict[str, Any]) -> list[DeadLetter]:
    """Every dead letter of the DLQs of `topics`, oldest first per partition, each with the
    replays recorded for it; up to the end of each partition as it was when reading began."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15000,
        **security,
    )
    try:
        await consumer.start()
        # A metadata request for every topic: the client's own metadata holds only the topics it
        # was asked about, none yet (Apache Kafka answers the start's empty topic list with no
        # topic, where the embedded broker sends them all), and `topics()` does not add to it.
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(name, p)
            for name in (dlq_topic(t) for t in topics)
            for p in sorted(cluster.partitions_for_topic(name) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > starts[tp]}
        await consumer.seek_to_beginning(*pending)
        letters: list[DeadLetter] = []
        markers: list[Replay] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    headers = tuple((k, v) for k, v in record.headers or () if v is not None)
                    if any(k == REPLAY_OF for k, _ in headers):
                        marker = _marker(record.value)
                        if marker is not None:
                            markers.append(marker)
                        continue
                    letters.append(
                        DeadLetter(
                            tp.topic, tp.partition, record.offset, record.timestamp, record.key, record.value, headers
                        )
                    )
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    by_position = {letter.position: letter for letter in letters}
    replayed_to: dict[str, list[str]] = {}
    for marker in markers:
        if marker.of in by_position:
            by_position[marker.of].replays.append(marker)
        replayed_to.setdefault(marker.to, []).append(marker.of)
    for letter in letters:
        letter.replay_of = sorted(replayed_to.get(letter.source_position, []))
    letters.sort(key=lambda d: (d.dlq_topic, d.timestamp_ms, d.partition, d.offset))
    return letters


def _marker(value: bytes | None) -> Replay | None:
    try:
        data = json.loads(value or b"")
        return Replay(str(data["replay_of"]), str(data["to"]), datetime.fromisoformat(data["at"]), str(data["by"]))
    except (ValueError, KeyError, TypeError):
        return None  # a marker someone else wrote by hand: not ours to read


def matches(letter: DeadLetter, *, groups: list[str], since: datetime | None, prefix: str) -> bool:
    """Whether a dead letter passes the --group and --since filters (a group is named as
    `krafa.notifier` or as the service `notifier`; a service's group takes in its lanes')."""
    if since is not None and letter.dead_lettered_at < since:
        return False
    if groups:
        group = letter.group(prefix)
        service = letter.header("krafa_dlq_service") or letter.consumer
        return any(g in (group, letter.consumer, service) or group.startswith(g + ".") for g in groups)
    return True


# -- replaying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One original record to republish, with every dead letter of it (one per group)."""

    letters: tuple[DeadLetter, ...]

    @property
    def first(self) -> DeadLetter:
        return self.letters[0]

    def to_json(self, prefix: str, to: str | None = None) -> dict[str, Any]:
        first = self.first
        topic, partition, offset = first.source
        return {
            "source": f"{topic}/{partition}/{offset}" if partition is not None else None,
            "topic": topic,
            "event_id": first.event_id,
            "event_type": first.event_type,
            "dead_letters": [d.position for d in self.letters],
            "consumer_groups": sorted({d.group(prefix) for d in self.letters}),
            "replayed_to": to,
        }


def plan(letters: list[DeadLetter]) -> list[Planned]:
    """The originals of `letters`, each republished once: the dead letters of one record (one
    per group that failed on it), and of one event (its earlier replays that failed again),
    are one copy of the same key, value and headers."""
    by_original: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_original.setdefault(f"id {letter.event_id}" if letter.event_id else letter.source_position, []).append(
            letter
        )
    return [Planned(tuple(group)) for group in by_original.values()]


async def republish(
    bootstrap: str, planned: list[Planned], security: dict[str, Any], *, by: str
) -> list[tuple[Planned, str]]:
    """Republish each original to its topic (and partition, while the topic has it), then mark
    its dead letters replayed. Returns each with where it went."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000, **security)
    done: list[tuple[Planned, str]] = []
    try:
        await producer.start()
        for item in planned:
            first = item.first
            topic, partition, _ = first.source
            known = await producer.partitions_for(topic)
            sent = await producer.send_and_wait(
                topic,
                value=first.value,
                key=first.key,
                headers=first.original_headers(),
                partition=partition if partition is not None and partition in known else None,
            )
            to = f"{topic}/{sent.partition}/{sent.offset}"
            at = iso(datetime.now(UTC))
            for letter in item.letters:
                marker = {"replay_of": letter.position, "to": to, "at": at, "by": by}
                await producer.send_and_wait(
                    letter.dlq_topic,
                    value=json.dumps(marker).encode(),
                    partition=letter.partition,
                    headers=[(REPLAY_OF, letter.position.encode()), (REPLAYED_TO, to.encode())],
                )
            done.append((item, to))
    finally:
        await producer.stop()
    return done


class ReplayRefused(Exception):
    """Nothing was replayed, and why (a named record unknown or already replayed, or one past
    the inbox retention)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Choice:
    """What a replay would republish, and the dead letters it leaves out as replayed before."""

    planned: list[Planned]
    skipped: list[DeadLetter]


def choose(
    letters: list[DeadLetter],
    records: list[str],
    *,
    again: bool,
    retention_days: int,
    past_retention: bool,
    now: datetime,
    where: str = "the broker",
) -> Choice:
    """The replay rules, shared by the CLI and the web: `records` (event ids or DLQ positions;
    none: every letter given) pick the letters; one replayed before is left out unless `again`,
    and a named record with nothing left to replay is refused (an event id whose replay failed
    again still has its new dead letter); a letter dead-lettered near or past the inbox retention
    is refused unless `past_retention`."""
    chosen = letters
    if records:
        wanted = set(records)
        chosen = [d for d in letters if d.position in wanted or d.event_id in wanted]
        found = {d.position for d in chosen} | {d.event_id for d in chosen}
        unknown = sorted(wanted - found)
        if unknown:
            raise ReplayRefused(
                "unknown", f"no dead letter {', '.join(unknown)} (matching the filters) in the DLQs at {where}"
            )
    skipped = [] if again else [d for d in chosen if d.replays]
    for name in [] if again else records:
        theirs = [d for d in chosen if name in (d.position, d.event_id)]
        if all(d.replays for d in theirs):
            d = theirs[-1]
            raise ReplayRefused(
                "replayed",
                f"{d.position} ({d.event_type} {d.event_id}) was replayed at {shown(d.replays[-1].at)} to "
                f"{d.replays[-1].to}; nothing replayed — pass --again to replay it once more",
            )
    chosen = [d for d in chosen if again or not d.replays]
    limit = now - timedelta(days=retention_days) + INBOX_MARGIN
    old = [d for d in chosen if d.dead_lettered_at < limit]
    if old and not past_retention:
        d = old[0]
        raise ReplayRefused(
            "past_retention",
            f"{d.position} was dead-lettered {shown(d.dead_lettered_at)}, near or past the inbox retention "
            f"({retention_days} days): a group that processed it may no longer know its id and would "
            "apply it again; nothing replayed — check, then pass --past-inbox-retention",
        )
    return Choice(plan(chosen), skipped)
