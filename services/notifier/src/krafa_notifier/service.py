"""Use cases of the notifier: plan deliveries from ReminderDue and bounces, and the dispatcher
that renders and sends them.

Exactly once, never stale: a delivery is keyed by (reminder, kind), so a redelivered ReminderDue
or a second bounce adds nothing; the dispatcher claims rows with SKIP LOCKED, so replicas never
share one; and just before sending it re-reads its view of the claims and drops the message if
every claim was paid or cancelled meanwhile. A crash between the provider's acceptance and our
commit can repeat a send: the Message-ID is deterministic and the print provider deduplicates on
the delivery id (docs/adr/0003).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import asyncpg
from krafa_events import Channel, DeliveryFailed, EmailBounced, ReminderDue, ReminderSent
from krafa_events import return_path as verp
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_notifier import content, letter, metrics, mime, repository
from krafa_notifier.channels import EmailChannel, LetterChannel, PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

DELIVERY_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
MAX_ATTEMPTS = 8


def delivery_id(reminder_id: uuid.UUID, kind: str) -> uuid.UUID:
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{reminder_id}:{kind}")


async def plan_reminder(uow: UnitOfWork, event: ReminderDue) -> None:
    await repository.insert_delivery(
        uow.conn,
        {
            "id": delivery_id(event.reminder_id, "primary"),
            "reminder_id": event.reminder_id,
            "kind": "primary",
            "creditor_id": event.creditor_id,
            "debtor_id": event.debtor_id,
            "claim_ids": list(event.claim_ids),
            "step": event.step,
            "tone": event.tone,
            "template": event.template,
            "fee_minor": event.fee_minor,
            "channels": [c.value for c in event.channels],
            "due_at": event.due_at,
        },
    )


async def plan_fallback(uow: UnitOfWork, event: EmailBounced) -> None:
    """A hard bounce: never use the address again for this creditor, and send the reminder on
    paper to the legal address instead (seed 000)."""
    if event.kind != "hard":
        return
    await repository.suppress(uow.conn, event.creditor_id, event.recipient, f"hard bounce {event.status or ''}".strip())
    await repository.insert_delivery(
        uow.conn,
        {
            "id": delivery_id(event.reminder_id, "fallback"),
            "reminder_id": event.reminder_id,
            "kind": "fallback",
            "creditor_id": event.creditor_id,
            "debtor_id": event.debtor_id,
            "claim_ids": list(event.claim_ids),
            "step": event.step,
            "tone": "friendly" if event.step <= 1 else "firm",
            "template": "reminder",
            "fee_minor": 0,
            "channels": [Channel.LETTER.value],
            "fallback_for": event.delivery_id,
            "due_at": event.bounced_at,
        },
    )


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
        batch_size: int = 200,
        concurrency: int = 16,
        idle_wall_s: float = 0.05,
    ) -> None:
        self.db, self.clock = db, clock
        self.email, self.letters, self.renderer = email, letters, renderer
        self.sender, self.return_domain, self.return_secret = sender, return_domain, return_secret
        self.batch_size, self.idle_wall_s = batch_size, idle_wall_s
        self.worker_id = uuid.uuid4()
        self._slots = asyncio.Semaphore(concurrency)
        self._lock_conn: asyncpg.Connection | None = None

    async def run(self) -> None:
        self._lock_conn = await asyncpg.connect(self.db.dsn)
        await self._lock_conn.execute("SELECT pg_advisory_lock(hashtext($1::text))", str(self.worker_id))
        try:
            last_orphan_check = 0.0
            while True:
                if time.monotonic() - last_orphan_check > 5:
                    async with self.db.connection() as conn:
                        released = await repository.release_orphans(conn)
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
                    await asyncio.sleep(self.idle_wall_s)
        finally:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()

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
                await self._retry_later(row, "internal error")

    async def deliver(self, row: asyncpg.Record) -> None:
        async with self.db.connection() as conn:
            claims = await repository.claims_for(conn, list(row["claim_ids"]))
        if len(claims) < len(row["claim_ids"]):
            # The claim's ClaimCreated has not reached us yet (another topic): try again shortly.
            await self._retry_later(row, "claim not yet known", count_attempt=False)
            return
        open_claims = [c for c in claims if c["status"] == "open"]
        if not open_claims:
            await self._finish(row, "dropped", last_error=f"claims {claims[0]['status']}")
            metrics.DELIVERIES_DROPPED.labels(claims[0]["status"]).inc()
            return
        debtor = claims[0]["debtor"]
        creditor = claims[0]["creditor"]
        channel, recipient = await self._choose_channel(row, debtor)
        if channel is None:
            await self._fail(row, None, "no usable channel: no email and no postal address", fallback=None)
            return
        started = time.perf_counter()
        reminder = self._content(row, open_claims, creditor, debtor)
        try:
            if channel == Channel.EMAIL:
                assert recipient is not None
                message_id, return_path = await self._send_email(row, reminder, creditor, recipient)
            else:
                await self._send_letter(row, reminder, debtor)
                message_id, return_path, recipient = None, None, debtor["address"]["name"]
        except TransientSendError as exc:
            metrics.DELIVERY_FAILURES.labels(channel.value, "transient").inc()
            await self._retry_later(row, str(exc))
            return
        except PermanentSendError as exc:
            metrics.DELIVERY_FAILURES.labels(channel.value, "permanent").inc()
            fallback = Channel.LETTER if channel == Channel.EMAIL and debtor.get("address") else None
            await self._fail(row, channel, str(exc), fallback=fallback)
            return
        metrics.SEND_SECONDS.labels(channel.value).observe(time.perf_counter() - started)
        await self._sent(row, channel, recipient, message_id, return_path, [c["claim_id"] for c in open_claims])

    async def _choose_channel(self, row: asyncpg.Record, debtor: dict[str, Any]) -> tuple[Channel | None, str | None]:
        for name in row["channels"]:
            channel = Channel(name)
            if channel == Channel.EMAIL and debtor.get("email"):
                async with self.db.connection() as conn:
                    if not await repository.suppressed(conn, row["creditor_id"], debtor["email"]):
                        return channel, debtor["email"]
            elif channel == Channel.LETTER and debtor.get("address"):
                return channel, None
        # No email (or a suppressed one): the creditor's chosen paper channel (seed 000).
        if debtor.get("address") and Channel.LETTER.value not in row["channels"]:
            return Channel.LETTER, None
        return None, None

    def _content(
        self, row: asyncpg.Record, claims: list[asyncpg.Record], creditor: dict[str, Any], debtor: dict[str, Any]
    ) -> content.ReminderContent:
        lines = tuple(
            content.ClaimLine(
                invoice_no=c["invoice_no"],
                description=c["description"],
                due_date=c["due_date"],
                amount_minor=c["amount_minor"],
                currency=c["currency"],
                fees_minor=c["fees_minor"] + (row["fee_minor"] if i == 0 else 0),
                reference=c["reference"],
            )
            for i, c in enumerate(claims)
        )
        link_template = creditor.get("payment_link_template")
        link = None
        if link_template:
            link = link_template.replace("{reference}", claims[0]["reference"]).replace(
                "{amount_minor}", str(sum(line.total_minor for line in lines))
            )
        address = debtor.get("address")
        return content.ReminderContent(
            creditor_name=creditor["name"],
            creditor_contact_phone=creditor.get("contact_phone", ""),
            creditor_account=creditor.get("payment_account", ""),
            payment_link=link,
            debtor_name=debtor["name"],
            language=debtor.get("language", "en"),
            step=row["step"],
            tone=row["tone"],
            claims=lines,
            address=content.PostalAddress(
                name=address["name"],
                lines=tuple(address.get("lines", ())),
                postcode=address.get("postcode", ""),
                city=address.get("city", ""),
                country=address["country"],
            )
            if address
            else None,
            sent_on=self.clock.now().date(),
        )

    async def _send_email(
        self, row: asyncpg.Record, reminder: content.ReminderContent, creditor: dict[str, Any], recipient: str
    ) -> tuple[str, str]:
        rendered = self.renderer.email(reminder)
        message_id = f"<{row['id']}@{self.return_domain}>"
        return_path = verp.encode(row["id"], self.return_domain, self.return_secret)
        sender = creditor.get("sender_email") or self.sender
        message = mime.build_email(
            rendered, sender=sender, recipient=recipient, message_id=message_id, date=self.clock.now()
        )
        await self.email.send(
            envelope_from=return_path, recipients=mime.envelope_recipients(recipient), message=message
        )
        return message_id, return_path

    async def _send_letter(
        self, row: asyncpg.Record, reminder: content.ReminderContent, debtor: dict[str, Any]
    ) -> None:
        pdf = await asyncio.to_thread(letter.render_letter_pdf, reminder, self.renderer)
        await self.letters.send(
            client_ref=str(row["id"]),
            pdf=pdf,
            recipient_name=debtor["address"]["name"],
            country=debtor["address"]["country"],
        )

    async def _sent(
        self,
        row: asyncpg.Record,
        channel: Channel,
        recipient: str,
        message_id: str | None,
        return_path: str | None,
        claim_ids: list[uuid.UUID],
    ) -> None:
        now = self.clock.now()
        async with self.db.uow() as uow:
            await uow.conn.execute(
                "UPDATE deliveries SET status = 'sent', channel = $2, recipient = $3, message_id = $4,"
                " return_path = $5, sent_at = $6, claimed_by = NULL WHERE id = $1",
                row["id"],
                channel.value,
                recipient,
                message_id,
                return_path,
                now,
            )
            uow.outbox.add(
                ReminderSent(
                    creditor_id=row["creditor_id"],
                    debtor_id=row["debtor_id"],
                    delivery_id=row["id"],
                    reminder_id=row["reminder_id"],
                    claim_ids=tuple(claim_ids),
                    step=row["step"],
                    channel=channel,
                    recipient=recipient,
                    message_id=message_id,
                    return_path=return_path,
                    fallback_for=row["fallback_for"],
                    sent_at=now,
                ),
                time=now,
            )
            await uow.commit()
        metrics.REMINDERS_SENT.labels(channel.value, str(row["step"]), row["kind"]).inc()

    async def _fail(self, row: asyncpg.Record, channel: Channel | None, reason: str, fallback: Channel | None) -> None:
        now = self.clock.now()
        async with self.db.uow() as uow:
            await uow.conn.execute(
                "UPDATE deliveries SET status = 'failed', channel = $2, last_error = $3, claimed_by = NULL"
                " WHERE id = $1",
                row["id"],
                channel.value if channel else None,
                reason[:500],
            )
            uow.outbox.add(
                DeliveryFailed(
                    creditor_id=row["creditor_id"],
                    debtor_id=row["debtor_id"],
                    delivery_id=row["id"],
                    reminder_id=row["reminder_id"],
                    claim_ids=tuple(row["claim_ids"]),
                    channel=channel or Channel(row["channels"][0]),
                    reason=reason[:500],
                    fallback_channel=fallback,
                    failed_at=now,
                ),
                time=now,
            )
            if fallback is not None and row["kind"] == "primary":
                await repository.insert_delivery(
                    uow.conn,
                    {
                        "id": delivery_id(row["reminder_id"], "fallback"),
                        "reminder_id": row["reminder_id"],
                        "kind": "fallback",
                        "creditor_id": row["creditor_id"],
                        "debtor_id": row["debtor_id"],
                        "claim_ids": list(row["claim_ids"]),
                        "step": row["step"],
                        "tone": row["tone"],
                        "template": row["template"],
                        "fee_minor": row["fee_minor"],
                        "channels": [fallback.value],
                        "fallback_for": row["id"],
                        "due_at": now,
                    },
                )
            await uow.commit()

    async def _retry_later(self, row: asyncpg.Record, reason: str, *, count_attempt: bool = True) -> None:
        attempts = row["attempts"] if count_attempt else 0
        if attempts >= MAX_ATTEMPTS:
            await self._fail(row, None, f"gave up after {attempts} attempts: {reason}", fallback=None)
            return
        delay = min(0.5 * 2 ** max(attempts - 1, 0), 60.0)
        async with self.db.connection() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'pending', last_error = $2, claimed_by = NULL,"
                " attempts = CASE WHEN $4 THEN attempts ELSE attempts - 1 END,"
                " next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                row["id"],
                reason[:500],
                delay,
                count_attempt,
            )

    async def _finish(self, row: asyncpg.Record, status: str, *, last_error: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = $2, last_error = $3, claimed_by = NULL WHERE id = $1",
                row["id"],
                status,
                last_error,
            )


def claim_view_values(event: Any) -> tuple[Any, ...]:
    return (
        event.claim_id,
        event.creditor_id,
        event.debtor_id,
        event.invoice_no,
        event.description,
        event.amount_minor,
        event.fees_minor,
        event.currency,
        event.due_date,
        event.reference,
        json.loads(event.creditor.model_dump_json()),
        json.loads(event.debtor.model_dump_json()),
    )
