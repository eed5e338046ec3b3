"""`krafa dlq list` and `krafa dlq replay`: the dead-letter topics, read and replayed.

A consumer that cannot decode a record, or whose handler fails on it for good, copies it to
`<topic>.dlq` (krafa_kit.consumer) with its key, value and headers, plus `krafa_dlq_reason`,
`krafa_dlq_service`, `krafa_dlq_consumer` (the group is `<prefix>.<consumer>`) and
`krafa_dlq_source` (`<topic>/<partition>/<offset>` of the original). Every group that fails on a
record writes a dead letter of its own.

`replay` republishes the original — its key, value and every header but the `krafa_dlq_*` ones
(the CloudEvents `ce_*` and `traceparent` as they were) — to its topic and partition, once however
many groups dead-lettered it, and then writes a replay marker beside each of its dead letters, in
the same DLQ partition: a record with the header `krafa_dlq_replay_of` (the dead letter's
position) and a JSON value saying where it went, when and by whom. The markers are the record of
what was replayed, shared by every operator and kept as long as the DLQ: `list` shows them and
`replay` refuses a replayed record unless `--again`. A replay stopped between the two writes
leaves its record unmarked; replaying it again is harmless, as below. Why the DLQ holds the
markers: docs/adr/0014-dead-letter-replay-marks-the-dlq.md.

Why a replay applies nothing twice: every consumer records an event's id in its inbox in the
transaction of the event's effect (krafa_kit.consumer), so a group that already processed the
event drops the replayed copy as a duplicate and only the groups that failed on it apply it. The
inbox keeps an id KRAFA_INBOX_RETENTION_DAYS (30) days after processing: a dead letter older than
that, less a day's margin, may have left the inboxes, and is refused unless
`--past-inbox-retention`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from krafa_events.topics import Topic, dlq_topic

from krafa import targets
from krafa.targets import EXIT_UNAVAILABLE, EXIT_USAGE, CliError

DLQ_PREFIX = "krafa_dlq_"
REPLAY_OF = "krafa_dlq_replay_of"
REPLAYED_TO = "krafa_dlq_replayed_to"
TOPICS = tuple(t.value for t in Topic)
INBOX_MARGIN = timedelta(days=1)

SAFETY = (
    "Safe to repeat for the groups that already processed an event: every consumer records the event id in "
    "its inbox in the transaction of its effect, so they drop the replayed copy as a duplicate and only the "
    "groups that failed on it apply it. The inbox keeps ids KRAFA_INBOX_RETENTION_DAYS (30) days: a dead letter "
    "older than that (less a day) is refused unless --past-inbox-retention."
)


@dataclass(frozen=True)
class Replay:
    """A replay marker: the dead letter at `of` was republished to `to` at `at` by `by`."""

    of: str
    to: str
    at: datetime
    by: str

    def to_json(self) -> dict[str, str]:
        return {"to": self.to, "at": _iso(self.at), "by": self.by}


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
            "dead_lettered_at": _iso(self.dead_lettered_at),
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


def _iso(when: datetime, timespec: str = "auto") -> str:
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _shown(when: datetime) -> str:
    return _iso(when, "seconds")


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
        await consumer.topics()
        partitions = [
            TopicPartition(name, p)
            for name in (dlq_topic(t) for t in topics)
            for p in sorted(consumer.partitions_for_topic(name) or ())
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
            at = _iso(datetime.now(UTC))
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


# -- the commands ---------------------------------------------------------------------------------


def _settings() -> Any:
    """The Kafka security options and consumer-group prefix of the services' environment
    (KRAFA_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*, KRAFA_KAFKA_CONSUMER_GROUP_PREFIX,
    KRAFA_INBOX_RETENTION_DAYS)."""
    from krafa_kit.settings import ServiceSettings
    from pydantic import ValidationError

    try:
        return ServiceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"KRAFA_{str(first['loc'][0]).upper()}: {first['msg']}", EXIT_USAGE) from None


def bootstrap(args: argparse.Namespace) -> str:
    """--bootstrap, else --stack's broker, else $KRAFA_KAFKA_BOOTSTRAP; never a guess."""
    if args.bootstrap:
        return str(args.bootstrap)
    stack = targets.local_stack(args)
    if stack is not None:
        return f"127.0.0.1:{stack.ports['broker']}"
    if os.environ.get("KRAFA_KAFKA_BOOTSTRAP"):
        return os.environ["KRAFA_KAFKA_BOOTSTRAP"]
    raise CliError(
        "which broker? pass --bootstrap HOST:PORT, set KRAFA_KAFKA_BOOTSTRAP, or --stack for the local stack "
        "(`krafa run`)",
        EXIT_USAGE,
    )


def _topics(args: argparse.Namespace) -> list[str]:
    return sorted({t.removesuffix(".dlq") for t in args.topic}) if args.topic else list(TOPICS)


def topic_name(text: str) -> str:
    """An argparse type: a Krafa topic, named with or without `.dlq`."""
    if text.removesuffix(".dlq") not in TOPICS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Krafa topic ({', '.join(TOPICS)})")
    return text


async def _read_filtered(args: argparse.Namespace, settings: Any) -> tuple[str, list[DeadLetter]]:
    from krafa_kit.kafka import security_options

    where = bootstrap(args)
    try:
        async with asyncio.timeout(args.timeout):
            letters = await read(where, _topics(args), security_options(settings))
    except TimeoutError:
        raise CliError(f"the broker at {where} did not answer within {args.timeout:g} s", EXIT_UNAVAILABLE) from None
    prefix = settings.kafka_consumer_group_prefix
    return where, [d for d in letters if matches(d, groups=args.group or [], since=args.since, prefix=prefix)]


def _kafka_errors(where: str, exc: BaseException) -> CliError | None:
    from aiokafka.errors import KafkaError

    if isinstance(exc, KafkaError):
        return CliError(f"cannot reach the broker at {where}: {type(exc).__name__}; is it running?", EXIT_UNAVAILABLE)
    return None


def _run(where: str, coro: Any) -> Any:
    """Run a coroutine; a broker that cannot be reached is one line naming it (aiokafka's own
    log lines about it are not shown: the one line says it)."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except CliError:
        raise
    except Exception as exc:
        failure = _kafka_errors(where, exc)
        if failure is None:
            raise
        raise failure from None


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings()
    prefix = settings.kafka_consumer_group_prefix
    _, letters = _run(bootstrap(args), _read_filtered(args, settings))
    if args.not_replayed:
        letters = [d for d in letters if not d.replays]
    if args.json:
        print(json.dumps([d.to_json(prefix) for d in letters], indent=2, ensure_ascii=False))
        return 0
    for topic in _topics(args):
        name = dlq_topic(topic)
        mine = [d for d in letters if d.dlq_topic == name]
        replayed = sum(1 for d in mine if d.replays)
        print(
            f"{name}: {len(mine)} dead letter{'s' if len(mine) != 1 else ''}"
            + (f", {replayed} replayed" if replayed else "")
        )
        for d in mine:
            source_topic, partition, offset = d.source
            source = f"{source_topic}/{partition}/{offset}" if partition is not None else source_topic
            print(
                f"  {d.position}  {_shown(d.dead_lettered_at)}  from {source}  {d.event_type or '(no ce_type)'}"
                f"  {d.event_id or '(no ce_id)'}  {d.group(prefix)}"
            )
            print(f"      {d.reason.splitlines()[0][:200] if d.reason else '(no reason)'}")
            if d.replay_of:
                print(f"      failed again after the replay of {', '.join(d.replay_of)}")
            for r in d.replays:
                print(f"      replayed {_shown(r.at)} to {r.to} by {r.by}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.records and not args.topic and not args.group:
        raise CliError(
            "which records? name event ids or DLQ positions (TOPIC.dlq/PARTITION/OFFSET), or --topic / --group "
            "for all of a topic or a group",
            EXIT_USAGE,
        )
    settings = _settings()
    prefix = settings.kafka_consumer_group_prefix
    where, letters = _run(bootstrap(args), _read_filtered(args, settings))
    chosen = letters
    if args.records:
        wanted = set(args.records)
        chosen = [d for d in letters if d.position in wanted or d.event_id in wanted]
        found = {d.position for d in chosen} | {d.event_id for d in chosen}
        unknown = sorted(wanted - found)
        if unknown:
            raise CliError(
                f"no dead letter {', '.join(unknown)} (matching the filters) in the DLQs at {where}", EXIT_USAGE
            )
    # A dead letter replayed before is left out unless --again; a named record with nothing left
    # to replay is refused (an event id whose replay failed again still has its new dead letter).
    skipped = [] if args.again else [d for d in chosen if d.replays]
    for name in [] if args.again else args.records:
        theirs = [d for d in chosen if name in (d.position, d.event_id)]
        if all(d.replays for d in theirs):
            d = theirs[-1]
            raise CliError(
                f"{d.position} ({d.event_type} {d.event_id}) was replayed at {_shown(d.replays[-1].at)} to "
                f"{d.replays[-1].to}; nothing replayed — pass --again to replay it once more",
                1,
            )
    chosen = [d for d in chosen if args.again or not d.replays]
    retention_days = args.inbox_retention_days or settings.inbox_retention_days
    limit = datetime.now(UTC) - timedelta(days=retention_days) + INBOX_MARGIN
    old = [d for d in chosen if d.dead_lettered_at < limit]
    if old and not args.past_inbox_retention:
        d = old[0]
        raise CliError(
            f"{d.position} was dead-lettered {_shown(d.dead_lettered_at)}, near or past the inbox retention "
            f"({retention_days} days): a group that processed it may no longer know its id and would "
            "apply it again; nothing replayed — check, then pass --past-inbox-retention",
            1,
        )
    planned = plan(chosen)
    if args.dry_run:
        results = [(p, None) for p in planned]
    else:
        by = f"{getpass.getuser()}@{socket.gethostname()}"
        results = [(p, to) for p, to in _run(where, republish(where, planned, _security(settings), by=by))]
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "replayed": [p.to_json(prefix, to) for p, to in results],
                    "skipped": [
                        {"dlq": d.position, "event_id": d.event_id, "replays": [r.to_json() for r in d.replays]}
                        for d in skipped
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    verb = "would replay" if args.dry_run else "replayed"
    for p, to in results:
        groups = ", ".join(sorted({d.group(prefix) for d in p.letters}))
        target = f" to {to}" if to else f" to {p.first.source_position}"
        print(
            f"{verb} {', '.join(d.position for d in p.letters)}{target}  {p.first.event_type or '(no ce_type)'}"
            f"  {p.first.event_id or '(no ce_id)'}  (dead-lettered by {groups})"
        )
    for d in skipped:
        print(f"skipped {d.position}: replayed at {_shown(d.replays[-1].at)} to {d.replays[-1].to} (--again to repeat)")
    print(f"{len(results)} record{'s' if len(results) != 1 else ''} {verb}, {len(skipped)} skipped", file=sys.stderr)
    return 0


def _security(settings: Any) -> dict[str, Any]:
    from krafa_kit.kafka import security_options

    return security_options(settings)


def add_commands(sub: Any) -> None:
    dlq = sub.add_parser(
        "dlq", help="dead-letter topics: list what consumers could not process, replay it"
    ).add_subparsers(dest="action", required=True)
    target = (
        "The broker: --bootstrap, KRAFA_KAFKA_BOOTSTRAP, or --stack for the local stack; its security from the "
        "services' KRAFA_KAFKA_* variables."
    )

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--bootstrap", default=None, metavar="HOST:PORT", help="the Kafka bootstrap servers")
        targets.add_stack_option(parser)
        parser.add_argument(
            "--topic",
            action="append",
            type=topic_name,
            default=None,
            help="only the DLQ of this topic (krafa.claims or krafa.claims.dlq; repeat for several; default: all)",
        )
        parser.add_argument(
            "--group",
            action="append",
            default=None,
            help="only records this consumer group dead-lettered (krafa.notifier, or the service: notifier; repeat "
            "for several)",
        )
        from krafa.cli import iso_time

        parser.add_argument(
            "--since", type=iso_time, default=None, help="only records dead-lettered at or after this ISO 8601 time"
        )
        parser.add_argument("--json", action="store_true", help="the records as JSON")
        parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the broker (default 60)")

    listing = dlq.add_parser(
        "list",
        help="the dead-lettered records of every DLQ: source, event, consumer group, error, when, replays",
        description="Reads every <topic>.dlq from its beginning (no consumer group, nothing committed). " + target,
    )
    common(listing)
    listing.add_argument("--not-replayed", action="store_true", help="only records not replayed yet")
    listing.set_defaults(func=cmd_list)

    replay = dlq.add_parser(
        "replay",
        help="republish dead-lettered records to their topic with their key, value and CloudEvents headers",
        description="Republishes each chosen record's original (once, however many groups dead-lettered it) to "
        "its topic and partition, and marks its dead letters replayed in the DLQ (`krafa dlq list` shows it; a "
        "second replay is refused without --again). " + SAFETY + " " + target,
    )
    replay.add_argument(
        "records",
        nargs="*",
        metavar="RECORD",
        help="an event id (ce_id) or a dead letter's position TOPIC.dlq/PARTITION/OFFSET; none: every record the "
        "--topic/--group/--since filters pick",
    )
    common(replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; write nothing")
    replay.add_argument(
        "--again",
        action="store_true",
        help="replay records already replayed (by default named ones are refused and those a filter picks are skipped)",
    )
    replay.add_argument(
        "--inbox-retention-days",
        type=int,
        default=None,
        help="the services' inbox retention in days (default: KRAFA_INBOX_RETENTION_DAYS, else 30)",
    )
    replay.add_argument(
        "--past-inbox-retention",
        action="store_true",
        help="replay records dead-lettered longer ago than the inbox retention (a group that processed one may "
        "apply it again: check first)",
    )
    replay.set_defaults(func=cmd_replay)
