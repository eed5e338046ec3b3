"""payment_to_stop_p99_ms: from a bank file accepted (the HTTP upload to payments-ingest returns)
to its claim paid (ClaimPaid read from krafa.claims) and the claim's pending reminders cancelled
(the scheduler's timeline stopped), p99 over N payments, one file at a time, on the whole
embedded stack (`krafa.stack.Stack`: PostgreSQL with fsync on, the broker, the five services as
separate processes, wall clock). Every claim is due in 30 days, so each has a reminder pending.

The path: payments-ingest commits the payment and its PaymentReceived (outbox) → relay → broker →
claims-api applies it and commits ClaimPaid (outbox) → relay → broker → the scheduler stops the
timeline. Two broker hops and three commits.

Component: one broker produce→consume round trip alone (a producer and a consumer configured as
the services' are, fetch wait 10 ms), p99 over the same number of messages, on the same broker in
the same run; the ratio is figure p99 / round-trip p99, so about 2 is what two hops cost.
Extras: the p50s (the round trip's too), the p50 and max of five more payments each made after
4 s of nothing (`_from_idle_`: an idle stack's consumers have stopped fetching and must be woken,
see KRAFA_CONSUMER_IDLE_AFTER_S), and file-to-ClaimPaid alone (without waiting for the
scheduler): the figure for issue 7's "file-to-ClaimPaid latency" (bench/camt.py measures the
100k-entry import on payments-ingest alone, where no claims-api runs)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from krafa.stack import BrokerKind, Stack, StackConfig
from krafa_events import ClaimPaid, Topic, UndecodableMessage, decode
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from bench.common import Figure, Options, percentile, say, temp_dir

KEY = "payment_to_stop_p99_ms"
# Payments after the stack has idled longer than its consumers' KRAFA_CONSUMER_IDLE_AFTER_S.
FROM_IDLE_N = 5
IDLE_S = 4.0
IBAN = "IS140159260076545510730339"
RTT_TOPIC = "krafa.bench.rtt"
FETCH_WAIT_MS = 10  # KRAFA_KAFKA_FETCH_MAX_WAIT_MS, as the services run
POLL_S = 0.002  # how often the scheduler's timeline is looked at while a payment travels


class PaidWatch:
    """Reads krafa.claims and notes when each ClaimPaid arrives (perf_counter)."""

    def __init__(self, bootstrap: str) -> None:
        self.paid: dict[uuid.UUID, float] = {}
        self._consumer = AIOKafkaConsumer(
            Topic.CLAIMS.value,
            bootstrap_servers=bootstrap,
            group_id=f"bench.payment-to-stop.{uuid.uuid4().hex[:8]}",
            # From the start: "latest" resolved lazily could skip a ClaimPaid sent meanwhile.
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PaidWatch:
        await self._consumer.start()
        await _assigned(self._consumer)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            arrived = time.perf_counter()
            for records in batches.values():
                for record in records:
                    with contextlib.suppress(UndecodableMessage):
                        event = decode(list(record.headers or ()), record.value, record.key).event
                        if isinstance(event, ClaimPaid):
                            self.paid.setdefault(event.claim_id, arrived)


async def _assigned(consumer: AIOKafkaConsumer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise TimeoutError("the bench consumer got no partition")
        await consumer.getmany(timeout_ms=100)


async def _creditor(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    response = await client.post(
        stack.url("claims-api") + "/v1/admin/creditors",
        headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        json={
            "name": "Bench",
            "country": "IS",
            "currency": "ISK",
            "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
            "slip_fee_minor": 390,
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def _claims(client: httpx.AsyncClient, stack: Stack, key: dict[str, str], run: int, n: int) -> list[Any]:
    due = (datetime.now(UTC) + timedelta(days=30)).date()
    bodies = [
        {
            "invoice_no": f"PAY-{run}-{i:05d}",
            "amount_minor": 10_000 + i,
            "currency": "ISK",
            "issue_date": date.today().isoformat(),
            "due_date": due.isoformat(),
            "debtor": {
                "customer_no": f"P-{run}-{i:05d}",
                "name": "Jón Jónsson",
                "country": "IS",
                "language": "is",
                "time_zone": "Atlantic/Reykjavik",
                "email": f"payer{run}-{i}@example.is",
            },
        }
        for i in range(n)
    ]
    response = await client.post(stack.url("claims-api") + "/v1/claims/bulk", json={"claims": bodies}, headers=key)
    response.raise_for_status()
    return list(response.json()["claims"])


async def _until_planned(conn: asyncpg.Connection, ids: list[uuid.UUID], timeout: float = 120) -> None:
    """Until payments-ingest has indexed every claim and the scheduler has a pending step for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexed = await conn.fetchval("SELECT count(*) FROM payments.claim_index WHERE claim_id = ANY($1)", ids)
        planned = await conn.fetchval(
            "SELECT count(*) FROM scheduler.timelines WHERE claim_id = ANY($1) AND status = 'active'"
            " AND next_action_at IS NOT NULL",
            ids,
        )
        if indexed == planned == len(ids):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("claims not indexed and planned in time")


async def _one_payment(
    client: httpx.AsyncClient, stack: Stack, conn: asyncpg.Connection, watch: PaidWatch, claim: Any, n: int
) -> tuple[float, float]:
    """Upload one file paying one claim; seconds from the upload's answer to ClaimPaid, and to
    the claim's paid-and-stopped state (the later of ClaimPaid and the stopped timeline)."""
    claim_id = uuid.UUID(claim["id"])
    document = camt054(
        [
            GeneratedCredit(
                amount_minor=claim["balance_minor"],
                currency="ISK",
                reference=claim["reference"],
                booking_date=date.today(),
                bank_ref=f"BENCH-{claim_id.hex[:20]}-{n}",
            )
        ],
        account_iban=IBAN,
        msg_id=f"BENCH-{uuid.uuid4().hex[:12]}",
        created=datetime.now(UTC),
    )
    response = await client.post(
        stack.url("payments-ingest") + "/v1/payments/files",
        content=document,
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {stack.state.admin_token}"},
    )
    accepted = time.perf_counter()
    response.raise_for_status()
    if response.json()["matched"] != 1:
        raise RuntimeError(f"payment not matched: {response.text}")
    stopped_at: float | None = None
    deadline = accepted + 60
    while stopped_at is None or claim_id not in watch.paid:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"claim {claim_id} not paid and stopped within 60 s")
        if stopped_at is None:
            status = await conn.fetchval("SELECT status FROM scheduler.timelines WHERE claim_id = $1", claim_id)
            if status != "active":
                stopped_at = time.perf_counter()
        await asyncio.sleep(POLL_S)
    paid_at = watch.paid[claim_id]
    return paid_at - accepted, max(paid_at, stopped_at) - accepted


async def _payments(stack: Stack, run: int, n: int, idle_s: float = 0.0) -> tuple[list[float], list[float]]:
    """`n` payments one after another; with `idle_s`, each after that long with nothing to do, so
    that every one starts from an idle stack (consumers no longer fetching, loops asleep)."""
    async with httpx.AsyncClient(timeout=60) as client, PaidWatch(stack.broker.bootstrap) as watch:
        conn = await asyncpg.connect(stack.database_url)
        try:
            key = await _creditor(client, stack)
            claims = await _claims(client, stack, key, run, n)
            await _until_planned(conn, [uuid.UUID(c["id"]) for c in claims])
            to_paid, to_stop = [], []
            for i, claim in enumerate(claims):
                await asyncio.sleep(idle_s)
                paid, stopped = await _one_payment(client, stack, conn, watch, claim, i)
                to_paid.append(paid)
                to_stop.append(stopped)
            return to_paid, to_stop
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def _rtt_clients(bootstrap: str) -> AsyncIterator[tuple[str, AIOKafkaProducer, AIOKafkaConsumer]]:
    # A fresh topic per run, read from its start: nothing old to skip, nothing new to miss.
    topic = f"{RTT_TOPIC}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    # As krafa_kit.kafka builds them for the services.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench.rtt.{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    await producer.start()
    await consumer.start()
    try:
        await _assigned(consumer)
        yield topic, producer, consumer
    finally:
        await consumer.stop()
        await producer.stop()


async def _round_trips(bootstrap: str, n: int) -> list[float]:
    """Seconds from handing a message to the producer to reading it back, one at a time."""
    out: list[float] = []
    async with _rtt_clients(bootstrap) as (topic, producer, consumer):
        for i in range(n):
            payload = f"{i}".encode()
            started = time.perf_counter()
            await producer.send_and_wait(topic, payload)
            got = False
            while not got:
                if time.perf_counter() - started > 60:
                    raise TimeoutError(f"message {i} not read back within 60 s")
                batches = await consumer.getmany(timeout_ms=1000)
                got = any(r.value == payload for records in batches.values() for r in records)
            out.append(time.perf_counter() - started)
    return out


def run(opts: Options) -> Figure:
    return _run(opts, "embedded")


def run_kafka(opts: Options) -> Figure:
    """The same on a three-node Apache Kafka cluster, the services at Kafka's 500 ms fetch wait."""
    return _run(opts, "kafka")


def _run(opts: Options, broker: BrokerKind) -> Figure:
    global FETCH_WAIT_MS
    FETCH_WAIT_MS = 10 if broker == "embedded" else 500
    key = KEY if broker == "embedded" else f"{KEY}_kafka"
    n = opts.size(150, 25)
    values, component = [], []
    extra: dict[str, list[float]] = {
        "payment_to_stop_p50_ms": [],
        "file_to_claim_paid_p99_ms": [],
        "file_to_claim_paid_p50_ms": [],
        "payment_to_stop_broker_rtt_p50_ms": [],
        "payment_to_stop_from_idle_p50_ms": [],
        "payment_to_stop_from_idle_max_ms": [],
    }
    with temp_dir("payment-to-stop") as home:
        config = StackConfig.with_free_ports(home, simulated=False, durable=True)
        config.broker = broker
        stack = Stack(config)
        try:
            say(f"{key}: starting the stack on the {broker} broker")
            stack.start()
            for r in range(opts.runs):
                to_paid, to_stop = asyncio.run(_payments(stack, r, n))
                rtt = asyncio.run(_round_trips(stack.broker.bootstrap, n))
                values.append(percentile(to_stop, 99) * 1000)
                component.append(percentile(rtt, 99) * 1000)
                extra["payment_to_stop_p50_ms"].append(percentile(to_stop, 50) * 1000)
                extra["file_to_claim_paid_p99_ms"].append(percentile(to_paid, 99) * 1000)
                extra["file_to_claim_paid_p50_ms"].append(percentile(to_paid, 50) * 1000)
                extra["payment_to_stop_broker_rtt_p50_ms"].append(percentile(rtt, 50) * 1000)
                # A few more, each after IDLE_S of nothing: the wake-ups' latency, not the polls'.
                _, from_idle = asyncio.run(_payments(stack, 1000 + r, FROM_IDLE_N, idle_s=IDLE_S))
                extra["payment_to_stop_from_idle_p50_ms"].append(percentile(from_idle, 50) * 1000)
                extra["payment_to_stop_from_idle_max_ms"].append(max(from_idle) * 1000)
                p50 = extra["payment_to_stop_p50_ms"][-1]
                say(
                    f"{key} run {r + 1}: {n} payments, paid and stopped p50 {p50:.1f} ms,"
                    f" p99 {values[-1]:.1f} ms; broker round trip p99 {component[-1]:.1f} ms; from an idle stack"
                    f" ({FROM_IDLE_N} payments, each after {IDLE_S:.0f} s idle) p50"
                    f" {extra['payment_to_stop_from_idle_p50_ms'][-1]:.1f} ms, max"
                    f" {extra['payment_to_stop_from_idle_max_ms'][-1]:.1f} ms"
                )
        finally:
            stack.stop()
    suffix = "" if broker == "embedded" else "_kafka"
    medians = {name + suffix: statistics.median(v) for name, v in extra.items()}
    return Figure(key, "ms", n, values, component, "broker produce→consume round trip p99 (ms)", extra=medians)
