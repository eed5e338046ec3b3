"""What the scheduler does with each event it consumes: plan a timeline for a new claim, stop it
when the claim is paid, cancelled or written off, pause it (dispute, hold, instalment plan),
re-plan it (resolution, release, deferral, amendment, a debtor's new time zone) and count a
notice's gap from its actual send (ReminderSent). An unanswered call is retried by the
notifier's call queue alone (krafa_law.windows.call_retry), not here."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from krafa_events import DecodedEvent, Event
from krafa_events.catalog import (
    ClaimAmended,
    ClaimBalanceChanged,
    ClaimCancelled,
    ClaimCreated,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimPaid,
    ClaimReleased,
    ClaimWrittenOff,
    DebtorUpdated,
    ReminderSent,
    SandboxClockAdvanced,
)
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler, typed
from krafa_kit.db import UnitOfWork

from krafa_scheduler import domain, personal_data, repository, service

log = logging.getLogger(__name__)

LIVE = ("active", "paused", "plan")


async def _stop(uow: UnitOfWork, claim_id: Any, reason: str) -> None:
    row = await repository.get_timeline(uow.conn, claim_id, lock=True)
    if row is not None and row["status"] in LIVE:
        await repository.update_timeline(
            uow.conn, claim_id, {"status": "stopped", "stop_reason": reason, "next_action_at": None}
        )


async def on_claim_created(uow: UnitOfWork, event: ClaimCreated, envelope: DecodedEvent, *, clock: Clock) -> None:
    await service.plan(uow, event, await service.creditor_now(uow.conn, clock, event.creditor_id))


async def on_claim_paid(uow: UnitOfWork, event: ClaimPaid, envelope: DecodedEvent) -> None:
    await _stop(uow, event.claim_id, "paid")


async def on_claim_cancelled(uow: UnitOfWork, event: ClaimCancelled, envelope: DecodedEvent) -> None:
    await _stop(uow, event.claim_id, "cancelled")


async def on_claim_written_off(uow: UnitOfWork, event: ClaimWrittenOff, envelope: DecodedEvent) -> None:
    await _stop(uow, event.claim_id, "written_off")


async def on_claim_disputed(uow: UnitOfWork, event: ClaimDisputed, envelope: DecodedEvent) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    if row is not None and row["status"] in LIVE:
        # Nothing fires while disputed, not even a hold's expiry or an instalment check.
        await repository.update_timeline(
            uow.conn, row["claim_id"], {"status": "paused", "pause_reason": "dispute", "next_action_at": None}
        )


async def on_dispute_resolved(
    uow: UnitOfWork, event: ClaimDisputeResolved, envelope: DecodedEvent, *, clock: Clock
) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    # `cancel` is followed by ClaimCancelled; the timeline stays paused until then.
    resumable = row is not None and row["status"] == "paused" and row["pause_reason"] == "dispute"
    if resumable and event.outcome == "resume":
        assert row is not None
        await service.replan(
            uow.conn, row, await service.creditor_now(uow.conn, clock, row["creditor_id"]), {"status": "active"}
        )


async def on_claim_held(uow: UnitOfWork, event: ClaimHeld, envelope: DecodedEvent) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    if row is not None and row["status"] in ("active", "plan"):
        await repository.update_timeline(
            uow.conn, row["claim_id"], {"status": "paused", "pause_reason": "hold", "next_action_at": event.until}
        )


async def on_claim_released(uow: UnitOfWork, event: ClaimReleased, envelope: DecodedEvent, *, clock: Clock) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    if row is not None and row["status"] == "paused" and row["pause_reason"] == "hold":
        await service.replan(
            uow.conn, row, await service.creditor_now(uow.conn, clock, row["creditor_id"]), {"status": "active"}
        )


async def on_claim_deferred(uow: UnitOfWork, event: ClaimDeferred, envelope: DecodedEvent, *, clock: Clock) -> None:
    await _redate(
        uow, event.claim_id, {"due_date": event.due_date, "final_due_date": event.final_due_date}, clock=clock
    )


async def on_claim_amended(uow: UnitOfWork, event: ClaimAmended, envelope: DecodedEvent, *, clock: Clock) -> None:
    await _redate(
        uow,
        event.claim_id,
        {
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "due_date": event.due_date,
            "final_due_date": event.final_due_date,
        },
        clock=clock,
    )


async def _redate(uow: UnitOfWork, claim_id: Any, changes: dict[str, Any], *, clock: Clock) -> None:
    # New dates make a new plan: an earlier pause's shift does not carry over onto them.
    changes = {**changes, "shift_s": 0}
    row = await repository.get_timeline(uow.conn, claim_id, lock=True)
    if row is None or row["status"] not in LIVE:
        return
    if row["status"] == "active":
        await service.replan(uow.conn, row, await service.creditor_now(uow.conn, clock, row["creditor_id"]), changes)
    else:
        # Paused or on a plan: the new dates count once it resumes.
        await repository.update_timeline(uow.conn, claim_id, changes)


async def on_instalment_plan(
    uow: UnitOfWork, event: ClaimInstalmentPlanAgreed, envelope: DecodedEvent, *, clock: Clock
) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    if row is None or row["status"] not in LIVE:
        return
    instalments = [{"due_date": i.due_date.isoformat(), "amount_minor": i.amount_minor} for i in event.instalments]
    today = (
        (await service.creditor_now(uow.conn, clock, row["creditor_id"]))
        .astimezone(domain.zone(row["time_zone"]))
        .date()
    )
    checkpoint = service.instalment_checkpoint(row, instalments, today)
    await repository.update_timeline(
        uow.conn,
        row["claim_id"],
        {"status": "plan", "pause_reason": "instalments", "instalments": instalments, "next_action_at": checkpoint},
    )


async def on_balance_changed(uow: UnitOfWork, event: ClaimBalanceChanged, envelope: DecodedEvent) -> None:
    row = await repository.get_timeline(uow.conn, event.claim_id, lock=True)
    if row is None or not event.lines:
        return  # (an announcement from before the ledger was itemised says nothing of payments)
    # The payments as claims-api's ledger allocated them (costs, then interest, then principal,
    # in the jurisdiction's order): interest, fee bands and conditions see the principal the
    # ledger holds, never one this service works out on its own. The event carries the whole
    # ledger, so the newest replaces the rest whatever order they arrive in.
    payments = [
        [(line.value_date or line.occurred_at.date()).isoformat(), line.amount_minor, -line.principal_minor]
        for line in event.lines
        if line.kind in ("payment", "reversal")
    ]
    if payments != (json.loads(row["payments"]) if isinstance(row["payments"], str) else row["payments"]):
        await repository.update_timeline(uow.conn, row["claim_id"], {"payments": payments})


async def on_reminder_sent(uow: UnitOfWork, event: ReminderSent, envelope: DecodedEvent, *, clock: Clock) -> None:
    # Gaps after a notice count from its actual send: each claim it was about learns it.
    for claim_id in sorted(event.claim_ids):
        row = await repository.get_timeline(uow.conn, claim_id, lock=True)
        if row is not None and row["status"] in LIVE:
            now = await service.report_now(uow.conn, clock, row["creditor_id"], event.sent_at)
            await service.record_send(uow.conn, row, event.step, event.sent_at, now)


async def on_debtor_updated(uow: UnitOfWork, event: DebtorUpdated, envelope: DecodedEvent, *, clock: Clock) -> None:
    debtor = event.debtor
    changes = {
        "time_zone": debtor.time_zone,
        "debtor_country": debtor.country,
        "customer_class": debtor.customer_class,
        "debtor_kind": debtor.kind,
    }
    for row in await repository.debtor_timelines(uow.conn, event.creditor_id, event.debtor_id):
        if row["status"] == "active":
            # A new time zone moves the next send to the morning where the debtor now lives.
            await service.replan(
                uow.conn, row, await service.creditor_now(uow.conn, clock, row["creditor_id"]), changes, reselect=False
            )
        elif row["status"] in LIVE:
            await repository.update_timeline(uow.conn, row["claim_id"], changes)


async def on_sandbox_clock_advanced(uow: UnitOfWork, event: SandboxClockAdvanced, envelope: DecodedEvent) -> None:
    # The consumer wakes the sweep after this commits: the steps now due fire at once.
    await service.learn_clock(uow, event)


def make_routes(clock: Clock) -> dict[type[Event], Handler]:
    """The handlers, bound to the service's clock (re-plans count from its `now`)."""
    return {
        ClaimCreated: typed(ClaimCreated, partial(on_claim_created, clock=clock)),
        ClaimPaid: typed(ClaimPaid, on_claim_paid),
        ClaimCancelled: typed(ClaimCancelled, on_claim_cancelled),
        ClaimWrittenOff: typed(ClaimWrittenOff, on_claim_written_off),
        ClaimDisputed: typed(ClaimDisputed, on_claim_disputed),
        ClaimDisputeResolved: typed(ClaimDisputeResolved, partial(on_dispute_resolved, clock=clock)),
        ClaimHeld: typed(ClaimHeld, on_claim_held),
        ClaimReleased: typed(ClaimReleased, partial(on_claim_released, clock=clock)),
        ClaimDeferred: typed(ClaimDeferred, partial(on_claim_deferred, clock=clock)),
        ClaimAmended: typed(ClaimAmended, partial(on_claim_amended, clock=clock)),
        ClaimInstalmentPlanAgreed: typed(ClaimInstalmentPlanAgreed, partial(on_instalment_plan, clock=clock)),
        ClaimBalanceChanged: typed(ClaimBalanceChanged, on_balance_changed),
        ReminderSent: typed(ReminderSent, partial(on_reminder_sent, clock=clock)),
        DebtorUpdated: typed(DebtorUpdated, partial(on_debtor_updated, clock=clock)),
        SandboxClockAdvanced: typed(SandboxClockAdvanced, on_sandbox_clock_advanced),
        **personal_data.build_routes(clock),
    }
