"""e2e_claims_per_s: claims per second through the whole path with every service running on the
embedded stack (separate processes, durable PostgreSQL): created over REST (bulk POSTs of 500),
timeline planned and step 1 fired by the scheduler (the claims are overdue already), the reminder
rendered and accepted by the SMTP server, then paid by a camt.054 bank file uploaded as soon as
the reminder is seen, matched, the claim paid and its timeline stopped. Timed from the first
POST to the moment every claim's timeline is stopped; N claims / that time.

The payer pays what the reminder asked for: the claim's balance when created plus the step's fee
and the late interest the ReminderDue carried (both booked into the claim's ledger when the
reminder fires). A claim still unpaid a while after its payment (the ledger grew some other way)
gets its remaining balance, read from GET /v1/claims/{id}, in another file.

Component: the bulk ingest alone on the same stack (the same N claims POSTed the same way, due in
a year so nothing else happens for them), in claims/s.

CPU budget (`e2e_cpu_ms_per_claim`): every stack process's CPU seconds from the first POST to the
last timeline stopped (bench/cpu.py: services, sinks, broker, PostgreSQL backends charged to the
service they serve) divided by the claims; beside each, what that process burns idle in as long
(measured once per stack, before the first run), i.e. the polling share. The bench driver's own
CPU is shown but is not in the total."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from krafa.stack import BrokerKind, Stack, StackConfig
from krafa_events import ClaimPaid, ReminderDue, ReminderSent, Topic, UndecodableMessage, decode
from krafa_events.topics import PARTITIONS
from krafa_law import calendar, jurisdiction
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from bench import cpu
from bench.common import TOTAL, Figure, Options, say, temp_dir

KEY = "e2e_claims_per_s"
CHUNK = 500
# A simulated day lasts half an hour of wall time: step 1 of an overdue claim fires at once, step 2
# is more than a week away, so every reminder a run sends is a first one; and every run stays in
# the email sending window (08:00-21:00 in Iceland). With two-minute days the third run crossed
# 21:00 and its last reminders waited for the morning: the "one run in three at ~45/s" stall.
DAY_SECONDS = 1800.0
SIM_START = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday
TOP_UP_AFTER_S = 20.0  # a paid-for claim without ClaimPaid this long: pay what its balance says


def _claim(run: str, i: int, due: date) -> dict[str, Any]:
    return {
        "invoice_no": f"E2E-{run}-{i:06d}",
        "amount_minor": 5_000 + i % 50_000,
        "currency": "ISK",
        "issue_date": (due - timedelta(days=20)).isoformat(),
        "due_date": due.isoformat(),
        "description": "Árgjald 2026",
        "debtor": {
            "customer_no": f"E-{run}-{i:06d}",
            "name": f"Jón Jónsson {i}",
            "country": "IS",
            "language": "is",
            "time_zone": "Atlantic/Reykjavik",
            "email": f"jon{i}.{run}@example.is",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    }


def _overdue_due_date(today: date) -> date:
    """A due date whose step-1 day (due + 1) is a business day already past: step 1 fires now."""
    due = today - timedelta(days=3)
    while not calendar(jurisdiction("IS")).is_business_day(due + timedelta(days=1)):
        due -= timedelta(days=1)
    return due


class Watcher:
    """Reads ReminderDue, ReminderSent and ClaimPaid from the end of the topics as they are now."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.reminded: dict[uuid.UUID, float] = {}
        # What step 1 added to each claim's balance: its fee and the late interest to date (the
        # reminder puts both on its first claim line).
        self.charged: dict[uuid.UUID, int] = {}
        self.paid: set[uuid.UUID] = set()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        # Tansu holds a fetch until its wait runs out (produce → consume p50 ~120 ms with this
        # 500 ms wait, 4 ms with 10 ms): the watcher only counts what went through, so the wait
        # costs the figure at most half a second at the end of a run, and spares the broker the
        # empty fetches a short one repeats (~12% of a core per 10 ms consumer).
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=500
        )
        await consumer.start()
        partitions = [
            TopicPartition(topic.value, p)
            for topic in (Topic.DUNNING, Topic.NOTIFICATIONS, Topic.CLAIMS)
            for p in range(PARTITIONS[topic])
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve the end offsets before anything is produced
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            for records in (await self._consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    try:
                        event = decode(list(record.headers or ()), record.value).event
                    except UndecodableMessage:
                        continue
                    if isinstance(event, ReminderDue) and event.step == 1:
                        for k, claim_id in enumerate(event.claim_ids):
                            self.charged[claim_id] = event.fee_minor + event.interest_minor if k == 0 else 0
                    elif isinstance(event, ReminderSent) and event.step == 1:
                        for claim_id in event.claim_ids:
                            self.reminded.setdefault(claim_id, time.perf_counter())
                    elif isinstance(event, ClaimPaid):
                        self.paid.add(event.claim_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def _creditor(client: httpx.AsyncClient, stack: Stack, name: str) -> dict[str, str]:
    response = await client.post(
        stack.url("claims-api") + "/v1/admin/creditors",
        headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        json={
            "name": name,
            "country": "IS",
            "currency": "ISK",
            "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
            "default_language": "is",
        },
    )
    response.raise_for_status()
    await stack.use_policy(client, response.json()["creditor_id"])  # step 1: a reminder the day after due
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def _post_all(
    client: httpx.AsyncClient, stack: Stack, headers: dict[str, str], bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    created: list[dict[str, Any]] = []
    for first in range(0, len(bodies), CHUNK):
        response = await client.post(
            stack.url("claims-api") + "/v1/claims/bulk",
            json={"claims": bodies[first : first + CHUNK]},
            headers=headers,
        )
        response.raise_for_status()
        created += response.json()["claims"]
    return created


async def _pay(client: httpx.AsyncClient, stack: Stack, run: str, files: int, credits: list[tuple[int, str]]) -> None:
    """One camt.054 crediting (amount, reference) pairs, uploaded to payments-ingest."""
    document = camt054(
        [
            GeneratedCredit(
                amount_minor=amount,
                currency="ISK",
                reference=reference,
                booking_date=stack.sim_now().date(),
                bank_ref=f"E2E{run}{files:05d}{k:05d}",
            )
            for k, (amount, reference) in enumerate(credits)
        ],
        account_iban="IS140159260076545510730339",
        msg_id=f"E2E-{run}-{files}",
        created=datetime.now(UTC),
    )
    response = await client.post(
        stack.url("payments-ingest") + "/v1/payments/files",
        content=document,
        params={"filename": f"e2e-{run}-{files}.xml"},
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {stack.state.admin_token}"},
    )
    response.raise_for_status()


async def _shortfall(
    client: httpx.AsyncClient, stack: Stack, headers: dict[str, str], claim_id: uuid.UUID
) -> int | None:
    """What is still owed on a claim our payment has reached; None while it has not (a slow
    pipeline is not a short payment)."""
    response = await client.get(stack.url("claims-api") + f"/v1/claims/{claim_id}", headers=headers)
    response.raise_for_status()
    claim = response.json()
    return int(claim["balance_minor"]) if claim["paid_minor"] > 0 else None


IDLE_SETTLE_S = 5.0
IDLE_MEASURE_S = 10.0


async def _idle_rates(stack: Stack) -> dict[str, float]:
    """CPU seconds per wall second of each process group while the stack has nothing to do."""
    await asyncio.sleep(IDLE_SETTLE_S)
    conn = await asyncpg.connect(stack.database_url)
    try:
        before = await cpu.snapshot(stack, conn)
        started = time.perf_counter()
        await asyncio.sleep(IDLE_MEASURE_S)
        after = await cpu.snapshot(stack, conn)
        wall = time.perf_counter() - started
    finally:
        await conn.close()
    return {group: seconds / wall for group, seconds in cpu.spent(before, after).items()}


async def _one_run(stack: Stack, n: int, run: str) -> tuple[float, float, float, dict[str, float]]:
    """(e2e claims/s, ingest-alone claims/s, emails/s during the e2e run, CPU seconds per
    process group during the e2e run)"""
    watcher = Watcher(stack.broker.bootstrap)
    await watcher.start()
    conn = await asyncpg.connect(stack.database_url)
    try:
        async with httpx.AsyncClient(timeout=300) as client:
            headers = await _creditor(client, stack, f"E2E {run}")
            due = _overdue_due_date(stack.sim_now().date())
            bodies = [_claim(run, i, due) for i in range(n)]
            say(f"run {run}: posting {n} claims")
            cpu_before = await cpu.snapshot(stack, conn)
            started = time.perf_counter()
            posting = asyncio.create_task(_post_all(client, stack, headers, bodies))
            claims: dict[uuid.UUID, dict[str, Any]] = {}
            paid_for: dict[uuid.UUID, float] = {}  # claim -> when its payment was uploaded
            topped_up: set[uuid.UUID] = set()
            files = 0
            ids: list[uuid.UUID] = []
            while True:
                if posting.done() and not claims:
                    claims = {uuid.UUID(c["id"]): c for c in posting.result()}
                    ids = list(claims)
                # Paid once the reminder is out, for what it asked: the balance when created plus
                # what step 1 charged (ReminderDue comes before its ReminderSent; both are needed).
                payable = [c for c in watcher.reminded if c in claims and c not in paid_for and c in watcher.charged]
                if payable:
                    files += 1
                    await _pay(
                        client,
                        stack,
                        run,
                        files,
                        [(claims[c]["balance_minor"] + watcher.charged[c], claims[c]["reference"]) for c in payable],
                    )
                    now = time.perf_counter()
                    paid_for.update((c, now) for c in payable)
                overdue = [
                    c
                    for c, at in paid_for.items()
                    if c not in watcher.paid and c not in topped_up and time.perf_counter() - at > TOP_UP_AFTER_S
                ]
                if overdue:
                    owed = [(c, await _shortfall(client, stack, headers, c)) for c in overdue[:200]]
                    top_ups = [(amount, claims[c]["reference"]) for c, amount in owed if amount]
                    topped_up.update(c for c, amount in owed if amount is not None)
                    paid_for.update((c, time.perf_counter()) for c, amount in owed if amount is None)  # ask later
                    if top_ups:
                        say(f"{len(top_ups)} claims still owed after their payment: paying the rest")
                        files += 1
                        await _pay(client, stack, run, files, top_ups)
                if ids and len(paid_for) == n and len(watcher.paid.intersection(ids)) == n:
                    stopped = await conn.fetchval(
                        "SELECT count(*) FROM scheduler.timelines WHERE claim_id = ANY($1::uuid[])"
                        " AND status = 'stopped'",
                        ids,
                    )
                    if stopped == n:
                        break
                if time.perf_counter() - started > 900:
                    raise TimeoutError(
                        f"after 900 s: {len(watcher.reminded)} reminded, {len(paid_for)} paid for, "
                        f"{len(watcher.paid)} ClaimPaid of {n}"
                    )
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
            cpu_spent = cpu.spent(cpu_before, await cpu.snapshot(stack, conn))
            cpu_spent["elapsed"] = elapsed
            say(f"run {run}: end to end in {elapsed:.1f} s")
            reminded_at = [watcher.reminded[c] for c in ids]
            email_rate = n / max(max(reminded_at) - min(reminded_at), 1e-3)

            # The component: the same claims POSTed alone, due in a year (nothing else follows).
            alone_headers = await _creditor(client, stack, f"E2E ingest {run}")
            later = stack.sim_now().date() + timedelta(days=365)
            alone = [_claim(f"{run}i", i, later) for i in range(n)]
            started = time.perf_counter()
            await _post_all(client, stack, alone_headers, alone)
            ingest_rate = n / (time.perf_counter() - started)
    finally:
        await conn.close()
        await watcher.stop()
    return n / elapsed, ingest_rate, email_rate, cpu_spent


def _cpu_table(runs: list[dict[str, float]], idle: dict[str, float], n: int) -> dict[str, tuple[float, float]]:
    """Per process group, the median over runs of CPU ms per claim, and the idle stack's CPU in
    the median run's time; the total (every stack process, not the driver) first, the bench
    driver last."""
    elapsed = statistics.median(r["elapsed"] for r in runs)
    groups = sorted({g for r in runs for g in r} - {"elapsed", cpu.DRIVER})
    per_run_total = [sum(r.get(g, 0.0) for g in groups) for r in runs]
    table = {
        TOTAL: (1000 * statistics.median(per_run_total) / n, 1000 * sum(idle.get(g, 0.0) for g in groups) * elapsed / n)
    }
    rows = {
        g: (1000 * statistics.median(r.get(g, 0.0) for r in runs) / n, 1000 * idle.get(g, 0.0) * elapsed / n)
        for g in groups
    }
    table.update(sorted(rows.items(), key=lambda kv: -kv[1][0]))
    table[cpu.DRIVER] = (1000 * statistics.median(r.get(cpu.DRIVER, 0.0) for r in runs) / n, 0.0)
    return table


def run(opts: Options) -> Figure:
    return _run(opts, "embedded")


def run_kafka(opts: Options) -> Figure:
    """The same on a three-node Apache Kafka cluster (krafa.stack with broker="kafka")."""
    return _run(opts, "kafka")


def _run(opts: Options, broker: BrokerKind) -> Figure:
    n = opts.size(3000, 300)
    values: list[float] = []
    component: list[float] = []
    emails: list[float] = []
    cpus: list[dict[str, float]] = []
    idle: dict[str, float] = {}
    key = KEY if broker == "embedded" else f"{KEY}_kafka"
    with temp_dir("e2e") as home:
        config = StackConfig.with_free_ports(home, sim_speed=86400 / DAY_SECONDS, durable=True)
        config.sim_start = SIM_START
        config.broker = broker
        config.extra_env["KRAFA_LOG_LEVEL"] = "WARNING"
        stack = Stack(config)
        try:
            say(f"starting the stack on the {broker} broker (PostgreSQL, broker, sinks, services)")
            stack.start()
            idle = asyncio.run(_idle_rates(stack))
            say(f"idle stack: {100 * sum(v for g, v in idle.items() if g != cpu.DRIVER):.1f} % of a core")
            if opts.profile is not None:
                out = opts.profile / key
                say(f"profiling one run (not counted) into {out}")
                with cpu.Profiler(stack, out):
                    asyncio.run(_one_run(stack, n, f"p{uuid.uuid4().hex[:4]}"))
                say(f"per-process profiles: {out / 'summary.txt'}")
            for i in range(opts.runs):
                rate, ingest, email_rate, spent = asyncio.run(_one_run(stack, n, f"{i}{uuid.uuid4().hex[:4]}"))
                cpus.append(spent)
                say(f"run {i + 1}: {n} claims end to end at {rate:.1f}/s; ingest alone {ingest:.0f}/s")
                stack_ms = {g: 1000 * v / n for g, v in spent.items() if g not in ("elapsed", cpu.DRIVER)}
                say(
                    f"run {i + 1}: {sum(stack_ms.values()):.2f} CPU ms per claim: "
                    + ", ".join(f"{g} {v:.2f}" for g, v in sorted(stack_ms.items(), key=lambda kv: -kv[1]) if v >= 0.05)
                )
                values.append(rate)
                component.append(ingest)
                emails.append(email_rate)
        finally:
            stack.stop()
    emails.sort()
    return Figure(
        key=key,
        unit="claims/s",
        n=n,
        values=values,
        component=component,
        component_label="bulk ingest alone on the same stack (POST /v1/claims/bulk, 500 a request)",
        extra={f"{key}_reminder_emails_per_s": emails[len(emails) // 2]},
        cpu_key="e2e_cpu_ms_per_claim" if broker == "embedded" else "e2e_kafka_cpu_ms_per_claim",
        cpu=_cpu_table(cpus, idle, n),
    )
