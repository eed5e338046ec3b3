"""`krafa chaos`: the pipeline under a steady load while faults are injected, then the
invariants checked over the whole history.

The embedded stack runs on free ports in a temporary directory with a fast simulated clock. A
load of claims (single and small bulk POSTs), payments (camt.054 files over HTTP), cancellations,
disputes (when claims-api offers them) and bounces (debtors at a bouncing domain) runs throughout.
The faults, one at a time and then together: SIGKILL of every service at a random moment and a
restart; the broker stopped (SIGSTOP) for a while; the broker lost and an empty one started,
followed by `krafa outbox replay --since TIME` (the disaster-recovery procedure); the SMTP server
refusing 30 % of messages and dropping connections; PostgreSQL restarted; undecodable records
injected into every topic. Afterwards the topics are read from offset 0 and the service schemas
queried: nothing lost, nothing twice, nothing stale, every poison message dead-lettered with its
reason, every service ready again, and no personal data in any log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import holidays
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from krafa_events import (
    ClaimCancelled,
    ClaimCreated,
    ClaimPaid,
    EmailBounced,
    PaymentReceived,
    ReminderDue,
    ReminderSent,
    Topic,
    UndecodableMessage,
    decode,
    dlq_topic,
)
from krafa_events.catalog import ClaimDisputed, FeeCharged
from krafa_events.registry import topics_consumed_by, types_consumed_by
from krafa_events.topics import PARTITIONS
from krafa_kit.kafka_cluster import KafkaCluster
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from krafa import invariants
from krafa.kafka_faults import run_kafka_faults
from krafa.sinks.smtp_catcher import FaultMode, read_faults, read_spool, write_fault_mode
from krafa.stack import BOUNCE_DOMAIN, SCHEMAS, SERVICES, Stack, StackConfig

log = logging.getLogger("krafa.chaos")

SIM_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
# Every ten claims: what the debtor does. Payments, cancellations and disputes land 9-10 days (in
# simulated time) away from the next reminder step, which is more than the longest fault lasts,
# so a reminder after any of them is a real staleness bug, not a race with the clock.
KINDS = (
    "pays_early",
    "pays_after_reminder",
    "never_pays",
    "bounces",
    "cancelled",
    "pays_after_reminder",
    "no_email",
    "disputed",
    "never_pays",
    "pays_early",
)
ACTING = ("pays_early", "pays_after_reminder", "cancelled", "disputed")
# An action held up longer than this (simulated) by a fault no longer keeps the margin to the next
# step that KINDS promises: the check below counts such claims instead of judging them.
LATE_ACT = timedelta(days=1)
# Wall seconds a close may take to reach the notifier on a busy machine (payments-ingest or
# claims-api commit → outbox → broker → the notifier's stops lane; idle it is a few hundred ms:
# make bench's payment_to_stop_under_load_p99_ms). A send that began inside it is not one the
# notifier could have stopped — that guarantee is the check "no send began after the notifier
# knew", without any allowance. The run is compressed (a day in seconds), so these few seconds
# are simulated hours.
STOP_PROPAGATION_S = 5.0
DUE_IN_DAYS = 10
FIRST_NAMES = ("Jón", "Guðrún", "Sigríður", "Ólafur", "Þórdís", "Einar", "Kristín", "Björn", "Helga", "Ásgeir")
LAST_NAMES = ("Jónsson", "Sigurðardóttir", "Magnússon", "Ólafsdóttir", "Einarsson", "Þórsson")
STREETS = ("Laugavegur", "Hverfisgata", "Skólavörðustígur", "Bankastræti", "Suðurgata")
IBAN = "IS140159260076545510730339"


@dataclass
class ChaosOptions:
    short: bool = False
    rounds: int = 1
    seed: int | None = None
    day_seconds: float | None = None
    claims_per_s: float | None = None
    broker_pause_s: float | None = None
    broker: str = "embedded"  # or "kafka": Apache Kafka, and the faults of krafa.kafka_faults too
    say: Callable[[str], None] = field(default=lambda message: None)

    def __post_init__(self) -> None:
        self.seed = self.seed if self.seed is not None else random.SystemRandom().randrange(1 << 30)
        # A step is at least a week (simulated) away from any payment; that week must outlast
        # the broker pause, the longest single fault.
        # On Apache Kafka a node restart (a JVM) is one of the faults: a slower day keeps it short.
        slow = self.broker == "kafka"
        self.day_seconds = self.day_seconds or ((10.0 if slow else 4.0) if self.short else (15.0 if slow else 6.0))
        self.claims_per_s = self.claims_per_s or (4.0 if self.short else 8.0)
        self.broker_pause_s = self.broker_pause_s or (6.0 if self.short else 30.0)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class FaultRecord:
    name: str
    started: float
    seconds: float = 0.0
    detail: str = ""
    # The fault's span in simulated time, from its start until the stack recovered.
    sim_span: tuple[datetime, datetime] | None = None


@dataclass
class ChaosReport:
    seed: int
    checks: list[Check] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok] + ([self.error] if self.error else [])

    def render(self) -> str:
        lines = [f"krafa chaos (seed {self.seed}): {'PASS' if self.ok else 'FAIL'} in {self.seconds:.0f} s"]
        lines.append("load held: " + ", ".join(f"{k} {v}" for k, v in self.load.items()))
        lines.append(f"faults survived ({len(self.faults)}):")
        summary: dict[str, list[FaultRecord]] = defaultdict(list)
        for fault in self.faults:
            summary[fault.name].append(fault)
        for name, items in summary.items():
            details = "; ".join(f.detail for f in items if f.detail)
            lines.append(
                f"  {name:<28} x{len(items)}  {sum(f.seconds for f in items):6.1f} s"
                + (f"  ({details})" if details else "")
            )
        lines.append("invariants:")
        for check in self.checks:
            lines.append(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


# -- personal data of the load, for the log scan ------------------------------------------------
def kennitala(birth: date, serial: int) -> str:
    """A valid Icelandic national id (check digit per Þjóðskrá) for a person born on `birth`."""
    start = serial % 80 + 20
    # From the serial's own number onwards, wrapping round: a check digit of 10 skips a number.
    for rr in [*range(start, 100), *range(20, start)]:
        digits = f"{birth:%d%m%y}{rr:02d}"
        total = sum(int(d) * w for d, w in zip(digits, (3, 2, 7, 6, 5, 4, 3, 2), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return f"{digits}{check}{(birth.year // 100) % 10}"
    raise ValueError("no valid kennitala for this date")


def _step_moment(day: date) -> datetime:
    # As the default policy (Iceland): 09:00 in Reykjavik (UTC) on the first business day.
    public = holidays.country_holidays("IS")
    while day.weekday() >= 5 or day in public:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)


def midway_between_steps(due: date) -> datetime:
    """Halfway between the first reminder (due + 1) and the second (due + 14), business days."""
    first, second = _step_moment(due + timedelta(days=1)), _step_moment(due + timedelta(days=14))
    return first + (second - first) / 2


def scan_logs(logs: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Which of `needles` (personal data) appear in which log file: {file: [needle, ...]}."""
    wanted = sorted({n for n in needles if len(n) >= 6}, key=len, reverse=True)
    found: dict[str, list[str]] = {}
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        hits = [n for n in wanted if n in text]
        if hits:
            found[path.name] = hits
    return found


EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


# -- the load ------------------------------------------------------------------------------------
@dataclass
class LoadClaim:
    id: uuid.UUID
    index: int
    kind: str
    currency: str
    reference: str
    created_sim: datetime
    debtor_name: str
    acted: bool = False  # paid, cancelled or disputed by the load
    acted_sim: datetime | None = None
    act_at: datetime = SIM_START
    paid_minor: int = 0
    bank_ref: str | None = None
    opening_minor: int = 0  # the balance when created: amount and slip fee


class Retry(Exception):
    pass


class Load:
    """Claims, payments, cancellations and disputes at a steady rate, every call retried until it
    lands (claims with an Idempotency-Key, bank files are deduplicated by entry identity)."""

    def __init__(self, stack: Stack, tracker: Tracker, options: ChaosOptions, rng: random.Random) -> None:
        self.stack = stack
        self.tracker = tracker
        self.options = options
        self.rng = rng
        self.claims: dict[uuid.UUID, LoadClaim] = {}
        self.api_key = ""
        self.retries = 0
        self.files = 0
        self.payments = 0
        self.cancels = 0
        # Debtors whose action a fault held up by more than LATE_ACT: see late_act().
        self.late_acts: set[uuid.UUID] = set()
        self.disputes = 0
        self.dispute_path: str | None = None
        self.pii: set[str] = set()
        self.created_wall: list[float] = []
        self.stopped = asyncio.Event()
        self._next = 0

    # -- HTTP with retries -------------------------------------------------------------------
    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + 240
        delay = 0.2
        while True:
            try:
                response = await client.request(method, url, **kwargs)
                if response.status_code in ok:
                    return response
                if response.status_code < 500 and response.status_code not in (409, 429):
                    raise RuntimeError(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
                reason = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            self.retries += 1
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {url} kept failing for 240 s ({reason})")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    async def setup(self, client: httpx.AsyncClient) -> None:
        response = await self.call(
            client,
            "POST",
            self.stack.url("claims-api") + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {self.stack.state.admin_token}", "Idempotency-Key": "chaos-creditor"},
            json={
                "name": "Knattspyrnufélagið Víkingur",
                "country": "IS",
                "currency": "ISK",
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                "default_language": "is",
                "contact_phone": "+3545551234",
                "payment_account": "0159-26-007654",
                "sender_email": "innheimta@vikingur.localhost",
            },
        )
        self.api_key = response.json()["api_key"]
        await self.stack.use_policy(client, response.json()["creditor_id"])  # steps 1 and 2: reminders
        spec = (await self.call(client, "GET", self.stack.url("claims-api") + "/openapi.json")).json()
        self.dispute_path = next(
            (p for p in spec.get("paths", {}) if p.startswith("/v1/claims/{") and p.endswith("/dispute")), None
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def body(self, i: int) -> dict[str, Any]:
        kind = KINDS[i % len(KINDS)]
        if kind == "disputed" and self.dispute_path is None:
            kind = "never_pays"
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 3) % len(LAST_NAMES)]} {i}"
        national_id = kennitala(date(1960, 1, 1) + timedelta(days=(i * 37) % 15000), i)
        phone = f"+354{7_700_000 + i % 300_000:07d}"  # a valid Icelandic mobile range
        email = (
            None
            if kind == "no_email"
            else f"{'felagi' if kind != 'bounces' else 'horfinn'}{i}@"
            + (BOUNCE_DOMAIN if kind == "bounces" else "example.is")
        )
        self.pii.update({name, national_id, phone} | ({email} if email else set()))
        today = self.stack.sim_now().date()
        return {
            "invoice_no": f"CH-{i:06d}",
            "amount_minor": 3_000 + (i * 733) % 20_000,
            "currency": "ISK",
            "issue_date": (today - timedelta(days=20)).isoformat(),
            "due_date": (today + timedelta(days=DUE_IN_DAYS)).isoformat(),
            "description": "Æfingagjöld",
            "debtor": {
                "customer_no": f"V-{i:06d}",
                "name": name,
                "country": "IS",
                "language": "is" if i % 4 else "en",
                "time_zone": "Atlantic/Reykjavik",
                "national_id": national_id,
                "email": email,
                "phone": phone,
                "address": {
                    "lines": [f"{STREETS[i % len(STREETS)]} {i % 90 + 1}"],
                    "postcode": "101",
                    "city": "Reykjavík",
                    "country": "IS",
                },
            },
        }

    async def create(self, client: httpx.AsyncClient, count: int) -> None:
        first, self._next = self._next, self._next + count
        bodies = [self.body(i) for i in range(first, first + count)]
        headers = {**self.headers, "Idempotency-Key": f"chaos-claims-{first}-{count}"}
        if count == 1:
            response = await self.call(
                client, "POST", self.stack.url("claims-api") + "/v1/claims", json=bodies[0], headers=headers
            )
            created = [response.json()]
        else:
            response = await self.call(
                client,
                "POST",
                self.stack.url("claims-api") + "/v1/claims/bulk",
                json={"claims": bodies},
                headers=headers,
            )
            created = response.json()["claims"]
        now = self.stack.sim_now()
        for offset, out in enumerate(created):
            i = first + offset
            kind = KINDS[i % len(KINDS)]
            if kind == "disputed" and self.dispute_path is None:
                kind = "never_pays"
            claim_id = uuid.UUID(out["id"])
            self.claims[claim_id] = LoadClaim(
                id=claim_id,
                index=i,
                kind=kind,
                currency=out["currency"],
                reference=out["reference"],
                created_sim=now,
                act_at=midway_between_steps(date.fromisoformat(bodies[offset]["due_date"])),
                debtor_name=bodies[offset]["debtor"]["name"],
                opening_minor=int(out["balance_minor"]),
            )
            self.created_wall.append(time.monotonic())

    async def run_claims(self, client: httpx.AsyncClient) -> None:
        interval = 1.0 / self.options.claims_per_s  # type: ignore[operator]
        started = time.monotonic()
        made = 0
        while not self.stopped.is_set():
            due = int((time.monotonic() - started) / interval) - made
            if due > 0:
                # Mostly single POSTs; now and then a small bulk, as an ERP's nightly batch would.
                count = min(due, 25) if due > 3 or self.rng.random() < 0.1 else 1
                await self.create(client, count if count > 1 else 1)
                made += count
            else:
                await asyncio.sleep(interval / 2)

    def _ready_to_act(self, claim: LoadClaim) -> bool:
        if claim.acted:
            return False
        if claim.kind == "pays_early":
            return self.stack.sim_now() >= claim.created_sim + timedelta(days=1)
        if claim.kind == "pays_after_reminder":
            # The debtor pays what the reminder told them, so only once it is out: a fault that
            # holds the reminder back holds the payment back too (a late act if over a day).
            # Should no reminder ever be stated (it never came), the debtor pays the balance they
            # are shown two days on: a late act.
            now = self.stack.sim_now()
            return now >= claim.act_at and (claim.id in self.tracker.stated or now >= claim.act_at + 2 * LATE_ACT)
        if claim.kind in ("cancelled", "disputed"):
            # Halfway between the two steps as scheduled (not as delivered: a fault can delay
            # the first reminder, and the second must stay far from the payment either way).
            return self.stack.sim_now() >= claim.act_at
        return False

    def late_act(self, claim: LoadClaim) -> None:
        """Note a debtor's action that landed more than LATE_ACT after it was meant to: a fault
        (claims-api or payments-ingest down, the broker stopped) held the request back, so the
        action may land hours before the next step while the events that would stop it are still
        held up too. No design can stop that reminder; such claims are counted, not checked."""
        wanted = claim.created_sim + timedelta(days=1) if claim.kind == "pays_early" else claim.act_at
        if claim.acted_sim is not None and claim.acted_sim > wanted + LATE_ACT:
            self.late_acts.add(claim.id)

    async def run_actions(self, client: httpx.AsyncClient) -> None:
        """Bank files for the claims whose debtors pay now; cancellations and disputes."""
        # After the load stops, the debtors of the last claims still pay, cancel or dispute.
        while not self.stopped.is_set() or any(c.kind in ACTING and not c.acted for c in list(self.claims.values())):
            ready = [c for c in list(self.claims.values()) if self._ready_to_act(c)]
            paying = [c for c in ready if c.kind.startswith("pays")]
            if paying:
                await self.pay(client, paying)
            for claim in ready:
                if claim.kind == "cancelled":
                    await self.call(
                        client,
                        "POST",
                        self.stack.url("claims-api") + f"/v1/claims/{claim.id}/cancel",
                        json={"reason": "chaos: settled at the desk"},
                        headers={**self.headers, "Idempotency-Key": f"chaos-cancel-{claim.id}"},
                    )
                    self.cancels += 1
                elif claim.kind == "disputed" and self.dispute_path is not None:
                    try:
                        await self.call(
                            client,
                            "POST",
                            self.stack.url("claims-api") + self.dispute_path.replace("{claim_id}", str(claim.id)),
                            json={"reason": "chaos: the debtor disputes the amount"},
                            headers={**self.headers, "Idempotency-Key": f"chaos-dispute-{claim.id}"},
                        )
                    except RuntimeError as exc:
                        # A dispute route that wants another body: no disputes in this run.
                        log.warning("disputes switched off: %s", exc)
                        self.dispute_path = None
                        claim.kind = "never_pays"
                        continue
                    self.disputes += 1
                else:
                    continue
                claim.acted, claim.acted_sim = True, self.stack.sim_now()
                self.late_act(claim)
            await asyncio.sleep(1.0)

    async def pay(self, client: httpx.AsyncClient, claims: list[LoadClaim]) -> None:
        credits = []
        for claim in claims:
            # What the debtor was last told: the invoice, plus the fees and the late interest the
            # reminders stated. Not claims-api's balance of the moment: during an outage that has
            # not yet booked the fees the scheduler charged with the reminder.
            if claim.kind == "pays_early" or claim.id in self.tracker.stated:
                claim.paid_minor = claim.opening_minor + self.tracker.owed_beyond_opening(claim.id)
            else:
                current = await self.call(
                    client, "GET", self.stack.url("claims-api") + f"/v1/claims/{claim.id}", headers=self.headers
                )
                claim.paid_minor = int(current.json()["balance_minor"])
            claim.bank_ref = f"CH{claim.index:08d}{uuid.uuid4().hex[:8].upper()}"
            credits.append(
                GeneratedCredit(
                    amount_minor=claim.paid_minor,
                    currency=claim.currency,
                    reference=claim.reference,
                    booking_date=self.stack.sim_now().date(),
                    bank_ref=claim.bank_ref,
                    debtor_name=claim.debtor_name,
                )
            )
        self.files += 1
        document = camt054(
            credits, account_iban=IBAN, msg_id=f"CHAOS-{self.files}-{uuid.uuid4().hex[:8]}", created=datetime.now(UTC)
        )
        # The same document again after a failure: payments are deduplicated by their identity.
        await self.call(
            client,
            "POST",
            self.stack.url("payments-ingest") + "/v1/payments/files",
            content=document,
            params={"filename": f"chaos-{self.files}.xml"},
            headers={"Content-Type": "application/xml", "Authorization": f"Bearer {self.stack.state.admin_token}"},
            timeout=120,
        )
        now = self.stack.sim_now()
        for claim in claims:
            claim.acted, claim.acted_sim = True, now
            self.late_act(claim)
        self.payments += len(claims)


# -- reading the topics --------------------------------------------------------------------------
ALL_TOPICS = tuple(t.value for t in Topic)


def _partitions(topics: Iterable[str], consumer: AIOKafkaConsumer | None = None) -> list[TopicPartition]:
    """The partitions of `topics`: as the broker has them when a started consumer is given
    (a topic created on first use may have fewer than we create), else as we create them."""
    by_name = {t.value: PARTITIONS[t] for t in Topic}
    out = []
    for topic in topics:
        known = consumer.partitions_for_topic(topic) if consumer is not None else None
        numbers = sorted(known) if known else range(by_name.get(topic.removesuffix(".dlq"), 6))
        out += [TopicPartition(topic, p) for p in numbers]
    return out


class Tracker:
    """Follows the topics live (no consumer group: it survives a lost broker by starting over
    at offset 0 of the new one), keeping what the load reacts to."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.first_reminder_at: dict[uuid.UUID, datetime] = {}
        self.created: set[uuid.UUID] = set()
        self.closed: set[uuid.UUID] = set()
        self.second_step: set[uuid.UUID] = set()
        self.fallback_letters: set[uuid.UUID] = set()
        self.bounced: set[uuid.UUID] = set()
        self.received: set[uuid.UUID] = set()
        # claim -> reminder -> (fee, late interest accrued by then) as each ReminderDue stated them
        self.stated: dict[uuid.UUID, dict[uuid.UUID, tuple[int, int]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.stack.broker.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=100,
                request_timeout_ms=10000,
            )
            try:
                await consumer.start()
                await consumer.topics()  # metadata, so the partitions are the broker's
                consumer.assign(_partitions(ALL_TOPICS, consumer))
                while True:
                    batches = await consumer.getmany(timeout_ms=300)
                    for records in batches.values():
                        for record in records:
                            self._apply(record.headers, record.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("tracker reconnecting: %s", type(exc).__name__)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def owed_beyond_opening(self, claim_id: uuid.UUID) -> int:
        """Fees of every step stated so far plus the late interest the latest one stated (each
        reminder states the interest accrued to its day, not since the last)."""
        steps = self.stated.get(claim_id, {})
        return sum(fee for fee, _ in steps.values()) + max((interest for _, interest in steps.values()), default=0)

    def _apply(self, headers: Any, value: bytes | None) -> None:
        try:
            decoded = decode(list(headers or ()), value)
        except UndecodableMessage:
            return
        if decoded.id in self.seen:
            return
        self.seen.add(decoded.id)
        event = decoded.event
        self.counts[type(event).__name__] += 1
        if isinstance(event, ClaimCreated):
            self.created.add(event.claim_id)
        elif isinstance(event, ReminderDue) and len(event.claim_ids) == 1:
            # Keyed by the reminder's identity: a replayed or re-fired ReminderDue is one statement.
            self.stated.setdefault(event.claim_ids[0], {})[event.reminder_id] = (event.fee_minor, event.interest_minor)
        elif isinstance(event, ReminderSent):
            for claim_id in event.claim_ids:
                if event.step == 1:
                    self.first_reminder_at.setdefault(claim_id, event.sent_at)
                if event.step == 2:
                    self.second_step.add(claim_id)
                if event.fallback_for is not None:
                    self.fallback_letters.add(claim_id)
        elif isinstance(event, EmailBounced):
            self.bounced.update(event.claim_ids)
        elif isinstance(event, PaymentReceived):
            self.received.add(event.claim_id)
        elif isinstance(event, (ClaimPaid, ClaimCancelled, ClaimDisputed)):
            self.closed.add(event.claim_id)


@dataclass
class History:
    events: dict[str, Any] = field(default_factory=dict)  # ce id -> event
    copies: Counter[str] = field(default_factory=Counter)  # ce id -> records carrying it
    undecodable: int = 0
    dlq: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events.values() if isinstance(e, kind)]


async def read_history(bootstrap: str, attempts: int = 5, *, dlq_only: bool = False) -> History:
    """Every record of every topic and DLQ (only the DLQs with `dlq_only`) from offset 0 up to
    the end as of now (a fresh client per attempt: a broker that has just come back can leave
    one stuck on metadata)."""
    for attempt in range(1, attempts + 1):
        try:
            return await _read_history(bootstrap, dlq_only=dlq_only)
        except (KafkaError, TimeoutError) as exc:
            if attempt == attempts:
                raise
            log.warning("reading the topics failed (%s), attempt %d of %d", type(exc).__name__, attempt, attempts)
            await asyncio.sleep(2 * attempt)
    raise AssertionError("unreachable")


async def _read_history(bootstrap: str, *, dlq_only: bool = False) -> History:
    history = History()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=30000,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = _partitions((dlq_topic(t) for t in ALL_TOPICS), consumer)
        if not dlq_only:
            partitions = _partitions(ALL_TOPICS, consumer) + partitions
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    headers = list(record.headers or ())
                    if tp.topic.endswith(".dlq"):
                        history.dlq.append(
                            (tp.topic, {k: v.decode(errors="replace") for k, v in headers if k.startswith("krafa_dlq")})
                        )
                        continue
                    try:
                        decoded = decode(headers, record.value, record.key)
                    except UndecodableMessage:
                        history.undecodable += 1
                        continue
                    history.events.setdefault(decoded.id, decoded.event)
                    history.copies[decoded.id] += 1
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return history


# -- poison ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Poison:
    topic: str
    partition: int
    offset: int
    kind: str

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


async def inject_poison(bootstrap: str, tag: str) -> list[Poison]:
    """Two undecodable records per topic: garbage without CloudEvents headers, and a known event
    type whose JSON body is broken."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000)
    await producer.start()
    out = []
    try:
        for topic in ALL_TOPICS:
            garbage = await producer.send_and_wait(topic, b"\xff\xfe\x00not an event", key=f"poison:{tag}:a".encode())
            out.append(Poison(topic, garbage.partition, garbage.offset, "no CloudEvents headers"))
            broken = await producer.send_and_wait(
                topic,
                b'{"claim_id": "broken',
                key=f"poison:{tag}:b".encode(),
                headers=[
                    ("ce_specversion", b"1.0"),
                    ("ce_id", str(uuid.uuid4()).encode()),
                    ("ce_type", ClaimCreated.TYPE.encode()),
                    ("ce_source", b"/krafa/chaos"),
                    ("content-type", b"application/json"),
                ],
            )
            out.append(Poison(topic, broken.partition, broken.offset, "broken JSON body"))
    finally:
        await producer.stop()
    return out


def expects_dead_letter(service: str, poison: Poison) -> bool:
    """Whether `service` must dead-letter the poison: every consumer of its topic, except one that
    skips a known event type it does not consume on that type's own topic by its header alone,
    without reading the body (krafa_kit.consumer: the broken ClaimCreated on krafa.claims is
    nothing to the bounce-handler)."""
    if poison.topic not in topics_consumed_by(service):
        return False
    own_topic = poison.topic == ClaimCreated.TOPIC.value
    return not (poison.kind == "broken JSON body" and own_topic and ClaimCreated.TYPE not in types_consumed_by(service))


def poison_missing(history: History, poisons: list[Poison]) -> list[str]:
    """(poison, consumer) pairs without a DLQ record naming its source, service and a reason."""
    got = {
        (headers.get("krafa_dlq_source"), headers.get("krafa_dlq_service"))
        for _, headers in history.dlq
        if headers.get("krafa_dlq_reason")
    }
    missing = []
    for poison in poisons:
        for service in SERVICES:
            if expects_dead_letter(service, poison) and (poison.source, service) not in got:
                missing.append(f"{poison.source} ({poison.kind}) by {service}")
    return missing


# -- the run ---------------------------------------------------------------------------------------
class Chaos:
    def __init__(self, stack: Stack, options: ChaosOptions) -> None:
        self.stack = stack
        self.options = options
        self.rng = random.Random(options.seed)  # a fault schedule, not security
        self.tracker = Tracker(stack)
        self.load = Load(stack, self.tracker, options, self.rng)
        self.report = ChaosReport(seed=options.seed or 0)
        self.load_errors: list[str] = []
        self.drained_at: datetime | None = None
        self.poisons: list[Poison] = []
        self.since = datetime.now(UTC) - timedelta(minutes=1)
        self.notifier_kills = 0
        self.down_on_purpose: set[str] = set()
        self.supervisor_restarts: Counter[str] = Counter()
        self.poison_missing_before_loss: list[str] = []
        self.history_read_at = datetime.now(UTC)

    def say(self, message: str) -> None:
        self.options.say(f"[{self.stack.sim_now():%m-%d %H:%M}] {message}")

    # -- faults --------------------------------------------------------------------------------
    async def fault(self, name: str, action: Callable[[], Awaitable[str | None]]) -> None:
        self.say(f"fault: {name}")
        started, sim_started = time.monotonic(), self.stack.sim_now()
        detail = await action()
        self.report.faults.append(
            FaultRecord(name, started, time.monotonic() - started, detail or "", (sim_started, self.stack.sim_now()))
        )

    async def kill_service(self, service: str) -> str:
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))  # a random moment under load
        self.down_on_purpose.add(service)
        try:
            self.stack.kill(service, signal.SIGKILL)
            if service == "notifier":
                self.notifier_kills += 1
            await asyncio.sleep(self.rng.uniform(0.0, 1.5))
            started = time.monotonic()
            self.stack.start_service(service)
        finally:
            self.down_on_purpose.discard(service)
        if self.options.short:
            # The short form does not wait, so restarts overlap the next faults; every service
            # must be ready again before the broker is lost.
            return "restarted"
        await self.wait_ready((service,), 180)
        return f"back in {time.monotonic() - started:.0f} s"

    async def supervise(self) -> None:
        """What Kubernetes or systemd do: start again a service that exited by itself (e.g. its
        migrations could not reach a restarting database). Each such restart is reported."""
        while True:
            await asyncio.sleep(1.0)
            for service in SERVICES:
                process = self.stack.processes.get(service)
                if service in self.down_on_purpose or process is None or process.poll() is None:
                    continue
                self.say(f"supervisor: {service} exited with {process.returncode}, starting it again")
                self.supervisor_restarts[service] += 1
                self.stack.start_service(service)

    async def wait_ready(self, services: Iterable[str], timeout: float) -> None:
        """Until every one of `services` answers /readyz with 200 (the supervisor restarts any
        that exit meanwhile)."""
        pending = set(services)

        async def ready() -> bool:
            async with httpx.AsyncClient(timeout=3) as client:
                for service in list(pending):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(self.stack.url(service) + "/readyz")).status_code == 200:
                            pending.discard(service)
            return not pending

        try:
            await _eventually(ready, timeout=timeout, interval=0.5)
        except AssertionError:
            raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(sorted(pending))}") from None

    async def pause_broker(self, seconds: float) -> str:
        self.stack.broker.pause()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.stack.broker.resume()
        return f"{seconds:.0f} s stopped"

    async def lose_broker(self) -> str:
        # Our own reader stays away too while the new broker gets its topics.
        await self.tracker.stop()
        try:
            await asyncio.to_thread(self.stack.replace_broker)
        finally:
            await self.tracker.start()
        # The documented disaster-recovery procedure, as an operator runs it.
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-c",
                "from krafa.cli import main; main()",
                "outbox",
                "replay",
                "--since",
                self.since.isoformat(),
                "--database-url",
                self.stack.database_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"krafa outbox replay failed: {result.stderr[-500:]}")
        replayed = json.loads(result.stdout.strip().splitlines()[-1])["replayed"]
        return f"replayed {sum(replayed.values())} events"

    async def smtp_faults(self, seconds: float) -> str:
        before = len(read_faults(self.stack.spool / "mail"))
        write_fault_mode(self.stack.smtp_faults_file, FaultMode(refuse_rate=0.3, drop_rate=0.1))
        try:
            await asyncio.sleep(seconds)
        finally:
            write_fault_mode(self.stack.smtp_faults_file, FaultMode())
        faults = Counter(f.get("fault") for f in read_faults(self.stack.spool / "mail")[before:])
        return f"{faults['refused']} refused, {faults['dropped']} dropped"

    async def restart_postgres(self) -> str:
        started = time.monotonic()
        await asyncio.to_thread(self.stack.restart_postgres, self.rng.uniform(1.0, 3.0))
        return f"down {time.monotonic() - started:.0f} s"

    async def poison(self) -> str:
        batch = await inject_poison(self.stack.broker.bootstrap, f"{len(self.poisons)}")
        self.poisons += batch
        return f"{len(batch)} undecodable records"

    async def verify_poison(self, batch: list[Poison]) -> None:
        """Wait for the batch in the DLQs; what is still missing after 3 minutes is reported."""
        self.poison_missing_before_loss += await self.await_dead_letters(batch)

    async def await_dead_letters(self, batch: list[Poison]) -> list[str]:
        """Wait up to 3 minutes for every consumer of the batch's topics to dead-letter it (a
        consumer killed or slowed by the faults reaches the poison's offset only when it has
        caught up); returns what is still missing."""
        missing: list[str] = []

        async def done() -> bool:
            history = await read_history(self.stack.broker.bootstrap, dlq_only=True)
            missing[:] = poison_missing(history, batch)
            return not missing

        with contextlib.suppress(AssertionError):
            await _eventually(done, timeout=180, interval=2)
        return missing

    async def schedule(self) -> None:
        short = self.options.short
        pause = float(self.options.broker_pause_s or 6.0)
        for round_no in range(self.options.rounds):
            self.say(f"round {round_no + 1}: faults one at a time")
            await asyncio.sleep(3 if short else 10)
            await self.fault("poison records", self.poison)
            services = list(SERVICES)
            self.rng.shuffle(services)
            # The short run on Apache Kafka (make test runs it beside the embedded one) keeps to
            # what the cluster changes: the notifier's crash, the nodes' faults and the cluster's
            # loss. The faults the broker plays no part in (other services killed, SMTP,
            # PostgreSQL, all at once) are the embedded run's; `make chaos` runs every one on both.
            cluster_only = short and self.options.broker == "kafka"
            if short:
                # Three of them (the notifier, whose crash edge the sends' guarantee is about,
                # and two at random); the full run kills each, and "together" two more.
                services = ["notifier", *[s for s in services if s != "notifier"][: 0 if cluster_only else 2]]
                self.rng.shuffle(services)
            for service in services:
                await self.fault(f"SIGKILL {service}", lambda s=service: self.kill_service(s))  # type: ignore[misc]
            if not cluster_only:
                await self.fault("broker unreachable", lambda: self.pause_broker(pause))
                await self.fault("SMTP refuses 30 %, drops 10 %", lambda: self.smtp_faults(8 if short else 30))
                await self.fault("PostgreSQL restart", self.restart_postgres)
            if self.options.broker == "kafka":
                await run_kafka_faults(self)  # leader killed, a node stopped, rolling restart, replicas
            await self.wait_ready(SERVICES, 180)
            # The poison of this round must be dead-lettered before the broker (and its DLQs) go.
            batch = self.poisons[-10:]
            await self.verify_poison(batch)
            await self.fault("broker lost, outbox replay", self.lose_broker)
            if cluster_only:
                # Poison for the new cluster's DLQs: the first batch's went with the old one.
                await self.fault("poison records", self.poison)
                continue

            self.say(f"round {round_no + 1}: faults together")
            await self.fault("poison records", self.poison)
            write_fault_mode(self.stack.smtp_faults_file, FaultMode(refuse_rate=0.3, drop_rate=0.1))
            victims = self.rng.sample(list(SERVICES), 2)
            try:
                for service in victims:
                    self.down_on_purpose.add(service)
                    self.stack.kill(service, signal.SIGKILL)
                    self.notifier_kills += service == "notifier"
                await self.fault(
                    f"together: SIGKILL {' + '.join(victims)}, broker stopped, PostgreSQL restart, SMTP faults",
                    lambda v=victims: self._together(v, pause),  # type: ignore[misc]
                )
            finally:
                write_fault_mode(self.stack.smtp_faults_file, FaultMode())

    async def _together(self, victims: list[str], pause: float) -> str:
        self.stack.broker.pause()
        try:
            await asyncio.to_thread(self.stack.restart_postgres, 1.0)
            for service in victims:
                self.stack.start_service(service)
                self.down_on_purpose.discard(service)
            await asyncio.sleep(max(pause / 2, 2))
        finally:
            self.stack.broker.resume()
        await self.wait_ready(victims, 180)
        return "recovered"

    # -- settling and checking ------------------------------------------------------------------
    def expectations_met(self) -> list[str]:
        """What has not happened yet (empty when every claim reached its end)."""
        t = self.tracker
        waiting = []
        for claim in self.load.claims.values():
            if claim.id not in t.created:
                waiting.append(f"{claim.id} not created")
            elif claim.kind in ("pays_early", "pays_after_reminder", "cancelled", "disputed"):
                # A late payment may have met a newer fee: received is its end (the check judges it).
                late_paid = claim.id in self.load.late_acts and claim.id in t.received
                if not claim.acted or (claim.id not in t.closed and not late_paid):
                    waiting.append(f"{claim.id} {claim.kind} not closed")
            elif claim.id not in t.second_step:
                waiting.append(f"{claim.id} {claim.kind} no second reminder")
            elif claim.kind == "bounces" and claim.id not in t.fallback_letters:
                waiting.append(f"{claim.id} no fallback letter")
        return waiting

    async def settle(self, *, stall_s: float, cap_s: float = 1800) -> None:
        """Until every claim reached its end, as long as the number still waiting keeps falling
        (no progress for `stall_s`, or `cap_s` in all, ends the wait)."""
        started = best_at = time.monotonic()
        best = len(self.expectations_met()) + 1
        while True:
            waiting = len(self.expectations_met())
            if waiting == 0:
                return
            now = time.monotonic()
            if waiting < best:
                best, best_at = waiting, now
            if now - best_at > stall_s or now - started > cap_s:
                self.say(f"{waiting} claims still short of their end; no progress for {now - best_at:.0f} s")
                return
            await asyncio.sleep(1)

    async def deliveries_due(self) -> int:
        """Deliveries the notifier should be sending by now: being sent, or pending and due on the
        stack's clock (not those waiting for a later sending window or a retry time)."""
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM notifier.deliveries"
                    " WHERE status = 'sending' OR (status = 'pending' AND next_attempt_at <= $1)",
                    self.stack.sim_now(),
                )
            )
        finally:
            await conn.close()

    async def drain_deliveries(self, *, stall_s: float) -> None:
        """Until no delivery is due and unsent, as long as the number keeps falling; records the
        moment (on the stack's clock) it got there, or None when it stalled."""
        best, best_at = None, time.monotonic()
        self.drained_at = None
        while (due := await self.deliveries_due()) > 0:
            if best is None or due < best:
                best, best_at = due, time.monotonic()
            if time.monotonic() - best_at > stall_s:
                self.say(f"{due} deliveries due and unsent; no progress for {stall_s:.0f} s")
                return
            await asyncio.sleep(1)
        self.drained_at = self.stack.sim_now()

    async def outbox_backlog(self) -> int:
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            total = 0
            for schema in SCHEMAS.values():
                total += int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'))
            return total
        finally:
            await conn.close()

    async def run(self) -> ChaosReport:
        started = time.monotonic()
        await self.tracker.start()
        supervisor = asyncio.create_task(self.supervise())
        async with httpx.AsyncClient(timeout=30) as client:
            await self.load.setup(client)
            self.say(
                f"load: {self.options.claims_per_s} claims/s; disputes {'on' if self.load.dispute_path else 'off'}"
            )
            loaders = [
                asyncio.create_task(self.load.run_claims(client)),
                asyncio.create_task(self.load.run_actions(client)),
            ]
            try:
                await self.schedule()
                self.load.stopped.set()
                load_seconds = time.monotonic() - started
                self.say("load stopped; waiting for every claim to reach its end")
                # Bounded by progress, not by a clock: a busy machine takes longer, a stuck stack
                # stops moving. If it never happens, the checks below say what is missing.
                await self.settle(stall_s=60 + 30 * float(self.options.day_seconds or 3))
            finally:
                for task in loaders:
                    task.cancel()
                outcomes = await asyncio.gather(*loaders, return_exceptions=True)
                # A load generator that died is a failed run, not a quiet one with nothing to check.
                self.load_errors = [repr(o)[:500] for o in outcomes if isinstance(o, Exception)]
        # Sends already due finish (a busy notifier is still working through them; bounded by
        # progress), then their events leave the outboxes.
        await self.drain_deliveries(stall_s=60)
        with contextlib.suppress(AssertionError):
            await _eventually(lambda: self._zero(self.outbox_backlog), timeout=60, interval=1)
        await asyncio.sleep(2)
        # The claims can all reach their end while a consumer that the last faults held back has
        # not yet read as far as the last poison batch on a partition no claim needed since; the
        # check below judges what the DLQs hold once it has had the same 3 minutes as the first.
        await self.await_dead_letters(self.poisons[-10:])
        await self.tracker.stop()
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        self.history_read_at = datetime.now(UTC)
        history = await read_history(self.stack.broker.bootstrap)
        self.report.checks = await self.check(history)
        wall = max(load_seconds, 1.0)
        kinds = Counter(c.kind for c in self.load.claims.values())
        self.report.load = {
            "claims": len(self.load.claims),
            "claims/s": round(len(self.load.claims) / wall, 1),
            "bank files": self.load.files,
            "payments": self.load.payments,
            "cancellations": self.load.cancels,
            "disputes": self.load.disputes,
            "bouncing debtors": kinds["bounces"],
            "emails at SMTP": len(read_spool(self.stack.spool / "mail")),
            "client retries": self.load.retries,
            "poison records": len(self.poisons),
            "seconds under load": round(load_seconds),
        }
        if self.supervisor_restarts:
            self.report.faults.append(
                FaultRecord(
                    "service exited by itself",
                    started,
                    detail=", ".join(f"{s} x{n}" for s, n in sorted(self.supervisor_restarts.items()))
                    + ", started again by the supervisor",
                )
            )
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _read_ledger(self) -> invariants.LedgerRead:
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            entries = await conn.fetch(
                "SELECT claim_id, substr(source_id, 5)::uuid AS fee_id, fees_minor + interest_minor AS amount"
                " FROM claims.ledger_entries WHERE source_id LIKE 'fee:%'"
            )
            waived = {
                uuid.UUID(r["fee_id"])
                for r in await conn.fetch(
                    "SELECT details->>'fee_id' AS fee_id FROM claims.claim_history WHERE details ? 'waived'"
                )
            }
        finally:
            await conn.close()
        fees = [invariants.LedgerFee(r["fee_id"], r["claim_id"], int(r["amount"])) for r in entries]
        return invariants.LedgerRead(fees, waived)

    async def _published_before(self, moment: datetime) -> list[invariants.Published]:
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            rows: list[invariants.Published] = []
            for schema in SCHEMAS.values():
                rows += [
                    invariants.Published(r["event_id"], schema, r["event_type"])
                    for r in await conn.fetch(
                        f'SELECT event_id, event_type FROM "{schema}".outbox WHERE published_at < $1', moment
                    )
                ]
            return rows
        finally:
            await conn.close()

    def tracker_story(self, claim_id: uuid.UUID) -> str:
        claim = self.load.claims.get(claim_id)
        return f"claim {claim_id}: {claim.kind if claim else 'not ours'}, acted at {claim.acted_sim if claim else None}"

    async def _read_topics(self) -> History:
        return await read_history(self.stack.broker.bootstrap)

    async def _zero(self, probe: Callable[[], Awaitable[int]]) -> bool:
        try:
            return await probe() == 0
        except (OSError, asyncpg.PostgresError):
            return False

    async def check(self, h: History) -> list[Check]:
        claims = self.load.claims
        ids = list(claims)
        checks: list[Check] = []
        created = {e.claim_id for e in h.of(ClaimCreated)}
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            rows = {r["id"]: r for r in await conn.fetch("SELECT id, status, paid_minor FROM claims.claims")}
            timelines = {r["claim_id"] for r in await conn.fetch("SELECT claim_id FROM scheduler.timelines")}
            payments = {
                r["bank_ref"]: r
                for r in await conn.fetch("SELECT bank_ref, state, claim_id, amount_minor FROM payments.payments")
            }
            deliveries = Counter(
                r["status"] for r in await conn.fetch("SELECT status FROM notifier.deliveries WHERE status <> 'sent'")
            )
            # The clock runs on while the history is read: deliveries that fell due since the
            # drain (a later sending window, a retry) may be on their way now; those due at the
            # drain and still unsent are stuck.
            drained_at = self.drained_at or self.stack.sim_now()
            later = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE next_attempt_at <= $1) AS stuck,"
                " count(*) FILTER (WHERE next_attempt_at > $1) AS n, max(next_attempt_at) AS last"
                " FROM notifier.deliveries WHERE status IN ('pending', 'sending')",
                drained_at,
            )
        finally:
            await conn.close()

        checks.append(
            Check("load generator never failed", not self.load_errors, "; ".join(self.load_errors) or "ran throughout")
        )
        lost = [i for i in ids if i not in created or i not in rows or i not in timelines]
        checks.append(
            Check(
                "no claim lost",
                not lost,
                f"{len(ids)} claims: {len(ids) - len(lost)} with ClaimCreated, a claims-api row and a timeline",
            )
        )

        paid = [c for c in claims.values() if c.kind.startswith("pays") and c.acted]
        received: dict[uuid.UUID, int] = defaultdict(int)
        for event in h.of(PaymentReceived):
            received[event.claim_id] += event.amount_minor
        paid_events = {e.claim_id for e in h.of(ClaimPaid)}
        # A payment a fault held up past its moment may meet a step that fired meanwhile (its fee
        # not yet stated to the debtor): matched and booked in full, the claim may stay open.
        payment_lost = [
            c.id
            for c in paid
            if received[c.id] != c.paid_minor
            or rows[c.id]["paid_minor"] != c.paid_minor
            or payments.get(c.bank_ref or "") is None
            or payments[c.bank_ref or ""]["claim_id"] != c.id
            or (c.id not in self.load.late_acts and (c.id not in paid_events or rows[c.id]["status"] != "paid"))
        ]
        short = sum(1 for c in paid if c.id in self.load.late_acts and rows[c.id]["status"] != "paid")
        checks.append(
            Check(
                "no payment lost",
                not payment_lost and bool(paid),
                f"{len(paid)} payments: {len(paid) - len(payment_lost)} matched, PaymentReceived for the exact "
                f"amount, claim paid in full and ClaimPaid ({short} late payments met a newer fee)",
            )
        )

        # Nothing twice: one delivery per reminder (and per fallback), one ReminderSent per delivery.
        sent = h.of(ReminderSent)
        per_slot = Counter((s.reminder_id, s.fallback_for) for s in sent)
        per_step = Counter((claim_id, s.step) for s in sent if s.fallback_for is None for claim_id in s.claim_ids)
        doubled = [k for k, n in per_slot.items() if n > 1] + [k for k, n in per_step.items() if n > 1]
        mail = read_spool(self.stack.spool / "mail")
        by_message_id = Counter(m.message_id for m in mail)
        repeats = {mid: n for mid, n in by_message_id.items() if n > 1}
        # docs/adr/0003: a message the SMTP server accepted in the instant before a killed
        # notifier could record it goes out again under the same Message-ID; at most one per send
        # in flight at each kill.
        from krafa_notifier.settings import Settings as NotifierSettings

        bound = NotifierSettings.model_fields["dispatch_concurrency"].default * max(self.notifier_kills, 0)
        email_ids = {s.message_id for s in sent if s.channel.value == "email"}
        unsent = [m for m in email_ids if m not in by_message_id]
        letters = {
            json.loads(line).get("client_ref") for line in _lines(self.stack.spool / "providers/print/index.jsonl")
        }
        letter_deliveries = {str(s.delivery_id) for s in sent if s.channel.value == "letter"}
        checks.append(
            Check(
                "no delivery sent twice",
                not doubled and all(n == 2 for n in repeats.values()) and len(repeats) <= bound and not unsent,
                f"{len(sent)} ReminderSent ({len(email_ids)} email, {len(letter_deliveries)} letter), "
                f"{len(doubled)} reminders delivered twice; {len(mail)} messages at the SMTP server, "
                f"{len(repeats)} repeated Message-IDs (ADR 0003 bound {bound} for {self.notifier_kills} notifier "
                f"kills), {len(unsent)} sent emails missing at the server",
            )
        )
        missing_letters = letter_deliveries - letters
        checks.append(
            Check(
                "every letter at the print provider",
                not missing_letters,
                f"{len(letter_deliveries)} letters, {len(missing_letters)} missing at the print sink",
            )
        )

        fees = h.of(FeeCharged)
        fee_events = Counter(f.fee_id for f in fees)
        fee_steps = Counter((f.claim_id, f.step, f.kind) for f in fees)
        ledger = await invariants.fee_ledger_matches(h, self._read_ledger, self._read_topics)
        checks.append(
            Check(
                "no fee charged twice",
                all(n == 1 for n in fee_events.values()) and all(n == 1 for n in fee_steps.values()) and ledger.ok,
                f"{len(fee_steps)} (claim, step, kind) charged; {ledger.detail}",
            )
        )
        on_topics = await invariants.topics_hold_the_outboxes(
            await self._published_before(self.history_read_at), h, self._read_topics
        )
        checks.append(Check("every published event on its topic", on_topics.ok, on_topics.detail))

        closed_at: dict[uuid.UUID, tuple[str, datetime]] = {}
        for e in h.of(ClaimPaid):
            closed_at[e.claim_id] = ("paid", e.paid_at)
        for e in h.of(ClaimCancelled):
            closed_at.setdefault(e.claim_id, ("cancelled", e.cancelled_at))
        for e in h.of(ClaimDisputed):
            closed_at.setdefault(e.claim_id, ("disputed", e.disputed_at))
        late = self.load.late_acts
        # A close made during a fault (the broker stopped or lost, a service down) cannot reach the
        # scheduler and the notifier before the stack recovers, nor one made just after it before
        # the backlog of the outage has drained (the consumers work through days of simulated
        # events in order): both are judged from the recovery plus LATE_ACT. Every other close is
        # judged from its moment.
        spans = [f.sim_span for f in self.report.faults if f.sim_span is not None]

        def knowable(moment: datetime) -> datetime:
            ends = [end for start, end in spans if start <= moment <= end + LATE_ACT]
            if not ends:
                return moment
            # A recovery that falls into the next fault waits for that one's recovery too.
            later = max(ends) + LATE_ACT
            return later if later == moment else knowable(later)

        propagation = timedelta(seconds=STOP_PROPAGATION_S * self.stack.config.sim_speed)
        closed_at = {claim_id: (how, knowable(at)) for claim_id, (how, at) in closed_at.items()}
        judged = {claim_id: closed for claim_id, closed in closed_at.items() if claim_id not in late}
        after_close = [
            (claim_id, s)
            for s in sent
            for claim_id in s.claim_ids
            if claim_id in judged and s.sent_at > judged[claim_id][1]
        ]
        stale = [
            f"{claim_id} step {s.step} sent {s.sent_at:%m-%d %H:%M} after {judged[claim_id][0]} "
            f"{judged[claim_id][1]:%m-%d %H:%M}"
            for claim_id, s in after_close
            if s.sent_at > judged[claim_id][1] + propagation
        ]
        lags = [
            (s.sent_at - judged[claim_id][1]).total_seconds() / self.stack.config.sim_speed
            for claim_id, s in after_close
        ]
        in_flight = (
            f"; {len(lags)} sent while the close was on its way, at most {max(lags):.2f} s after it" if lags else ""
        )
        due_after = [
            d
            for d in h.of(ReminderDue)
            for claim_id in d.claim_ids
            if claim_id in judged and d.due_at > judged[claim_id][1]
        ]
        late_sent = sum(
            1
            for s in sent
            for claim_id in s.claim_ids
            if claim_id in late and claim_id in closed_at and s.sent_at > closed_at[claim_id][1]
        )
        checks.append(
            Check(
                "no reminder after paid, cancelled or disputed",
                not stale,
                f"{len(judged)} claims closed in time (a close during a fault or in the day after it counts "
                f"from the recovery + {LATE_ACT.days} day); {len(stale)} reminders sent after the close and"
                f" {STOP_PROPAGATION_S:.0f} s for it to reach the notifier{in_flight}"
                f" ({len(due_after)} steps fell due after a close); {len(late & closed_at.keys())} closed by an "
                f"action a fault held up over {LATE_ACT.days} day, not judged ({late_sent} reminders after those)"
                + (f"; e.g. {stale[:3]}" if stale else ""),
            )
        )
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            after_stop = await invariants.sends_after_stops(conn)
        finally:
            await conn.close()
        checks.append(
            Check(
                "no send began after the notifier knew the claim was stopped",
                not after_stop,
                f"{len(after_stop)} sends (docs/adr/0008)"
                + (f"; e.g. {after_stop[0]}; {self.tracker_story(after_stop[0].claim_id)}" if after_stop else ""),
            )
        )

        unfinished = self.expectations_met()
        checks.append(
            Check(
                "every claim reached its end",
                not unfinished,
                f"{len(claims) - len(unfinished)} of {len(claims)} (paid, cancelled, disputed, or second reminder sent;"
                f" bounces with a fallback letter)" + (f"; e.g. {unfinished[:3]}" if unfinished else ""),
            )
        )
        checks.append(
            Check(
                "deliveries settled",
                self.drained_at is not None and later["stuck"] == 0,
                (", ".join(f"{n} {s}" for s, n in sorted(deliveries.items())) or "every delivery sent")
                + ("; the notifier stopped sending with deliveries due" if self.drained_at is None else "")
                + f"; {later['stuck']} due at the drain and still unsent"
                + (
                    f" ({later['n']} pending or sending were due only after the drain: a later sending"
                    f" window or retry, the last {later['last']:%m-%d %H:%M})"
                    if later["n"]
                    else ""
                ),
            )
        )

        # The first batch was checked before the broker was lost (with its DLQs); the last now.
        missing_dlq = self.poison_missing_before_loss + poison_missing(h, self.poisons[-10:])
        checks.append(
            Check(
                "every poison message in a DLQ with its reason",
                not missing_dlq and bool(self.poisons),
                f"{len(self.poisons)} poison records injected, {len(h.dlq)} DLQ records after the last broker loss"
                + (f"; missing {missing_dlq[:4]}" if missing_dlq else ""),
            )
        )

        async def all_ready() -> bool:
            async with httpx.AsyncClient(timeout=5) as client:
                for service in SERVICES:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(self.stack.url(service) + "/readyz")).status_code == 200:
                            continue
                    return False
            return True

        ready = True
        try:
            await _eventually(all_ready, timeout=60, interval=1)
        except AssertionError:
            ready = False
        checks.append(Check("every service ready", ready, "/readyz 200 from " + ", ".join(SERVICES)))

        leaks = scan_logs(self.stack.home / "logs", self.load.pii)
        checks.append(
            Check(
                "no personal data in logs",
                not leaks,
                f"{len(self.load.pii)} names, emails, phone numbers and national ids searched in "
                f"{len(list((self.stack.home / 'logs').glob('*.log')))} logs"
                + (f"; found {json.dumps({k: v[:3] for k, v in leaks.items()}, ensure_ascii=False)}" if leaks else ""),
            )
        )
        return checks


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


async def _eventually(check: Callable[[], Any], *, timeout: float, interval: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(interval)


def run_chaos(
    options: ChaosOptions,
    *,
    keep_logs: Path | None = None,
    keep_failed: Path | None = None,
    kafka: KafkaCluster | None = None,
) -> ChaosReport:
    """Start a stack in a temporary directory, run the chaos, stop the stack; `keep_logs` gets a
    copy of every log, `keep_failed` the whole stack directory (database files too) of a failed run;
    `kafka` a running Apache Kafka cluster to use (broker "kafka") instead of starting one."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="krafa-chaos-") as tmp:
        config = StackConfig.with_free_ports(
            Path(tmp), sim_speed=86400 / float(options.day_seconds or 3), durable=False
        )
        config.sim_start = SIM_START
        config.broker = "kafka" if kafka is not None or options.broker == "kafka" else "embedded"
        config.kafka = kafka
        stack = Stack(config)
        report = ChaosReport(seed=options.seed or 0)
        try:
            options.say(f"stack in {tmp}, one simulated day every {options.day_seconds} s, seed {options.seed}")
            stack.start(on_progress=options.say)
            report = asyncio.run(Chaos(stack, options).run())
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            log.exception("chaos run failed")
        finally:
            stack.stop()
            if keep_logs is not None:
                shutil.copytree(Path(tmp) / "logs", keep_logs, dirs_exist_ok=True)
            if keep_failed is not None and not report.ok:
                shutil.copytree(tmp, keep_failed, dirs_exist_ok=True, ignore_dangling_symlinks=True)
                options.say(f"the failed run's stack directory is kept in {keep_failed}")
        report.seconds = time.monotonic() - started
        if not report.ok:
            for name in SERVICES:
                path = Path(tmp) / "logs" / f"{name}.log"
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-8:]
                    options.say(f"--- last lines of {name}.log ---\n" + "\n".join(tail))
    return report
