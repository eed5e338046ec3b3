"""due_to_sent_p99_ms: from a reminder's timer falling due in the scheduler to the email accepted
by the SMTP server, on the embedded stack (`krafa.stack.Stack`: PostgreSQL, the broker, the SMTP
catcher, the print sink and the five services, each its own process) under a simulated clock.

The timers: first reminders fall due at 09:00 in the debtor's time zone (the default policy),
so debtors spread over 24 whole-hour zones (`Etc/GMT±N`) give 24 moments a simulated day, a few
debtors each; at one simulated hour per wall second that is a handful of reminders every second.
The timer of each claim is the moment the scheduler planned for its first step (the timeline's
`next_action_at`, read once it is planned), not one the bench works out itself: the Icelandic
pack moves a due date that falls on a weekend or holiday to the next business day, and the step's
letter window is weekdays only, so a bench-side "due + 1 day, 09:00" was 48 simulated hours
early for a Saturday due date, which at one simulated hour a second read as a 48 s "stall"
(p99 48,167 ms in one run of three). Due dates are also picked so that neither the due date nor
the next day is shifted, to keep the 24 moments of one day. A timer's wall moment is derived
from the stack's clock settings exactly as the services derive simulated time; the SMTP catcher
stamps each message as it accepts it (`index.jsonl`). The
notifier's `deliveries.created_at` (the database's wall clock, when ReminderDue was consumed)
splits the path into "timer → ReminderDue consumed" and "consumed → SMTP accepted".

Component, measured alone in the same run against the same broker and catcher: one broker
produce → consume round trip (p99) plus one aiosmtplib send of a pre-rendered message over an
open connection (p99): the two transport hops every reminder takes, without the services.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from krafa.stack import SERVICES, Stack, StackConfig
from krafa_law import calendar, jurisdiction

from bench.common import Figure, Options, percentile, reminders, say, temp_dir

KEY = "due_to_sent_p99_ms"
SPEED = 3600.0  # one simulated hour per wall second
# 09:00 local in UTC+14 … UTC-9: 24 distinct hours of one simulated day.
OFFSETS = list(range(14, -10, -1))
LEAD = timedelta(hours=40)  # simulated: time for claims to be planned before the first timer
COUNTRY = "IS"  # the creditor's and the debtors' country: the Icelandic pack and calendar
RTT_TOPIC = "bench.rtt"


def zone(offset: int) -> str:
    # POSIX-style names: Etc/GMT-5 is UTC+5.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def timer_at(due: date, offset: int) -> datetime:
    """The first reminder of a claim due on `due`: 09:00 the next day, local time."""
    local = datetime.combine(due + timedelta(days=1), datetime.min.time()).replace(hour=9)
    return (local - timedelta(hours=offset)).replace(tzinfo=UTC)


@contextmanager
def bench_stack(prefix: str) -> Iterator[Stack]:
    with temp_dir(prefix) as home:
        config = StackConfig.with_free_ports(home, sim_speed=SPEED, durable=False)
        config.sim_start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
        config.extra_env = {"KRAFA_LOG_LEVEL": "WARNING"}
        stack = Stack(config)
        stack.sim_start = config.sim_start
        try:
            say("starting the embedded stack (5 services as processes)")
            try:
                stack.start()
            except TimeoutError:
                # Stack.start waits 90 s; a loaded machine can need longer to boot five services.
                say("services slow to start; waiting longer")
                stack.wait_ready(SERVICES, timeout=600)
            yield stack
        finally:
            stack.stop()


def wall_of(stack: Stack, moment: datetime) -> float:
    """The unix time at which the services' simulated clocks show `moment`."""
    return stack.sim_epoch + (moment - stack.sim_start).total_seconds() / stack.config.sim_speed


def unix(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class Api:
    stack: Stack
    client: httpx.AsyncClient
    key: dict[str, str] | None = None

    async def creditor(self, name: str) -> None:
        response = await self.client.post(
            self.stack.url("claims-api") + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {self.stack.state.admin_token}"},
            json={
                "name": name,
                "country": "IS",
                "currency": "ISK",
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                "slip_fee_minor": 390,
            },
        )
        response.raise_for_status()
        await self.stack.use_policy(self.client, response.json()["creditor_id"])  # step 1 the day after due
        self.key = {"Authorization": f"Bearer {response.json()['api_key']}"}

    async def claims(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self.key is not None
        response = await self.client.post(
            self.stack.url("claims-api") + "/v1/claims/bulk", json={"claims": bodies}, headers=self.key
        )
        if response.status_code != 201:
            raise RuntimeError(f"bulk claims refused: {response.status_code} {response.text[:500]}")
        result: list[dict[str, Any]] = response.json()["claims"]
        return result


def claim_body(run: str, i: int, due: date, offset: int, email: str) -> dict[str, Any]:
    return {
        "invoice_no": f"INV-{run}-{i:05d}",
        "amount_minor": 10_000 + i,
        "currency": "ISK",
        "issue_date": (due - timedelta(days=30)).isoformat(),
        "due_date": due.isoformat(),
        "debtor": {
            "customer_no": f"C-{run}-{i:05d}",
            "name": "Jón Jónsson",
            "country": "IS",
            "language": "is",
            "time_zone": zone(offset),
            "email": email,
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    }


def unshifted(due: date) -> bool:
    """A due date the scheduler keeps (a business day) whose step-1 day is one too, so every
    timer is 09:00 local on the next day: no weekend or holiday shift, no window delay."""
    cal = calendar(jurisdiction(COUNTRY))
    return cal.is_business_day(due) and cal.is_business_day(due + timedelta(days=1))


def next_due_date(stack: Stack, after: date | None) -> date:
    """The first unshifted due date whose earliest timer (UTC+14) is LEAD ahead of the simulated
    now."""
    due = (stack.sim_now() + LEAD).date() - timedelta(days=1)
    while (
        timer_at(due, OFFSETS[0]) < stack.sim_now() + LEAD or (after is not None and due <= after) or not unshifted(due)
    ):
        due += timedelta(days=1)
    return due


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not done within {timeout}s")
        await asyncio.sleep(0.25)


async def create_claims(
    stack: Stack, run: str, due: date, per_zone: int, email: str
) -> tuple[list[dict[str, Any]], dict[uuid.UUID, datetime]]:
    """Claims whose first reminders fall due over one simulated day, `per_zone` per hour, and
    each claim's timer as the scheduler planned it."""
    bodies = [
        claim_body(run, i, due, offset, email.format(run=run, i=i))
        for i, offset in enumerate(o for o in OFFSETS for _ in range(per_zone))
    ]
    async with httpx.AsyncClient(timeout=120) as client:
        api = Api(stack, client)
        await api.creditor(f"Bench {run}")
        created = await api.claims(bodies)
    # Every timeline must be planned before its first timer, or the figure would measure the
    # planning (ClaimCreated through the broker to the scheduler) rather than a timer firing.
    ids = [uuid.UUID(c["id"]) for c in created]
    conn = await asyncpg.connect(stack.database_url)
    try:

        async def planned() -> bool:
            count = await conn.fetchval(
                "SELECT count(*) FROM scheduler.timelines WHERE claim_id = ANY($1::uuid[])", ids
            )
            return int(count) == len(ids)

        await wait_for(planned, 300, "timelines planned")
        timers: dict[uuid.UUID, datetime] = {
            row["claim_id"]: row["next_action_at"]
            for row in await conn.fetch(
                "SELECT claim_id, next_action_at FROM scheduler.timelines WHERE claim_id = ANY($1::uuid[])", ids
            )
        }
    finally:
        await conn.close()
    # Read before the first timer fires: afterwards next_action_at is already the next step's.
    late = stack.sim_now() - min(timers.values())
    if late > timedelta(0):
        raise PlannedLate(f"timelines planned {late} (simulated) after their first timer")
    expected = {uuid.UUID(c["id"]): timer_at(due, OFFSETS[i // per_zone]) for i, c in enumerate(created)}
    moved = sum(1 for claim_id, at in timers.items() if at != expected[claim_id])
    if moved:
        say(f"{moved} of {len(timers)} timers planned off 09:00 local the day after {due}")
    return created, timers


class PlannedLate(RuntimeError):
    """The machine was too slow to plan the claims before their timers: try the next day."""


def attempts(stack: Stack, after: date | None, tries: int = 3) -> Iterator[date]:
    due = after
    for _ in range(tries):
        due = next_due_date(stack, due)
        yield due


# -- the components ------------------------------------------------------------------------------


async def broker_rtt_ms(bootstrap: str, n: int) -> list[float]:
    """Produce one message, wait until a consumer has it, n times: the broker hop alone, with the
    services' fetch wait (10 ms)."""
    # A fresh topic read from the earliest offset: a consumer still joining misses nothing.
    topic = f"{RTT_TOPIC}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        session_timeout_ms=6000,
    )
    await producer.start()
    await consumer.start()
    samples: list[float] = []
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await asyncio.wait_for(consumer.getone(), 60)
        for i in range(n):
            started = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            await asyncio.wait_for(consumer.getone(), 60)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return samples


async def smtp_send_ms(port: int, n: int) -> list[float]:
    """One pre-rendered reminder sent n times over an open aiosmtplib connection."""
    from krafa_notifier.content import ReminderRenderer

    from bench.emails import ENVELOPE_FROM, _compose

    message = _compose(ReminderRenderer(), reminders(1)[0], 0)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    samples = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            await client.sendmail(ENVELOPE_FROM, ["bench-component@example.is"], message)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await client.quit()
    return samples


# -- the figure ----------------------------------------------------------------------------------


def spool_index(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def one_run(stack: Stack, run: str, due: date, per_zone: int) -> dict[str, list[float]]:
    created, planned = await create_claims(stack, run, due, per_zone, "d-{run}-{i}@example.is")
    expected = len(created)
    # ReminderDue.due_at is when the scheduler fired it; the timer is the moment it planned.
    timers = {claim_id: wall_of(stack, at) for claim_id, at in planned.items()}
    conn = await asyncpg.connect(stack.database_url)
    try:

        async def all_sent() -> bool:
            count = await conn.fetchval(
                "SELECT count(*) FROM notifier.deliveries WHERE recipient LIKE $1 AND status = 'sent'", f"d-{run}-%"
            )
            return int(count) >= expected

        timeout = (max(planned.values()) - stack.sim_now()).total_seconds() / SPEED + 120
        await wait_for(all_sent, timeout, f"{expected} reminders of run {run}")
        rows = await conn.fetch(
            "SELECT message_id, claim_ids, created_at FROM notifier.deliveries WHERE recipient LIKE $1",
            f"d-{run}-%",
        )
    finally:
        await conn.close()
    accepted = {m["message_id"]: unix(m["received_at"]) for m in spool_index(stack.spool / "mail" / "index.jsonl")}
    total, to_consumed, to_smtp = [], [], []
    for row in rows:
        timer = timers[row["claim_ids"][0]]
        at_smtp = accepted[row["message_id"]]
        consumed = row["created_at"].timestamp()
        total.append((at_smtp - timer) * 1000)
        to_consumed.append((consumed - timer) * 1000)
        to_smtp.append((at_smtp - consumed) * 1000)
    return {"total": total, "timer_to_consumed": to_consumed, "consumed_to_smtp": to_smtp}


def run(opts: Options) -> Figure:
    per_zone = opts.size(4, 2)
    values: list[float] = []
    component: list[float] = []
    extra: dict[str, list[float]] = {"p50": [], "timer_to_consumed_p50": [], "consumed_to_smtp_p50": []}
    n = 0
    with bench_stack("due") as stack:
        last: date | None = None
        for i in range(opts.runs):
            for due in attempts(stack, last):
                last = due
                try:
                    result = asyncio.run(one_run(stack, f"r{i}-{due:%m%d}", due, per_zone))
                    break
                except PlannedLate as exc:
                    say(f"{exc}: next day")
            else:
                raise RuntimeError("timelines planned late three times: the machine is too loaded")
            n = len(result["total"])
            values.append(percentile(result["total"], 99))
            extra["p50"].append(percentile(result["total"], 50))
            extra["timer_to_consumed_p50"].append(percentile(result["timer_to_consumed"], 50))
            extra["consumed_to_smtp_p50"].append(percentile(result["consumed_to_smtp"], 50))
            rtt = asyncio.run(broker_rtt_ms(stack.broker.bootstrap, 200))
            smtp = asyncio.run(smtp_send_ms(stack.config.ports["smtp-catcher"], 200))
            component.append(percentile(rtt, 99) + percentile(smtp, 99))
            say(
                f"{KEY} run {i + 1}: {n} reminders, p50 {extra['p50'][-1]:.0f} ms, p99 {values[-1]:.0f} ms"
                f" (timer→consumed p50 {extra['timer_to_consumed_p50'][-1]:.0f} ms,"
                f" consumed→SMTP p50 {extra['consumed_to_smtp_p50'][-1]:.0f} ms);"
                f" broker RTT p99 {percentile(rtt, 99):.1f} ms + SMTP send p99 {percentile(smtp, 99):.1f} ms"
            )
    return Figure(
        KEY,
        "ms",
        n,
        values,
        component,
        "broker produce→consume p99 + aiosmtplib send of a pre-rendered message p99",
        extra={f"due_to_sent_{k}_ms": sorted(v)[len(v) // 2] for k, v in extra.items()},
    )
