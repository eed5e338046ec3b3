"""`krafa dlq list` and `krafa dlq replay` over the real embedded broker: records dead-lettered
the way the kit's consumer does it (two groups failing on one event, and a record nobody could
decode), listed with their source, event, group and error, replayed to their own topic and
partition with their key, value and CloudEvents headers — once per original, and only once
unless asked again."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from krafa.cli import main
from krafa.dlq import DeadLetter, bootstrap, matches, plan
from krafa.targets import CliError
from krafa_events import ClaimCancelled, ClaimCreated, DecodedEvent, Topic, decode, encode
from krafa_events.testing import a_claim_created
from krafa_kit import metrics
from krafa_kit.consumer import InboxConsumer, PermanentError
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.kafka import create_consumer, create_producer
from krafa_kit.migrations import migrate_async
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import eventually, publish

pytestmark = pytest.mark.integration

KRAFA = str(Path(sys.executable).with_name("krafa"))
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def krafa_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as an operator runs it."""
    return subprocess.run([KRAFA, *argv], capture_output=True, text=True, timeout=60, check=False)


def _in_process(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    # Signal handlers belong to the main thread; the process's own are left alone.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), patch("krafa.cli.stop_on_signals"):
        try:
            main(list(argv))
        except SystemExit as exited:
            code = int(exited.code or 0)
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


async def krafa(*argv: str) -> subprocess.CompletedProcess[str]:
    """The command line's own `main`, on a thread of its own (it runs its own event loop): the
    same parsing, errors and exit codes, without a process start per command."""
    return await asyncio.to_thread(_in_process, argv)


async def records(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic`, from the beginning to its end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[ConsumerRecord[bytes, bytes]] = []
        while sum(ends.values()) > len(out):
            for batch in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                out.extend(batch)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def dead_letter(bootstrap: str, record: ConsumerRecord[bytes, bytes], service: str, lane: str, why: str) -> None:
    """Exactly what the kit's consumer writes when it gives up on `record`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    unused = AIOKafkaConsumer(bootstrap_servers=bootstrap)  # never started: only the producer writes
    await producer.start()
    try:
        consumer = InboxConsumer(
            service=service,
            db=None,  # type: ignore[arg-type]  # dead-lettering never touches the database
            consumer=unused,
            producer=producer,
            routes={},
            lane=lane,
        )
        await consumer._dead_letter(record, why)
    finally:
        await producer.stop()
        await unused.stop()


async def listed(bootstrap: str, *argv: str) -> list[dict[str, Any]]:
    result = await krafa("dlq", "list", "--bootstrap", bootstrap, "--json", *argv)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_dead_letters_are_listed_and_replayed_once_to_their_topic(broker: EmbeddedBroker) -> None:
    bootstrap = broker.bootstrap

    event = ClaimCancelled(
        creditor_id=uuid.uuid4(),
        debtor_id=uuid.uuid4(),
        claim_id=uuid.uuid4(),
        reason="sent in error",
        cancelled_at=datetime.now(UTC),
    )
    encoded = encode(event, source="/krafa/claims-api", traceparent=TRACEPARENT)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("krafa.claims", encoded.value, key=encoded.key, headers=list(encoded.headers))
        await producer.send_and_wait("krafa.payments", b"\x00not an event", key=b"garbage")
    finally:
        await producer.stop()
    [original] = await records(bootstrap, "krafa.claims")
    [garbage] = await records(bootstrap, "krafa.payments")
    # Two groups fail on the event (one of them a lane); one fails to decode the garbage.
    await dead_letter(bootstrap, original, "notifier", "stops", "handler failed: ValueError: no such claim")
    await dead_letter(bootstrap, original, "scheduler", "", "handler failed: KeyError: 'policy'")
    await dead_letter(bootstrap, garbage, "claims-api", "", "missing CloudEvents headers ce_type/ce_id")

    everything = await listed(bootstrap)
    assert len(everything) == 3
    by_group = {d["consumer_group"]: d for d in everything}
    g = ServiceSettings().kafka_consumer_group_prefix  # "krafa" (a test on Apache Kafka sets its own)
    assert set(by_group) == {f"{g}.notifier.stops", f"{g}.scheduler", f"{g}.claims-api"}
    stops = by_group[f"{g}.notifier.stops"]
    assert (stops["topic"], stops["partition"], stops["offset"]) == ("krafa.claims", original.partition, 0)
    assert (stops["event_id"], stops["event_type"]) == (encoded.event_id, ClaimCancelled.TYPE)
    assert stops["reason"] == "handler failed: ValueError: no such claim" and stops["service"] == "notifier"
    assert stops["dlq"].startswith("krafa.claims.dlq/") and stops["replays"] == []
    assert datetime.fromisoformat(stops["dead_lettered_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    junk = by_group[f"{g}.claims-api"]
    assert (junk["topic"], junk["event_id"], junk["reason"]) == (
        "krafa.payments",
        None,
        "missing CloudEvents headers ce_type/ce_id",
    )
    # Filters: a group by its name or its service's (with its lanes), a topic, a time.
    assert [d["consumer_group"] for d in await listed(bootstrap, "--group", "scheduler")] == [f"{g}.scheduler"]
    assert [d["consumer_group"] for d in await listed(bootstrap, "--group", "notifier")] == [f"{g}.notifier.stops"]
    assert {d["topic"] for d in await listed(bootstrap, "--topic", "krafa.payments.dlq")} == {"krafa.payments"}
    assert await listed(bootstrap, "--since", (datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []
    human = await krafa("dlq", "list", "--bootstrap", bootstrap, "--topic", "krafa.claims")
    assert "krafa.claims.dlq: 2 dead letters" in human.stdout and encoded.event_id in human.stdout

    stops_and_scheduler = [d["dlq"] for d in everything if d["topic"] == "krafa.claims"]
    # A dry run says what would go where and writes nothing.
    dry = await krafa("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    [would] = json.loads(dry.stdout)["replayed"]
    assert would["replayed_to"] is None and len(would["dead_letters"]) == 2
    assert len(await records(bootstrap, "krafa.claims")) == 1

    # The replay: one copy of the original (two groups dead-lettered it), on its own partition,
    # with its key, value and every header it had; the dead letters' own headers stay behind.
    done = await krafa("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap)
    assert done.returncode == 0, done.stderr
    assert "1 record replayed" in done.stderr
    _, copy = await records(bootstrap, "krafa.claims")
    assert (copy.partition, copy.key, copy.value) == (original.partition, original.key, original.value)
    assert list(copy.headers) == list(original.headers)
    assert decode(list(copy.headers), copy.value, copy.key).id == encoded.event_id
    assert f"krafa.claims/{copy.partition}/{copy.offset}" in done.stdout
    for letter in await listed(bootstrap, "--topic", "krafa.claims"):
        [replay] = letter["replays"]
        assert replay["to"] == f"krafa.claims/{copy.partition}/{copy.offset}" and "@" in replay["by"]
    assert await listed(bootstrap, "--topic", "krafa.claims", "--not-replayed") == []

    # Again by name: refused, nothing written. By topic: skipped. With --again: once more.
    refused = krafa_process("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap)
    assert refused.returncode == 1 and "was replayed at" in refused.stderr and "--again" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    skipped = await krafa("dlq", "replay", "--topic", "krafa.claims", "--bootstrap", bootstrap, "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["replayed"] == [] and len(json.loads(skipped.stdout)["skipped"]) == 2
    assert len(await records(bootstrap, "krafa.claims")) == 2
    again = await krafa("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap, "--again")
    assert again.returncode == 0, again.stderr
    assert len(await records(bootstrap, "krafa.claims")) == 3
    # The copy fails again in one group: a new dead letter, which says whose replay it is.
    await dead_letter(bootstrap, copy, "scheduler", "", "handler failed: KeyError: 'policy'")
    [again_dead] = await listed(bootstrap, "--topic", "krafa.claims", "--not-replayed")
    assert (again_dead["offset"], again_dead["replay_of"]) == (copy.offset, sorted(stops_and_scheduler))
    # By the event id again, without --again: the new dead letter is replayed, the old ones skipped.
    third = await krafa("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap, "--json")
    assert third.returncode == 0, third.stderr
    body = json.loads(third.stdout)
    assert [p["dead_letters"] for p in body["replayed"]] == [[again_dead["dlq"]]] and len(body["skipped"]) == 2
    assert len(await records(bootstrap, "krafa.claims")) == 4
    # With --again every dead letter of the event is taken in: still one copy.
    assert (await krafa("dlq", "replay", encoded.event_id, "--bootstrap", bootstrap, "--again")).returncode == 0
    assert len(await records(bootstrap, "krafa.claims")) == 5

    # The undecodable record, by its position: back on krafa.payments as it was.
    position = junk["dlq"]
    assert (await krafa("dlq", "replay", position, "--bootstrap", bootstrap)).returncode == 0
    _, garbage_copy = await records(bootstrap, "krafa.payments")
    assert (garbage_copy.key, garbage_copy.value, list(garbage_copy.headers)) == (garbage.key, garbage.value, [])

    # A dead letter older than the inbox keeps event ids: a group that processed the event may
    # have forgotten it, so the replay is refused unless the operator says they checked.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        forty_days_ago = int((datetime.now(UTC) - timedelta(days=40)).timestamp() * 1000)
        await producer.send_and_wait(
            "krafa.dunning.dlq",
            encoded.value,
            key=encoded.key,
            headers=[*encoded.headers, ("krafa_dlq_service", b"notifier"), ("krafa_dlq_source", b"krafa.dunning/0/0")],
            timestamp_ms=forty_days_ago,
        )
    finally:
        await producer.stop()
    old = await krafa("dlq", "replay", "--topic", "krafa.dunning", "--bootstrap", bootstrap)
    assert old.returncode == 1 and "inbox retention (30 days)" in old.stderr, old.stderr
    checked = await krafa(
        "dlq", "replay", "--topic", "krafa.dunning", "--bootstrap", bootstrap, "--past-inbox-retention"
    )
    assert checked.returncode == 0, checked.stderr
    [dunning] = await records(bootstrap, "krafa.dunning")
    assert dunning.value == encoded.value


def letter(offset: int, *, source: str, consumer: str, event_id: str | None = "e-1") -> DeadLetter:
    at = datetime.now(UTC)
    headers = (
        *((("ce_id", event_id.encode()),) if event_id else ()),
        ("krafa_dlq_service", consumer.split(".")[0].encode()),
        ("krafa_dlq_consumer", consumer.encode()),
        ("krafa_dlq_source", source.encode()),
        ("krafa_dlq_reason", b"boom"),
    )
    return DeadLetter("krafa.claims.dlq", 0, offset, int(at.timestamp() * 1000), b"k", b"v", headers)


def test_one_original_dead_lettered_by_several_groups_is_replayed_once() -> None:
    a = letter(0, source="krafa.claims/3/17", consumer="notifier")
    b = letter(1, source="krafa.claims/3/17", consumer="scheduler")
    c = letter(2, source="krafa.claims/1/4", consumer="notifier", event_id="e-2")
    # e-1's replay (krafa.claims/3/40) failed again: the same event, still one copy.
    d = letter(3, source="krafa.claims/3/40", consumer="notifier")
    planned = plan([a, b, c, d])
    assert [[x.offset for x in p.letters] for p in planned] == [[0, 1, 3], [2]]
    # Undecodable records have no event id: one copy per original record.
    e = letter(4, source="krafa.payments/0/1", consumer="claims-api", event_id=None)
    f = letter(5, source="krafa.payments/0/2", consumer="claims-api", event_id=None)
    assert len(plan([e, f])) == 2
    assert a.source == ("krafa.claims", 3, 17)
    assert a.original_headers() == [("ce_id", b"e-1")]


def test_a_group_filter_takes_the_group_its_service_or_its_lanes() -> None:
    lane = letter(0, source="krafa.claims/0/1", consumer="notifier.stops")
    for wanted in (["krafa.notifier"], ["notifier"], ["krafa.notifier.stops"], ["notifier.stops"]):
        assert matches(lane, groups=wanted, since=None, prefix="krafa"), wanted
    assert not matches(lane, groups=["krafa.scheduler"], since=None, prefix="krafa")
    assert not matches(lane, groups=["krafa.notif"], since=None, prefix="krafa")
    # A dead letter of an older kit (no krafa_dlq_consumer): the service's group.
    old = DeadLetter("krafa.claims.dlq", 0, 0, 0, None, None, (("krafa_dlq_service", b"scheduler"),))
    assert old.group("krafa") == "krafa.scheduler"
    assert old.source == ("krafa.claims", None, None)


def test_the_broker_is_named_never_guessed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"ports": {"broker": 19555}, "admin_token": "t"}))
    monkeypatch.setenv("KRAFA_KAFKA_BOOTSTRAP", "kafka-1:9092")
    given = argparse.Namespace(bootstrap="kafka-2:9093", stack=str(tmp_path))
    assert bootstrap(given) == "kafka-2:9093"
    assert bootstrap(argparse.Namespace(bootstrap=None, stack=str(tmp_path))) == "127.0.0.1:19555"
    assert bootstrap(argparse.Namespace(bootstrap=None, stack=None)) == "kafka-1:9092"
    monkeypatch.delenv("KRAFA_KAFKA_BOOTSTRAP")
    with pytest.raises(CliError, match=r"which broker\?"):
        bootstrap(argparse.Namespace(bootstrap=None, stack=None))


KIT_MIGRATIONS = Path(__file__).resolve().parents[3] / "libs" / "kit" / "tests" / "migrations"


async def test_a_replay_is_applied_by_the_group_that_failed_and_dropped_by_the_one_that_did_not(
    database_url: str, broker: EmbeddedBroker
) -> None:
    """What `krafa dlq replay` promises, through the kit's real consumer and inbox: group a
    handled the event, group b failed on it for good (dead letter); after b's fix the replay is
    applied by b once and dropped by a as a duplicate — one effect per group."""
    await migrate_async(database_url, "kit_test", KIT_MIGRATIONS)
    db = Database(database_url, "kit_test")
    await db.connect()
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap=broker.bootstrap)
    producer = create_producer(settings)
    await producer.start()
    broken = True

    def handler(group: str) -> Any:
        async def on_claim_created(uow: UnitOfWork, envelope: DecodedEvent) -> None:
            assert isinstance(envelope.event, ClaimCreated)
            if group == "b" and broken:
                raise PermanentError("the policy of this creditor is missing")
            await uow.conn.execute(
                "INSERT INTO effects (invoice_no) VALUES ($1)", f"{group}:{envelope.event.invoice_no}"
            )

        return on_claim_created

    consumers = [
        InboxConsumer(
            service=f"dlqtest-{group}",
            db=db,
            producer=producer,
            consumer=create_consumer(settings, (Topic.CLAIMS.value,), f"dlqtest-{group}"),
            routes={ClaimCreated: handler(group)},
        )
        for group in ("a", "b")
    ]
    tasks = [asyncio.create_task(c.run()) for c in consumers]

    def outcome(group: str, what: str) -> float:
        counter = metrics.EVENTS_CONSUMED.labels(f"dlqtest-{group}", Topic.CLAIMS.value, ClaimCreated.TYPE, what)
        return float(counter._value.get())

    async def effects() -> list[tuple[str, int]]:
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT invoice_no, count(*) AS n FROM effects GROUP BY 1 ORDER BY 1")
        return [(r["invoice_no"], r["n"]) for r in rows]

    try:
        [event_id] = await publish(broker.bootstrap, a_claim_created(invoice_no="INV-7"))
        await eventually(lambda: outcome("b", "dead_lettered") == 1 and outcome("a", "processed") == 1, timeout=60)
        assert await effects() == [("a:INV-7", 1)]

        broken = False  # b's fix is deployed
        done = await krafa("dlq", "replay", event_id, "--bootstrap", broker.bootstrap)
        assert done.returncode == 0, done.stderr
        await eventually(lambda: outcome("b", "processed") == 1 and outcome("a", "duplicate") == 1, timeout=60)
        assert await effects() == [("a:INV-7", 1), ("b:INV-7", 1)]
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await db.close()
