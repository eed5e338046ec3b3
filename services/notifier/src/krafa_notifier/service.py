"""Use cases of the notifier: plan deliveries (and call tasks) from ReminderDue, fallbacks from
bounces, refusals and SMS receipts, and the dispatcher that renders and sends them.

Exactly once, never stale: a delivery is keyed by (reminder, kind), so a redelivered ReminderDue
or a second bounce adds nothing; the dispatcher claims rows with SKIP LOCKED, so replicas never
share one; and just before sending it re-reads its view of the claims and drops the message if
every claim was paid, cancelled, disputed, held or written off, or re-planned after the reminder
fell due. A crash between the provider's acceptance and our commit can repeat a send: the
Message-ID is deterministic, and the generic SMS, print and netbank providers deduplicate on the
delivery id sent as their client reference (Twilio has no such key) (docs/adr/0003).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from krafa_events import Channel, DeliveryFailed, EmailBounced, ReminderDue, ReminderSent
from krafa_events import portal_link as links
from krafa_events import return_path as verp
from krafa_events.catalog import DebtorSnapshot, ReminderDelivered
from krafa_kit import tracing
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.wakeup import Wakeup
from pydantic import TypeAdapter
from stdnum.is_ import kennitala

from krafa_notifier import balance, bounce_metrics, calls, content, domain, letter, metrics, mime, repository, sms
from krafa_notifier.channels import (
    EmailChannel,
    LetterChannel,
    NetbankChannel,
    PermanentSendError,
    TransientSendError,
)

log = logging.getLogger(__name__)

# How long a send waits for claims-api to book a payment known for its claim before looking again.
PAYMENT_WAIT_WALL_S = 0.5
# A send starts only if the stops lane had applied everything up to its latest fetch this recently.
STOPS_CURRENT_S = 0.5


class StopsLane(Protocol):
    def current(self, within_s: float) -> bool: ...


async def plan_reminder(uow: UnitOfWork, event: ReminderDue) -> None:
    """One delivery per planned channel (an SMS and an email are two messages), each with its own
    fallbacks; a reminder from an older producer is one delivery over `channels`."""
    if Channel.CALL in event.channels or any(p.channel == Channel.CALL for p in event.deliveries):
        await plan_call(uow, event)
    for kind, channels in domain.delivery_plans(event):
        await repository.insert_delivery(
            uow.conn,
            {
                "id": domain.delivery_id(event.reminder_id, kind),
                "reminder_id": event.reminder_id,
                "kind": kind,
                "creditor_id": event.creditor_id,
                "debtor_id": event.debtor_id,
                "claim_ids": list(event.claim_ids),
                "step": event.step,
                "tone": event.tone,
                "template": event.template,
                "fee_minor": event.fee_minor,
                "channels": channels,
                "due_at": event.due_at,
                "currency": event.currency,
                "interest_minor": event.interest_minor,
                "pay_by": event.pay_by,
                "cc": list(event.cc),
                "bcc": list(event.bcc),
                "notice_kind": event.notice_kind,
                "stage": event.stage,
                "jurisdiction": event.jurisdiction,
                "fee_ids": list(event.fee_ids),
                "interest_rate_pct": event.interest_rate_pct,
            },
        )


async def plan_call(uow: UnitOfWork, event: ReminderDue) -> None:
    """A call task for agents, queued for the debtor's first calling window from the due time. A
    sandbox's call is never queued: no agent rings a sandbox's debtor (docs/adr/0015)."""
    if await repository.any_sandbox(uow.conn, list(event.claim_ids)):
        return
    debtor = await repository.debtor(uow.conn, event.creditor_id, event.debtor_id) or {}
    window = calls.window_at_or_after(
        event.due_at, time_zone=debtor.get("time_zone"), country=debtor.get("country") or "IS"
    )
    await repository.insert_call_task(
        uow.conn,
        {
            "id": domain.call_task_id(event.reminder_id),
            "reminder_id": event.reminder_id,
            "creditor_id": event.creditor_id,
            "debtor_id": event.debtor_id,
            "claim_ids": list(event.claim_ids),
            "step": event.step,
            "opens_at": window.opens_at,
            "closes_at": window.closes_at,
        },
    )


async def plan_fallback(uow: UnitOfWork, event: EmailBounced) -> None:
    """A hard bounce: never use the address again for this creditor, and send the reminder on
    paper to the legal address (or as a netbank document, as the creditor chose) instead (docs/domain.md: digital
    letters)."""
    if event.kind != "hard":
        return
    await repository.suppress(
        uow.conn, event.creditor_id, event.recipient, f"hard bounce {event.status or ''}".strip(), event.bounced_at
    )
    original = await repository.delivery_terms(uow.conn, event.delivery_id)
    await repository.insert_delivery(
        uow.conn,
        {
            "id": domain.delivery_id(event.reminder_id, domain.FALLBACK_PAPER),
            "reminder_id": event.reminder_id,
            "kind": domain.FALLBACK_PAPER,
            "creditor_id": event.creditor_id,
            "debtor_id": event.debtor_id,
            "claim_ids": list(event.claim_ids),
            "step": event.step,
            "tone": original["tone"] if original else ("friendly" if event.step <= 1 else "firm"),
            "template": original["template"] if original else "reminder",
            "fee_minor": original["fee_minor"] if original else 0,
            "channels": [Channel.LETTER.value],
            "fallback_for": event.delivery_id,
            "due_at": event.bounced_at,
            "currency": original["currency"] if original else None,
            "interest_minor": original["interest_minor"] if original else 0,
            "pay_by": original["pay_by"] if original else None,
            **_notice_of(original),
        },
    )


async def record_debtor(
    uow: UnitOfWork, creditor_id: uuid.UUID, debtor_id: uuid.UUID, snapshot: DebtorSnapshot, at: datetime
) -> None:
    """The debtor's contact points as the creditor last gave them, the phone in E.164 so an
    inbound call finds them."""
    phone = None
    if snapshot.phone:
        with contextlib.suppress(ValueError):
            phone = calls.normalise_phone(snapshot.phone, snapshot.country)
    values = json.loads(snapshot.model_dump_json())
    await repository.upsert_debtor(uow.conn, creditor_id, debtor_id, values, phone, at)
    if snapshot.email and snapshot.email_verified_at is not None:
        # claims-api revives a bounced address only on the debtor's verification (the portal's code).
        await repository.lift_suppression(uow.conn, creditor_id, snapshot.email, snapshot.email_verified_at)


async def record_receipt(db: Database, clock: Clock, provider: str, receipt: sms.Receipt) -> bool:
    """A provider's delivery receipt: Delivered, or DeliveryFailed and the next channel (SMS →
    email → letter). A repeated or late receipt changes nothing; one that arrives before we have
    recorded the send is kept and applied right after. False only for an unknown pending one."""
    if receipt.outcome == "pending":
        async with db.connection() as conn:
            return await repository.sent_through(conn, provider, receipt.provider_ref)
    now = clock.now()
    async with db.uow() as uow:
        row = await repository.lock_sent(uow.conn, provider, receipt.provider_ref)
        if row is None:
            # The receipt overtook our record of the send: keep it for `apply_early_receipt`.
            await repository.keep_early_receipt(
                uow.conn, provider, receipt.provider_ref, receipt.outcome, receipt.reason
            )
            await uow.commit()
            return True
        if row["status"] != "sent":
            return True  # already delivered or failed: the provider repeated itself
        channel = Channel(row["channel"])
        if receipt.outcome == "delivered":
            await repository.set_delivered(uow.conn, row["id"], now)
            uow.outbox.add(_delivered(row, channel, now), time=now)
        else:
            await _record_failure(uow, row, channel, receipt.reason or "not delivered", now)
        await uow.commit()
    return True


async def apply_early_receipt(db: Database, clock: Clock, provider: str, provider_ref: str) -> None:
    async with db.connection() as conn:
        early = await repository.take_early_receipt(conn, provider, provider_ref)
    if early is not None:
        await record_receipt(db, clock, provider, sms.Receipt(provider_ref, early["outcome"], early["reason"]))


def _delivered(row: asyncpg.Record, channel: Channel, now: Any) -> ReminderDelivered:
    return ReminderDelivered(
        creditor_id=row["creditor_id"],
        debtor_id=row["debtor_id"],
        delivery_id=row["id"],
        reminder_id=row["reminder_id"],
        claim_ids=tuple(row["claim_ids"]),
        channel=channel,
        delivered_at=now,
    )


async def _record_failure(
    uow: UnitOfWork, row: asyncpg.Record, channel: Channel | None, reason: str, now: Any, *, fallback: bool = True
) -> None:
    """Mark the delivery failed, say so (DeliveryFailed) and plan what replaces it, in one
    transaction with the caller's."""
    plan = domain.fallback_after(channel) if channel is not None and fallback else None
    await repository.set_failed(uow.conn, row["id"], channel.value if channel else None, reason[:500])
    uow.outbox.add(
        DeliveryFailed(
            creditor_id=row["creditor_id"],
            debtor_id=row["debtor_id"],
            delivery_id=row["id"],
            reminder_id=row["reminder_id"],
            claim_ids=tuple(row["claim_ids"]),
            channel=channel or Channel(row["channels"][0]),
            reason=reason[:500],
            fallback_channel=Channel(plan[1][0]) if plan else None,
            failed_at=now,
        ),
        time=now,
    )
    if plan is None:
        return
    kind, channels = plan
    await repository.insert_delivery(
        uow.conn,
        {
            "id": domain.delivery_id(row["reminder_id"], kind),
            "reminder_id": row["reminder_id"],
            "kind": kind,
            "creditor_id": row["creditor_id"],
            "debtor_id": row["debtor_id"],
            "claim_ids": list(row["claim_ids"]),
            "step": row["step"],
            "tone": row["tone"],
            "template": row["template"],
            "fee_minor": row["fee_minor"],
            "channels": channels,
            "fallback_for": row["id"],
            "due_at": row["due_at"],
            "interest_minor": row["interest_minor"],
            "pay_by": row["pay_by"],
            "cc": list(row["cc"]),
            "bcc": list(row["bcc"]),
            **_notice_of(row),
        },
    )


def _notice_of(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The legal notice a fallback carries on: the same kind, and the same charges to wait for."""
    if row is None:
        return {}
    keys = ("notice_kind", "stage", "jurisdiction", "fee_ids", "interest_rate_pct")
    return {key: (list(row[key]) if key == "fee_ids" else row[key]) for key in keys}


# The provider a sandbox creditor's sends are recorded under: none is called (docs/adr/0015).
SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class _Sent:
    """A send the provider accepted, waiting for the group commit that records it."""

    row: asyncpg.Record
    channel: Channel
    result: SendResult
    claim_ids: list[uuid.UUID]
    at: datetime
    recorded: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class SendResult:
    recipient: str
    message_id: str | None = None
    return_path: str | None = None
    provider: str | None = None
    provider_ref: str | None = None
    cost_minor: int | None = None
    cost_currency: str | None = None
    segments: int | None = None
    delivered: bool = False
    dispatched_at: datetime | None = None
    content: str | None = None  # what the message said (JSON of its ReminderContent), kept with the send
    # Per claim the ledger version and balance it stated, and the total (balance.stated), recorded
    # with the send in its group commit rather than by a round trip of its own.
    stated: dict[str, Any] | None = None


CONTENT = TypeAdapter(content.ReminderContent)
# A claim line's ledger entries are typed `Any` in the content (content.py does not know the
# ledger): read back from the stored JSON they are dicts until made Entries again.
ENTRY = TypeAdapter(balance.Entry)


def stored_content(stored: Any) -> content.ReminderContent:
    """What a sent message said, from the JSON kept with its send, with its ledger entries typed."""
    reminder = CONTENT.validate_python(stored)
    claims = tuple(
        replace(line, entries=tuple(ENTRY.validate_python(e) if isinstance(e, dict) else e for e in line.entries))
        for line in reminder.claims
    )
    return replace(reminder, claims=claims)


def sent_notice_pdf(stored: Any, renderer: content.ReminderRenderer) -> bytes:
    """A sent notice as a PDF: rendered again from what the message said when it was sent (its
    content is kept with the send), laid out as the letter; an email's is addressed by name alone.
    CPU-bound: run it off the event loop."""
    reminder = stored_content(stored)
    if reminder.address is None:
        home = {"nb": "NO", "et": "EE", "en": "GB"}.get(reminder.language, "IS")
        reminder = replace(reminder, address=content.PostalAddress(reminder.debtor_name, (), "", "", home))
    return letter.render_letter_pdf(reminder, renderer, None)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        email: EmailChannel,
        letters: LetterChannel,
        renderer: content.ReminderRenderer,
        sender: str,
        return_domain: str,
        return_secret: bytes,
        sms_provider: sms.SmsProvider | None = None,
        netbank: NetbankChannel | None = None,
        receipts_url: str | None = None,
        dkim_signer: Callable[[bytes], bytes] | None = None,
        sms_quiet_hours: bool = True,
        batch_size: int = 200,
        concurrency: int = 16,
        idle_wall_s: float = 0.05,
        max_idle_wall_s: float = 5.0,
        portal_url: str | None = None,
        portal_link_secret: bytes | None = None,
        stops: StopsLane | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.portal_url, self.portal_link_secret = portal_url, portal_link_secret
        self.email, self.letters, self.renderer = email, letters, renderer
        self.sms, self.netbank = sms_provider, netbank
        self.receipts_url, self.dkim_signer = receipts_url, dkim_signer
        self.sms_quiet_hours = sms_quiet_hours
        self.sender, self.return_domain, self.return_secret = sender, return_domain, return_secret
        self.batch_size, self.idle_wall_s, self.max_idle_wall_s = batch_size, idle_wall_s, max_idle_wall_s
        self.wakeup = Wakeup()  # set when handlers have planned deliveries (Runtime.wake_on_events)
        self.stops = stops
        self.worker_id = uuid.uuid4()
        self._slots = asyncio.Semaphore(concurrency)
        self._lock_conn: asyncpg.Connection | None = None
        self._unrecorded: list[_Sent] = []
        self._recorder: asyncio.Task[None] | None = None

    async def _hold_lock(self) -> None:
        """This dispatcher's liveness lock, taken again on a new connection when PostgreSQL
        restarted under the old one (another replica would otherwise take our sends in flight
        for orphans)."""
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            return
        if self._lock_conn is not None:
            log.warning("the dispatcher's lock connection was lost; taking the lock again")
        self._lock_conn = await asyncpg.connect(self.db.dsn)
        await repository.hold_worker_lock(self._lock_conn, self.worker_id)

    async def run(self) -> None:
        await self._hold_lock()
        try:
            last_orphan_check = 0.0
            while True:
                if time.monotonic() - last_orphan_check > 5:
                    try:
                        await self._hold_lock()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        log.warning("dispatcher lock not taken, retrying", extra={"error": repr(exc)})
                        await asyncio.sleep(1)
                        continue
                    async with self.db.connection() as conn:
                        released = await repository.release_orphans(conn, self.worker_id)
                    if released:
                        log.warning("released deliveries of a dead dispatcher", extra={"count": released})
                    last_orphan_check = time.monotonic()
                try:
                    claimed = await self.dispatch_once()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("dispatch failed, retrying", extra={"error": repr(exc)})
                    claimed = 0
                    await asyncio.sleep(1)
                if claimed < self.batch_size:
                    await self.wakeup.wait(await self._idle_wait())
        finally:
            if self._lock_conn is not None:
                with contextlib.suppress(Exception):
                    await self._lock_conn.close()

    async def _idle_wait(self) -> float:
        """Until the next pending delivery may be tried, at most `max_idle_wall_s`; `idle_wall_s`
        when one is due but was not claimed (another dispatcher holds it). New deliveries set
        `wakeup`: the consumer's handlers when they have planned some, and every writer of one
        through the NOTIFY of repository.DELIVERIES (an SMS receipt's fallback, a soft bounce's
        re-send, another replica). `max_idle_wall_s` also bounds how late an idle dispatcher
        releases the sends of a dispatcher that died (its orphan check runs every 5 s at most)."""
        try:
            async with self.db.connection() as conn:
                due_in = await repository.next_attempt_in_s(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return self.idle_wall_s
        if due_in is None:
            return self.max_idle_wall_s
        return min(due_in if due_in > 0 else self.idle_wall_s, self.max_idle_wall_s)

    async def dispatch_once(self) -> int:
        async with self.db.connection() as conn:
            rows = await repository.claim_batch(conn, self.worker_id, self.batch_size)
        if rows:
            await asyncio.gather(*(self._guarded(row) for row in rows))
        return len(rows)

    async def _guarded(self, row: asyncpg.Record) -> None:
        async with self._slots:
            try:
                await self.deliver(row)
            except Exception:
                log.exception("delivery crashed", extra={"delivery_id": str(row["id"])})
                await self._hand_back(row)

    async def _hand_back(self, row: asyncpg.Record) -> None:
        """A crashed delivery goes back to be tried again — however long the database that
        crashed it stays away. Given up after one failed write, its row stayed `sending` under this
        live dispatcher's id, which no orphan release takes back: it was never sent."""
        delay = 0.2
        while True:
            try:
                await self._retry_later(row, "internal error")
                return
            except Exception as exc:
                log.warning("crashed delivery not handed back yet", extra={"error": repr(exc)})
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def deliver(self, row: asyncpg.Record, *, again: bool = False) -> None:
        # Every read before the send in two round trips on one pooled connection: each checkout
        # costs a round trip (the session reset) when it goes back, and each statement its own.
        async with self.db.connection() as conn:
            claims, latest, snapshot = await repository.delivery_context(
                conn, list(row["claim_ids"]), row["creditor_id"], row["debtor_id"]
            )
            debtor: dict[str, Any] = snapshot or (claims[0]["debtor"] if claims else {})
            # Never stale: only claims still open and not re-planned since this reminder fell due.
            live = [c for c in claims if c["status"] == "open" and not domain.is_stale(row, c)]
            # Known, and its ledger holds the charges this step booked: the balance stated is the
            # ledger's including them (krafa_notifier.balance).
            known = len(claims) == len(row["claim_ids"]) and balance.ready(row["fee_ids"], claims)
            channel: Channel | None = None
            recipient: str | None = None
            if known and live:
                reminder = self._content(row, live, domain.with_sender(claims[0]["creditor"], latest), debtor)
                options = await self._send_options(row, debtor, reminder, conn)
                channel, recipient = self._choose_channel(row, debtor, options.suppressed)
                if channel is not None:
                    # Netbank documents use the letter's template.
                    override = _override(options.templates.get(_template_channel(channel)))
        if not known:
            # The claim's ClaimCreated, or the ledger's booking of this step's charges, has not
            # reached us yet (other topics): try again shortly.
            await self._retry_later(row, "claim or its charges not yet known", count_attempt=False)
            return
        if not live:
            reason = next((c["status"] for c in claims if c["status"] != "open"), "replanned")
            await self._finish(row, "dropped", last_error=f"claims {reason}")
            metrics.DELIVERIES_DROPPED.labels(reason).inc()
            return
        creditor = domain.with_sender(claims[0]["creditor"], latest)
        if channel is None:
            await self._fail(row, None, "no usable channel for this debtor")
            return
        if any(c["payment_pending"] for c in live):
            # A payment for the claim is known but not yet booked by claims-api: the message
            # would state a balance that may no longer be owed, or none at all.
            await self._defer(row, PAYMENT_WAIT_WALL_S, "payment being booked")
            return
        sandboxed = bool(creditor.get("sandbox"))
        if channel == Channel.SMS and self.sms_quiet_hours and not sandboxed:
            now = self.clock.now()
            window = calls.window_at_or_after(
                now, time_zone=debtor.get("time_zone"), country=debtor.get("country") or "IS"
            )
            if window.opens_at > now:
                # No texts at night, at weekends or on public holidays (good collection practice):
                # the SMS waits for the debtor's next daytime window, on this service's clock.
                await self._defer(row, self.clock.wall_seconds(window.opens_at - now), "quiet hours")
                return
        await self._stops_current()
        dispatched_at = self.clock.now()
        async with self.db.connection() as conn:
            begun = await repository.begin_send(
                conn,
                row["id"],
                [c["claim_id"] for c in live],
                row["due_at"],
                row["creditor_id"],
                [recipient] if recipient is not None else [],
            )
        if not begun:
            # A stop (or a bounce) committed since the read above: decide again on the fresh state.
            metrics.SENDS_FENCED.inc()
            if not again:
                await self.deliver(row, again=True)
            else:
                await self._retry_later(row, "stopped while being prepared", count_attempt=False)
            return
        started = time.perf_counter()
        try:
            if sandboxed:
                # A sandbox's message reaches no provider (docs/adr/0015): rendered and kept like
                # any send, marked by its provider, and reported sent at the step's own instant
                # on the sandbox's clock, so the next step's gap counts in sandbox time.
                result = SendResult(recipient=self._sandbox_recipient(channel, recipient, debtor), provider=SANDBOX)
            elif channel == Channel.EMAIL:
                assert recipient is not None
                result = await self._send_email(row, reminder, override, creditor, recipient)
            elif channel == Channel.SMS:
                assert recipient is not None
                result = await self._send_sms(row, reminder, override, recipient, creditor.get("sms_sender_id") or None)
            elif channel == Channel.NETBANK:
                result = await self._send_netbank(row, reminder, override, debtor)
            else:
                result = await self._send_letter(row, reminder, override, debtor)
        except TransientSendError as exc:
            metrics.DELIVERY_FAILURES.labels(channel.value, "transient").inc()
            await self._retry_later(row, str(exc))
            return
        except PermanentSendError as exc:
            metrics.DELIVERY_FAILURES.labels(channel.value, "permanent").inc()
            await self._fail(row, channel, str(exc))
            return
        except content.TemplateInvalid as exc:
            # A creditor template that no longer renders (e.g. edited to name a missing value):
            # nothing a retry fixes.
            await self._fail(row, channel, f"template: {exc}", fallback=False)
            return
        metrics.SEND_SECONDS.labels(channel.value).observe(time.perf_counter() - started)
        result = replace(
            result,
            content=CONTENT.dump_json(reminder).decode(),
            dispatched_at=dispatched_at,
            stated=balance.stated(live, [balance.money_of(c) for c in live]),
        )
        await self._sent(row, channel, result, [c["claim_id"] for c in live], at=row["due_at"] if sandboxed else None)

    @staticmethod
    def _sandbox_recipient(channel: Channel, recipient: str | None, debtor: dict[str, Any]) -> str:
        if recipient is not None:
            return recipient
        if channel == Channel.LETTER and debtor.get("address"):
            return str(debtor["address"]["name"])
        return str(debtor.get("customer_no") or debtor.get("name") or "")

    async def _stops_current(self) -> None:
        """Wait while the stops lane is behind its topics (starting, rejoining, the broker away):
        a stop it has not read yet must not be overtaken (docs/adr/0008)."""
        if self.stops is None:
            return
        rounds = 0
        while not self.stops.current(STOPS_CURRENT_S):
            if rounds == 0:
                metrics.SENDS_WAITING_FOR_STOPS.inc()
            rounds += 1
            if rounds % 600 == 0:
                log.warning("sends wait for the stops lane to catch up", extra={"waited_s": rounds // 20})
            # Not a tight spin: many sends may wait at once, and on a busy machine their wake-ups
            # would take the CPU the stops lane needs to catch up.
            await asyncio.sleep(0.05)

    def _addresses(self, row: asyncpg.Record, debtor: dict[str, Any]) -> tuple[str | None, str | None]:
        """The debtor's email and phone (normalised) that a send over `row`'s channels may use."""
        email = (debtor.get("email") or None) if Channel.EMAIL.value in row["channels"] else None
        phone = None
        if Channel.SMS.value in row["channels"] and self.sms is not None and debtor.get("phone"):
            with contextlib.suppress(ValueError):
                phone = calls.normalise_phone(debtor["phone"], debtor.get("country") or "IS")
        return email, phone

    async def _send_options(
        self, row: asyncpg.Record, debtor: dict[str, Any], reminder: content.ReminderContent, conn: asyncpg.Connection
    ) -> repository.SendOptions:
        """Which of the debtor's addresses are suppressed, and the creditor's own templates for the
        channels the send may take: for this step of the key, else for the key; in the language
        the reminder is written in."""
        email, phone = self._addresses(row, debtor)
        channels = sorted({_template_channel(Channel(name)).value for name in row["channels"]} | {Channel.LETTER.value})
        return await repository.send_options(
            conn,
            row["creditor_id"],
            [a for a in (email, phone) if a is not None],
            [f"{row['template']}.{row['step']}", row["template"]],
            channels,
            self.renderer.language_of(reminder),
        )

    def _choose_channel(
        self, row: asyncpg.Record, debtor: dict[str, Any], suppressed: frozenset[str]
    ) -> tuple[Channel | None, str | None]:
        email, phone = self._addresses(row, debtor)
        for name in row["channels"]:
            channel = Channel(name)
            if channel == Channel.EMAIL and email is not None:
                if email not in suppressed:
                    return channel, email
            elif channel == Channel.SMS and phone is not None:
                if phone not in suppressed:
                    return channel, phone
            elif channel == Channel.NETBANK and self.netbank is not None:
                return channel, None
            elif channel == Channel.LETTER:
                paper = self._paper(row, debtor)
                if paper is not None:
                    return paper, None
        # Nothing usable (no email, or a suppressed one): the creditor's chosen paper channel.
        return self._paper(row, debtor), None

    def _paper(self, row: asyncpg.Record, debtor: dict[str, Any]) -> Channel | None:
        """Letter or netbank document, as the creditor chose or the debtor opted in (docs/domain.md:
        digital letters)."""
        wants_netbank = debtor.get("fallback_channel") == "netbank" or bool(debtor.get("netbank_opt_in"))
        if wants_netbank and self.netbank is not None and row["kind"] != domain.FALLBACK_LETTER:
            return Channel.NETBANK
        return Channel.LETTER if debtor.get("address") else None

    async def _suppressed(self, row: asyncpg.Record, address: str) -> bool:
        async with self.db.connection() as conn:
            return await repository.suppressed(conn, row["creditor_id"], address)

    def _content(
        self, row: asyncpg.Record, claims: list[asyncpg.Record], creditor: dict[str, Any], debtor: dict[str, Any]
    ) -> content.ReminderContent:
        return domain.reminder_content(
            claims,
            creditor,
            debtor,
            step=row["step"],
            tone=row["tone"],
            # The ledger already holds this step's fee and interest (deliver waits for them).
            fee_minor=0,
            interest_minor=0,
            pay_by=row["pay_by"],
            sent_on=self.clock.now().date(),
            portal_link=self._portal_link(row["id"]),
            notice=row,
        )

    def _portal_link(self, delivery: uuid.UUID) -> str | None:
        """The debtor's personal link to the portal, the same whenever this delivery is rendered."""
        if not self.portal_url or not self.portal_link_secret:
            return None
        return links.url(self.portal_url, delivery, self.portal_link_secret)

    async def _send_email(
        self,
        row: asyncpg.Record,
        reminder: content.ReminderContent,
        override: content.TemplateOverride | None,
        creditor: dict[str, Any],
        recipient: str,
    ) -> SendResult:
        rendered = self.renderer.email(reminder, override)
        message_id = f"<{row['id']}@{self.return_domain}>"
        return_path = verp.encode(row["id"], self.return_domain, self.return_secret)
        sender = mime.sender_of(
            creditor.get("sender_email") or self.sender, creditor.get("sender_name") or creditor["name"]
        )
        reply_to = creditor.get("reply_to") or None
        cc = [a for a in row["cc"] if a.lower() != recipient.lower() and not await self._suppressed(row, a)]
        # Blind copies go only into the SMTP envelope: the debtor never sees them in a header.
        bcc = [a for a in row["bcc"] if a.lower() != recipient.lower() and not await self._suppressed(row, a)]
        message = mime.build_email(
            rendered,
            sender=sender,
            recipient=recipient,
            message_id=message_id,
            cc=cc,
            date=self.clock.now(),
            reply_to=reply_to,
        )
        if self.dkim_signer is not None:
            message = self.dkim_signer(message)
        await self.email.send(
            envelope_from=return_path, recipients=mime.envelope_recipients(recipient, cc, bcc), message=message
        )
        return SendResult(recipient=recipient, message_id=message_id, return_path=return_path)

    async def _send_sms(
        self,
        row: asyncpg.Record,
        reminder: content.ReminderContent,
        override: content.TemplateOverride | None,
        phone: str,
        sender: str | None = None,
    ) -> SendResult:
        assert self.sms is not None
        text = self.renderer.sms(reminder, override)
        callback = f"{self.receipts_url.rstrip('/')}/{self.sms.name}" if self.receipts_url else None
        accepted = await self.sms.send(
            to=phone, text=text, client_ref=str(row["id"]), callback_url=callback, sender=sender
        )
        return SendResult(
            recipient=phone,
            provider=self.sms.name,
            provider_ref=accepted.provider_ref,
            cost_minor=accepted.cost_minor,
            cost_currency=accepted.cost_currency,
            segments=accepted.segments,
        )

    async def _pdf(self, reminder: content.ReminderContent, override: content.TemplateOverride | None) -> bytes:
        return await asyncio.to_thread(letter.render_letter_pdf, reminder, self.renderer, override)

    async def _send_letter(
        self,
        row: asyncpg.Record,
        reminder: content.ReminderContent,
        override: content.TemplateOverride | None,
        debtor: dict[str, Any],
    ) -> SendResult:
        pdf = await self._pdf(reminder, override)
        accepted = await self.letters.send(
            client_ref=str(row["id"]),
            pdf=pdf,
            recipient_name=debtor["address"]["name"],
            country=debtor["address"]["country"],
        )
        return SendResult(
            recipient=debtor["address"]["name"],
            provider="print",
            provider_ref=accepted.provider_ref or None,
            cost_minor=accepted.cost_minor,
            cost_currency=accepted.cost_currency,
        )

    async def _send_netbank(
        self,
        row: asyncpg.Record,
        reminder: content.ReminderContent,
        override: content.TemplateOverride | None,
        debtor: dict[str, Any],
    ) -> SendResult:
        assert self.netbank is not None
        if reminder.address is None:
            # The document is the letter, so it needs the letter's address block; a debtor
            # without one gets it addressed by name alone.
            reminder = replace(reminder, address=content.PostalAddress(debtor["name"], (), "", "", debtor["country"]))
        pdf = await self._pdf(reminder, override)
        customer_no = str(debtor.get("customer_no", ""))
        national_id = kennitala.compact(customer_no) if kennitala.is_valid(customer_no) else None
        accepted = await self.netbank.send(
            client_ref=str(row["id"]),
            pdf=pdf,
            title=self.renderer.subject(reminder),
            national_id=national_id,
            customer_no=customer_no,
        )
        return SendResult(
            recipient=national_id or customer_no,
            provider="netbank",
            provider_ref=accepted.provider_ref or None,
            cost_minor=accepted.cost_minor,
            cost_currency=accepted.cost_currency,
            delivered=accepted.delivered,
        )

    async def _sent(
        self,
        row: asyncpg.Record,
        channel: Channel,
        result: SendResult,
        claim_ids: list[uuid.UUID],
        *,
        at: datetime | None = None,
    ) -> None:
        """Record a send (and its ReminderSent) before this delivery gives up its slot. The sends
        that finish while one commit is under way share the next (a group commit), so a burst
        costs one commit per group instead of one per message; as each waits in its slot for its
        record, at most `concurrency` sends are ever accepted but unrecorded (ADR 0003's bound on
        what a killed notifier can send twice)."""
        now = at or self.clock.now()
        sent = _Sent(row, channel, result, claim_ids, now, asyncio.get_running_loop().create_future())
        self._unrecorded.append(sent)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_sends())
        await sent.recorded
        metrics.REMINDERS_SENT.labels(channel.value, str(row["step"]), row["kind"]).inc()
        if channel == Channel.SMS and result.provider and result.provider_ref:
            await apply_early_receipt(self.db, self.clock, result.provider, result.provider_ref)
        bounce_metrics.observe_fallback_letter(row, channel, now, self.clock)

    async def _record_sends(self) -> None:
        while self._unrecorded:
            group, self._unrecorded = self._unrecorded, []
            try:
                await self._commit_sends(group)
            except Exception:
                # One bad row must not fail the others: each alone, in its own transaction.
                for sent in group:
                    try:
                        await self._commit_sends([sent])
                    except Exception as exc:
                        _settle(sent.recorded, exc)
                    else:
                        _settle(sent.recorded, None)
            else:
                for sent in group:
                    _settle(sent.recorded, None)

    async def _commit_sends(self, group: list[_Sent]) -> None:
        async with self.db.uow() as uow:
            # A send already recorded (its row was released and sent again by another dispatcher,
            # ADR 0003's repeat under the same Message-ID) is announced once, by its first record.
            repeated = await repository.already_sent(uow.conn, [s.row["id"] for s in group])
            if repeated:
                log.warning("a delivery sent again was recorded once", extra={"count": len(repeated)})
                group = [s for s in group if s.row["id"] not in repeated]
            await repository.record_sends(
                uow.conn,
                [
                    (
                        s.row["id"],
                        s.channel.value,
                        s.result.recipient,
                        s.result.message_id,
                        s.result.return_path,
                        s.at,
                        s.result.provider,
                        s.result.provider_ref,
                        "delivered" if s.result.delivered else "sent",
                        s.result.cost_minor,
                        s.result.cost_currency,
                        s.result.segments,
                        s.result.content,
                        s.result.stated,
                    )
                    for s in group
                ],
            )
            for s in group:
                # Sent later than the ReminderDue that asked for it: continue that event's trace.
                with tracing.continued(s.row["traceparent"]):
                    self._announce_sent(uow, s)
            await uow.commit()

    @staticmethod
    def _announce_sent(uow: UnitOfWork, s: _Sent) -> None:
        row, result = s.row, s.result
        uow.outbox.add(
            ReminderSent(
                creditor_id=row["creditor_id"],
                debtor_id=row["debtor_id"],
                delivery_id=row["id"],
                reminder_id=row["reminder_id"],
                claim_ids=tuple(s.claim_ids),
                step=row["step"],
                channel=s.channel,
                recipient=result.recipient,
                message_id=result.message_id,
                return_path=result.return_path,
                fallback_for=row["fallback_for"],
                sent_at=s.at,
                dispatched_at=result.dispatched_at,
                cost_minor=result.cost_minor,
                cost_currency=result.cost_currency,
                segments=result.segments,
            ),
            time=s.at,
        )
        if result.delivered:
            uow.outbox.add(_delivered(row, s.channel, s.at), time=s.at)

    async def _fail(self, row: asyncpg.Record, channel: Channel | None, reason: str, *, fallback: bool = True) -> None:
        now = self.clock.now()
        async with self.db.uow() as uow:
            await _record_failure(uow, row, channel, reason, now, fallback=fallback)
            await uow.commit()

    async def _retry_later(self, row: asyncpg.Record, reason: str, *, count_attempt: bool = True) -> None:
        attempts = row["attempts"] if count_attempt else 0
        if attempts >= domain.MAX_ATTEMPTS:
            await self._fail(row, None, f"gave up after {attempts} attempts: {reason}")
            return
        delay = min(0.5 * 2 ** max(attempts - 1, 0), 60.0)
        async with self.db.connection() as conn:
            await repository.retry_later(conn, row["id"], reason[:500], delay, count_attempt=count_attempt)

    async def _defer(self, row: asyncpg.Record, wall_seconds: float, reason: str) -> None:
        async with self.db.connection() as conn:
            await repository.retry_later(conn, row["id"], reason, max(wall_seconds, 0.0), count_attempt=False)

    async def _finish(self, row: asyncpg.Record, status: str, *, last_error: str) -> None:
        async with self.db.connection() as conn:
            await repository.finish(conn, row["id"], status, last_error)


def _template_channel(channel: Channel) -> Channel:
    """The channel whose templates a send over `channel` uses: netbank documents are letters."""
    return Channel.LETTER if channel == Channel.NETBANK else channel


def _override(found: asyncpg.Record | None) -> content.TemplateOverride | None:
    return content.TemplateOverride(body=found["body"], subject=found["subject"]) if found else None


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():  # its delivery was cancelled meanwhile (shutdown)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
