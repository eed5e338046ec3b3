"""An integrator's-eye view of the pipeline: subscribes to every topic, like any integrator
would, and keeps counts, a per-claim history and a feed for the terminal view and the demo
verdict. It reads the topics only; it never touches a service's tables."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime

from aiokafka import AIOKafkaConsumer
from krafa_events import (
    ClaimCreated,
    ClaimPaid,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    PaymentReceived,
    PaymentUnmatched,
    ReminderDue,
    ReminderSent,
    Topic,
    UndecodableMessage,
    decode,
)
from krafa_events.catalog import (
    ClaimDeferred,
    ClaimDisputed,
    ClaimEscalated,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    CreditorNoticeDue,
)


@dataclass
class ClaimTrace:
    invoice_no: str = ""
    created: bool = False
    due_passed: bool = False
    sent: list[ReminderSent] = field(default_factory=list)
    bounces: int = 0
    paid_at: datetime | None = None
    payments_minor: int = 0
    card_payments: int = 0  # paid through the portal's card checkout (the provider's session id)
    disputed_at: datetime | None = None
    plan_agreed_at: datetime | None = None
    handover_at: datetime | None = None  # the creditor's notice: handed over then unless it reacts
    held_at: datetime | None = None
    escalated_at: datetime | None = None
    deferred_to: date | None = None  # the latest new due date (a promise to pay, a deferral)
    history: list[str] = field(default_factory=list)  # every event about the claim, as it came


class Observer:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.counts: Counter[str] = Counter()
        self.claims: dict[uuid.UUID, ClaimTrace] = {}
        self.feed: deque[str] = deque(maxlen=14)
        self.undecodable = 0
        self.sent_by_channel: Counter[str] = Counter()
        self.fallback_letters = 0
        self.payments: list[PaymentReceived] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *[t.value for t in Topic],
            bootstrap_servers=self.bootstrap,
            group_id=f"krafa.observer.{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            session_timeout_ms=3000,
            heartbeat_interval_ms=500,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        seen: set[str] = set()
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            if self._consumer.assignment():
                self.assigned.set()
            for records in batches.values():
                for record in records:
                    try:
                        decoded = decode(list(record.headers or ()), record.value, record.key)
                    except UndecodableMessage:
                        self.undecodable += 1
                        continue
                    if decoded.id in seen:  # a replayed event is one fact, counted once
                        continue
                    seen.add(decoded.id)
                    self._apply(decoded.event)

    def trace(self, claim_id: uuid.UUID) -> ClaimTrace:
        return self.claims.setdefault(claim_id, ClaimTrace())

    def _apply(self, event: object) -> None:
        name = type(event).__name__
        self.counts[name] += 1
        self._record(name, event)
        if isinstance(event, ClaimCreated):
            trace = self.trace(event.claim_id)
            trace.created, trace.invoice_no = True, event.invoice_no
            self.feed.append(
                f"ClaimCreated     {event.invoice_no}  {event.amount_minor + event.fees_minor} {event.currency}"
                f"  due {event.due_date}"
            )
        elif isinstance(event, DueDatePassed):
            self.trace(event.claim_id).due_passed = True
            self.feed.append(f"DueDatePassed    {self.trace(event.claim_id).invoice_no}  due {event.due_date}")
        elif isinstance(event, ReminderDue):
            self.feed.append(f"ReminderDue      {self._invoices(event.claim_ids)}  step {event.step} ({event.tone})")
        elif isinstance(event, ReminderSent):
            for claim_id in event.claim_ids:
                self.trace(claim_id).sent.append(event)
            self.sent_by_channel[event.channel.value] += 1
            if event.fallback_for is not None:
                self.fallback_letters += 1
            extra = " (fallback after bounce)" if event.fallback_for else ""
            self.feed.append(
                f"ReminderSent     {self._invoices(event.claim_ids)}  step {event.step} by {event.channel.value}{extra}"
            )
        elif isinstance(event, EmailBounced):
            for claim_id in event.claim_ids:
                self.trace(claim_id).bounces += 1
            self.feed.append(f"EmailBounced     {self._invoices(event.claim_ids)}  {event.kind} {event.status or ''}")
        elif isinstance(event, DeliveryFailed):
            self.feed.append(f"DeliveryFailed   {self._invoices(event.claim_ids)}  {event.reason[:40]}")
        elif isinstance(event, PaymentReceived):
            self.trace(event.claim_id).payments_minor += event.amount_minor
            self.payments.append(event)
            where = " (paid in the netbank)" if event.source == "iobws" else ""
            invoice = self.trace(event.claim_id).invoice_no
            self.feed.append(f"PaymentReceived  {invoice}  {event.amount_minor} {event.currency}{where}")
            if (event.bank_ref or "").startswith("cs_"):
                self.trace(event.claim_id).card_payments += 1
        elif isinstance(event, PaymentUnmatched):
            self.feed.append(f"PaymentUnmatched {event.amount_minor} {event.currency}: {event.reason[:40]}")
        elif isinstance(event, ClaimDisputed):
            self.trace(event.claim_id).disputed_at = event.disputed_at
            self.feed.append(f"ClaimDisputed    {self.trace(event.claim_id).invoice_no}  collection paused")
        elif isinstance(event, ClaimInstalmentPlanAgreed):
            self.trace(event.claim_id).plan_agreed_at = event.agreed_at
            self.feed.append(
                f"PlanAgreed       {self.trace(event.claim_id).invoice_no}  {len(event.instalments)} instalments"
            )
        elif isinstance(event, CreditorNoticeDue):
            for claim_id in event.claim_ids:
                self.trace(claim_id).handover_at = event.handover_at
            self.feed.append(
                f"CreditorNotice   {self._invoices(event.claim_ids)}  handover {event.handover_at:%d %b %H:%M}"
            )
        elif isinstance(event, ClaimHeld):
            self.trace(event.claim_id).held_at = event.held_at
            self.feed.append(f"ClaimHeld        {self.trace(event.claim_id).invoice_no}  by the creditor")
        elif isinstance(event, ClaimEscalated):
            self.trace(event.claim_id).escalated_at = event.escalated_at
            self.feed.append(f"ClaimEscalated   {self.trace(event.claim_id).invoice_no}  to {event.stage}")
        elif isinstance(event, ClaimDeferred):
            self.trace(event.claim_id).deferred_to = event.due_date
            self.feed.append(f"ClaimDeferred    {self.trace(event.claim_id).invoice_no}  due {event.due_date}")
        elif isinstance(event, ClaimPaid):
            self.trace(event.claim_id).paid_at = event.paid_at
            self.feed.append(f"ClaimPaid        {self.trace(event.claim_id).invoice_no}  reminders stop")

    def _record(self, name: str, event: object) -> None:
        """Keep the event in the history of every claim it concerns (what a failed check prints)."""
        claim_ids: tuple[uuid.UUID, ...] = tuple(getattr(event, "claim_ids", ()))
        if not claim_ids and isinstance(getattr(event, "claim_id", None), uuid.UUID):
            claim_ids = (event.claim_id,)  # type: ignore[attr-defined]
        if not claim_ids:
            return
        payload = event.model_dump(mode="json", exclude={"creditor", "debtor", "lines"})  # type: ignore[attr-defined]
        detail = ", ".join(
            f"{k}={v}" for k, v in payload.items() if k not in ("creditor_id", "debtor_id", "claim_ids", "claim_id")
        )
        for claim_id in claim_ids:
            history = self.trace(claim_id).history
            if len(history) < 60:
                history.append(f"{name}: {detail[:300]}")

    def _invoices(self, claim_ids: tuple[uuid.UUID, ...]) -> str:
        return ",".join(self.trace(c).invoice_no or str(c)[:8] for c in claim_ids)

    def reminders_after_payment(self) -> list[tuple[uuid.UUID, ReminderSent]]:
        """Sends begun (or, from an older notifier, recorded) after claims-api settled the claim."""
        late = []
        for claim_id, trace in self.claims.items():
            if trace.paid_at is None:
                continue
            late += [(claim_id, sent) for sent in trace.sent if (sent.dispatched_at or sent.sent_at) > trace.paid_at]
        return late
