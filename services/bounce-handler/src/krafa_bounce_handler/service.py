"""Use cases of the bounce-handler. Each runs in one unit of work with one explicit commit; the
EmailBounced events ride in the same transaction through the outbox, so a bounce is recorded
exactly when its event is."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from krafa_events import EmailBounced, ReminderSent
from krafa_events import return_path as verp
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_bounce_handler import domain, dsn, metrics, personal_data, repository, webhooks
from krafa_bounce_handler.domain import BounceState, BounceVerdict, InboundMessage, SoftBouncePolicy, Verdict

log = logging.getLogger(__name__)

SOURCE = "dsn"
WEBHOOK = "webhook"
DEFAULT_POLICY = SoftBouncePolicy()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one inbound message for one of its return paths."""

    inbound_id: UUID
    delivery_id: UUID | None
    verdict: Verdict
    received_kind: str  # the metric label: hard, soft, not_bounce or bad_signature
    bounce_id: UUID | None = None
    state: BounceState | None = None
    emitted: Emitted | None = None


@dataclass(frozen=True, slots=True)
class Emitted:
    kind: str
    delay_s: float


async def receive_message(
    db: Database,
    clock: Clock,
    message: InboundMessage,
    *,
    secret: bytes,
    policy: SoftBouncePolicy = DEFAULT_POLICY,
) -> list[Outcome]:
    """Record an inbound message (a DSN, an auto-reply, a forgery) for each return path it was
    sent to, and emit EmailBounced for each failed delivery. Returns after the commit: only then
    may the SMTP client be told 250."""
    # Classification is CPU work on untrusted input of up to max_message_bytes: off the loop.
    report = await asyncio.to_thread(dsn.classify, message.raw)
    raw_sha256 = hashlib.sha256(message.raw).digest()
    now = clock.now()
    targets = [(rcpt, _delivery_of(rcpt, secret)) for rcpt in message.rcpt_tos]
    outcomes: list[Outcome] = []
    async with db.uow() as uow:
        if report.is_bounce:
            # A fixed order: two messages naming the same deliveries cannot deadlock.
            for delivery_id in sorted({d for _, d in targets if isinstance(d, UUID)}):
                await repository.lock_delivery(uow.conn, delivery_id)
        for rcpt, target in targets:
            outcomes.append(
                await _record(uow, message, rcpt, target, report, raw_sha256=raw_sha256, now=now, policy=policy)
            )
        await uow.commit()
    for outcome in outcomes:
        metrics.BOUNCES_RECEIVED.labels(outcome.received_kind, SOURCE).inc()
        _count_emitted(outcome.emitted)
        log.info(
            "inbound message recorded",
            extra={
                "inbound_id": str(outcome.inbound_id),
                "delivery_id": str(outcome.delivery_id) if outcome.delivery_id else None,
                "verdict": outcome.verdict.value,
                "kind": outcome.received_kind,
                "bounce_id": str(outcome.bounce_id) if outcome.bounce_id else None,
                "state": outcome.state.value if outcome.state else None,
            },
        )
    return outcomes


def _delivery_of(rcpt: str, secret: bytes) -> UUID | verp.InvalidReturnPath:
    try:
        return verp.decode(rcpt, secret)
    except verp.InvalidReturnPath as exc:
        return exc


async def _record(
    uow: UnitOfWork,
    message: InboundMessage,
    rcpt: str,
    target: UUID | verp.InvalidReturnPath,
    report: dsn.BounceReport,
    *,
    raw_sha256: bytes,
    now: datetime,
    policy: SoftBouncePolicy,
) -> Outcome:
    inbound_id = uuid.uuid4()

    async def inbound(verdict: Verdict, delivery_id: UUID | None, detail: str | None) -> None:
        await repository.insert_inbound(
            uow.conn,
            inbound_id=inbound_id,
            received_at=now,
            mail_from=message.mail_from,
            rcpt_to=rcpt,
            delivery_id=delivery_id,
            verdict=verdict.value,
            detail=detail,
            raw=message.raw,
            raw_sha256=raw_sha256,
        )

    if not isinstance(target, UUID):
        # A forged or altered return path: kept for audit, never allowed to mark an address.
        await inbound(Verdict.BAD_SIGNATURE, None, str(target))
        return Outcome(inbound_id, None, Verdict.BAD_SIGNATURE, Verdict.BAD_SIGNATURE.value)
    delivery_id = target
    if not report.is_bounce:
        await inbound(Verdict.NOT_BOUNCE, delivery_id, report.not_bounce_reason)
        await personal_data.pseudonymise_late(uow.conn, delivery_id)
        return Outcome(inbound_id, delivery_id, Verdict.NOT_BOUNCE, Verdict.NOT_BOUNCE.value)

    await inbound(Verdict.BOUNCE, delivery_id, None)
    bounce_id = uuid.uuid4()
    state, received_kind, emitted = await _record_bounce(
        uow,
        delivery_id,
        report,
        bounce_id=bounce_id,
        raw_sha256=raw_sha256,
        now=now,
        policy=policy,
        source=SOURCE,
        origin={"inbound_message_id": inbound_id},
    )
    await personal_data.pseudonymise_late(uow.conn, delivery_id)
    return Outcome(inbound_id, delivery_id, Verdict.BOUNCE, received_kind, bounce_id, state, emitted)


async def _record_bounce(
    uow: UnitOfWork,
    delivery_id: UUID,
    report: dsn.BounceReport,
    *,
    bounce_id: UUID,
    raw_sha256: bytes,
    now: datetime,
    policy: SoftBouncePolicy,
    source: str,
    origin: dict[str, UUID],
) -> tuple[BounceState, str, Emitted | None]:
    """Record a bounce report for a delivery (the caller holds its lock) and emit EmailBounced
    unless it is a duplicate; one that beats its delivery waits for it. Returns the state, the
    kind received (before the soft policy) and what was emitted."""
    common = {
        "id": bounce_id,
        "delivery_id": delivery_id,
        "source": source,
        "report": report.to_json_dict(),
        "received_at": now,
        "raw_sha256": raw_sha256,
        **origin,
    }
    delivery = await repository.get_delivery(uow.conn, delivery_id)
    if delivery is None:
        # The report beat the notifier's ReminderSent (outbox → Kafka → us): keep it until the
        # delivery arrives; the ReminderSent handler emits it then.
        await repository.insert_bounce(uow.conn, state=BounceState.AWAITING_DELIVERY.value, **common)
        return BounceState.AWAITING_DELIVERY, domain.received_kind(report), None

    verdict = domain.verdict_for(report, delivery["recipient"])
    assert verdict is not None  # report.is_bounce
    received_kind = verdict.kind
    verdict, escalated = await _apply_soft_policy(
        uow, delivery, verdict, raw_sha256=raw_sha256, received_at=now, policy=policy
    )
    state, event_id, emitted = await _emit_unless_duplicate(
        uow, delivery, verdict, bounce_id=bounce_id, raw_sha256=raw_sha256, received_at=now, now=now, source=source
    )
    await repository.insert_bounce(
        uow.conn,
        state=state.value,
        recipient=delivery["recipient"],
        reported_address=verdict.reported_address,
        kind=verdict.kind,
        status=verdict.status,
        reason=verdict.reason,
        emitted_at=now if emitted else None,
        event_id=event_id,
        escalated=escalated,
        **common,
    )
    return state, received_kind, emitted


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What became of one provider webhook event."""

    webhook_event_id: UUID
    outcome: str  # bounce, ignored (no failure), unmatched (names no delivery of ours)
    delivery_id: UUID | None
    received_kind: str | None = None  # hard, soft or complaint
    bounce_id: UUID | None = None
    state: BounceState | None = None
    emitted: Emitted | None = None


async def receive_webhook(
    db: Database,
    clock: Clock,
    event: webhooks.WebhookEvent,
    body: bytes,
    *,
    token: webhooks.MailgunToken | None = None,
    replay_window: timedelta = timedelta(minutes=5),
    policy: SoftBouncePolicy = DEFAULT_POLICY,
) -> WebhookOutcome:
    """Record an authenticated provider event and, for a failure of one of our deliveries, take
    the path of a DSN (source "webhook"). A signature token is stored in the same transaction:
    it counts as used exactly when its effects are committed, and a second use raises
    WebhookRejected("replayed")."""
    now = clock.now()
    webhook_event_id = uuid.uuid4()
    detail: str | None = None
    if event.kind is None:
        outcome, detail = "ignored", "not a delivery failure"
    elif event.delivery_id is None:
        outcome, detail = "unmatched", "names no delivery: neither our Message-ID nor krafa_delivery_id"
    else:
        outcome = "bounce"
    result = WebhookOutcome(webhook_event_id, outcome, event.delivery_id, event.kind)
    async with db.uow() as uow:
        if token is not None:
            if not await repository.claim_webhook_token(uow.conn, event.provider, token.token, token.signed_at):
                raise webhooks.WebhookRejected("replayed", "signature token already used")
            # Tokens signed that long before this one are refused as stale anyway.
            await repository.prune_webhook_tokens(uow.conn, token.signed_at - 2 * replay_window)
        await repository.insert_webhook_event(
            uow.conn,
            id=webhook_event_id,
            provider=event.provider,
            received_at=now,
            provider_event_id=event.event_id,
            event=event.event,
            outcome=outcome,
            delivery_id=event.delivery_id,
            detail=detail,
            body_sha256=hashlib.sha256(body).digest(),
            body=body,
        )
        if outcome == "bounce":
            assert event.delivery_id is not None
            await repository.lock_delivery(uow.conn, event.delivery_id)
            bounce_id = uuid.uuid4()
            state, received_kind, emitted = await _record_bounce(
                uow,
                event.delivery_id,
                event.report(),
                bounce_id=bounce_id,
                raw_sha256=event.fingerprint(body),
                now=now,
                policy=policy,
                source=WEBHOOK,
                origin={"webhook_event_id": webhook_event_id},
            )
            await personal_data.pseudonymise_late(uow.conn, event.delivery_id)
            if event.kind == "complaint":
                received_kind = "complaint"
            result = WebhookOutcome(
                webhook_event_id, outcome, event.delivery_id, received_kind, bounce_id, state, emitted
            )
        await uow.commit()
    if result.received_kind is not None:
        metrics.BOUNCES_RECEIVED.labels(result.received_kind, WEBHOOK).inc()
    _count_emitted(result.emitted)
    log.info(
        "webhook event recorded",
        extra={
            "provider": event.provider,
            "webhook_event_id": str(webhook_event_id),
            "event": event.event,
            "outcome": outcome,
            "delivery_id": str(event.delivery_id) if event.delivery_id else None,
            "kind": result.received_kind,
            "bounce_id": str(result.bounce_id) if result.bounce_id else None,
            "state": result.state.value if result.state else None,
        },
    )
    return result


async def _apply_soft_policy(
    uow: UnitOfWork,
    delivery: repository.Row,
    verdict: BounceVerdict,
    *,
    raw_sha256: bytes,
    received_at: datetime,
    policy: SoftBouncePolicy,
) -> tuple[BounceVerdict, bool]:
    """The verdict to emit, and whether it is a soft one escalated to hard by the policy. The
    same report received again is left as it is (it will be recorded as a duplicate)."""
    if verdict.kind != "soft":
        return verdict, False
    emitted_before = await repository.emitted_bounces(uow.conn, delivery["delivery_id"])
    if any(sha == raw_sha256 for _, sha in emitted_before):
        return verdict, False
    creditor_id, recipient = delivery["creditor_id"], delivery["recipient"]
    await repository.lock_address(uow.conn, creditor_id, recipient)
    earlier = await repository.count_soft_bounces(uow.conn, creditor_id, recipient, since=received_at - policy.window)
    escalated = domain.apply_soft_policy(verdict, earlier, policy)
    if escalated is None:
        return verdict, False
    log.info(
        "soft bounce escalated to hard",
        extra={"delivery_id": str(delivery["delivery_id"]), "earlier_soft": earlier},
    )
    return escalated, True


async def _emit_unless_duplicate(
    uow: UnitOfWork,
    delivery: repository.Row,
    verdict: BounceVerdict,
    *,
    bounce_id: UUID,
    raw_sha256: bytes,
    received_at: datetime,
    now: datetime,
    source: str,
) -> tuple[BounceState, UUID | None, Emitted | None]:
    """Emit EmailBounced for a resolved bounce unless the delivery already has it. Callers hold
    the delivery's lock, so the check and the write cannot interleave with another bounce; the
    unique partial index on hard bounces backs this up."""
    emitted_before = await repository.emitted_bounces(uow.conn, delivery["delivery_id"])
    if domain.is_duplicate(verdict.kind, raw_sha256, emitted_before):
        return BounceState.DUPLICATE, None, None
    event = EmailBounced(
        creditor_id=delivery["creditor_id"],
        debtor_id=delivery["debtor_id"],
        bounce_id=bounce_id,
        delivery_id=delivery["delivery_id"],
        reminder_id=delivery["reminder_id"],
        claim_ids=tuple(delivery["claim_ids"]),
        step=delivery["step"],
        # The address we sent to, which is the one the creditor holds, even when the report
        # names the forwarded address it failed at.
        recipient=delivery["recipient"],
        kind=verdict.kind,
        status=verdict.status,
        reason=verdict.reason,
        source="webhook" if source == WEBHOOK else "dsn",
        bounced_at=received_at,
    )
    event_id = UUID(uow.outbox.add(event, time=now))
    delay = max((received_at - delivery["sent_at"]).total_seconds(), 0.0)
    return BounceState.EMITTED, event_id, Emitted(verdict.kind, delay)


async def record_delivery(
    uow: UnitOfWork, event: ReminderSent, now: datetime, policy: SoftBouncePolicy = DEFAULT_POLICY
) -> list[Emitted]:
    """Remember an email delivery so its bounces can be attributed, and emit the bounces that
    arrived before it. Runs in the consumer's unit of work (the runner commits)."""
    await repository.lock_delivery(uow.conn, event.delivery_id)
    await repository.insert_delivery(uow.conn, event)
    delivery = await repository.get_delivery(uow.conn, event.delivery_id)
    assert delivery is not None
    emitted: list[Emitted] = []
    for row in await repository.awaiting_bounces(uow.conn, event.delivery_id):
        verdict = domain.verdict_for(domain.report_from_json(row["report"]), delivery["recipient"])
        assert verdict is not None  # only bounces wait
        verdict, escalated = await _apply_soft_policy(
            uow, delivery, verdict, raw_sha256=bytes(row["raw_sha256"]), received_at=row["received_at"], policy=policy
        )
        state, event_id, done = await _emit_unless_duplicate(
            uow,
            delivery,
            verdict,
            bounce_id=row["id"],
            raw_sha256=bytes(row["raw_sha256"]),
            received_at=row["received_at"],
            now=now,
            source=row["source"],
        )
        await repository.resolve_bounce(
            uow.conn,
            row["id"],
            state=state.value,
            recipient=delivery["recipient"],
            reported_address=verdict.reported_address,
            kind=verdict.kind,
            status=verdict.status,
            reason=verdict.reason,
            emitted_at=now if done else None,
            event_id=event_id,
            escalated=escalated,
        )
        if done is not None:
            emitted.append(done)
        log.info(
            "awaiting bounce resolved",
            extra={
                "delivery_id": str(event.delivery_id),
                "bounce_id": str(row["id"]),
                "state": state.value,
                "kind": verdict.kind,
            },
        )
    await personal_data.pseudonymise_late(uow.conn, event.delivery_id)
    return emitted


def count_emitted(emitted: list[Emitted]) -> None:
    for item in emitted:
        _count_emitted(item)


def _count_emitted(emitted: Emitted | None) -> None:
    if emitted is not None:
        metrics.BOUNCES_EMITTED.labels(emitted.kind).inc()
        metrics.BOUNCE_DELAY.labels(emitted.kind).observe(emitted.delay_s)
