"""REST routes of the claim lifecycle, the ledger and the timeline. Every POST runs in one unit of
work with its event (outbox) and honours Idempotency-Key; illegal transitions answer 409."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from krafa_kit.db import UnitOfWork
from krafa_kit.http import Problem

from krafa_claims_api import ledger_repository, lifecycle, repository, timeline
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, IdempotencyKey, Reader
from krafa_claims_api.api.errors import problems
from krafa_claims_api.api.idempotency import idempotent
from krafa_claims_api.api.routes import NOT_FOUND, claim_out
from krafa_claims_api.api.schemas import (
    AmendIn,
    ClaimOut,
    DeferIn,
    DeliveryOut,
    DisputeIn,
    HoldIn,
    LedgerEntryOut,
    LedgerOut,
    ResolveIn,
    SplitIn,
    TimelineItem,
    TimelineOut,
    WriteOffIn,
)
from krafa_claims_api.domain import Correction

router = APIRouter(prefix="/v1/claims/{claim_id}", tags=["claim lifecycle"])

LIFECYCLE_RESPONSES = problems(401, 403, 404, 409, 422)
ILLEGAL = (
    " An action the claim's status does not allow answers 409 `illegal-transition` with `claim_status` and "
    "`allowed_from`. Send an `Idempotency-Key` to make a retry safe."
)


async def _run(
    request: Request,
    claim_id: UUID,
    caller: Any,
    db: Any,
    clock: Any,
    key: str | None,
    change: Callable[[UnitOfWork], Awaitable[object]],
) -> Response:
    async def action(uow: UnitOfWork) -> ClaimOut:
        await change(uow)
        row = await repository.get_claim(uow.conn, caller.creditor_id, claim_id)
        if row is None:
            raise NOT_FOUND
        return claim_out(
            row, await repository.history(uow.conn, claim_id), await repository.instalments(uow.conn, claim_id)
        )

    return await idempotent(request, db, clock, caller, key, 200, action)


@router.post(
    "/amend",
    response_model=ClaimOut,
    summary="Change a claim's amount or dates (ClaimAmended)",
    responses=LIFECYCLE_RESPONSES,
    description="Open, disputed and held claims can be amended. A new principal below what has already been "
    "paid towards it is refused; moving the due date keeps the gap to the final due date unless it is given." + ILLEGAL,
)
async def amend_claim(
    request: Request,
    claim_id: UUID,
    body: AmendIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    if body.amount_minor is None and body.due_date is None and body.final_due_date is None:
        raise lifecycle.invalid("", "give amount_minor, due_date or final_due_date")

    async def change(uow: UnitOfWork) -> None:
        await lifecycle.amend(
            uow,
            caller.creditor_id,
            claim_id,
            amount_minor=body.amount_minor,
            due_date=body.due_date,
            final_due_date=body.final_due_date,
            reason=body.reason,
            now=clock.now(),
        )

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/dispute",
    response_model=ClaimOut,
    summary="Register the debtor's dispute: dunning pauses, the creditor is notified (ClaimDisputed)",
    responses=LIFECYCLE_RESPONSES,
    description="An open or held claim becomes `disputed`; `ClaimDisputed` is published and the "
    "`claim.disputed` webhook is sent." + ILLEGAL,
)
async def dispute_claim(
    request: Request,
    claim_id: UUID,
    body: DisputeIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        await lifecycle.dispute(uow, caller.creditor_id, claim_id, body.reason, clock.now())

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/resolve",
    response_model=ClaimOut,
    summary="Settle a dispute: resume dunning or cancel the claim (ClaimDisputeResolved)",
    responses=LIFECYCLE_RESPONSES,
    description="`resume` re-opens the claim and dunning is re-planned from now (the dispute rejected, or upheld "
    "in part with a `correction` of the amount or dates, booked as an amendment first); `cancel` cancels it "
    "(the dispute upheld: the creditor's cancellation fee and `ClaimCancelled`)." + ILLEGAL,
)
async def resolve_dispute(
    request: Request,
    claim_id: UUID,
    body: ResolveIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        fix = body.correction
        correction = None if fix is None else Correction(fix.amount_minor, fix.due_date, fix.final_due_date)
        await lifecycle.resolve(
            uow, caller.creditor_id, claim_id, body.outcome, body.note, clock.now(), correction=correction
        )

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/defer",
    response_model=ClaimOut,
    summary="Move the due date later (ClaimDeferred)",
    responses=LIFECYCLE_RESPONSES,
    description="The new due date must be after the current one; the claim is no longer overdue." + ILLEGAL,
)
async def defer_claim(
    request: Request,
    claim_id: UUID,
    body: DeferIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        await lifecycle.defer(uow, caller.creditor_id, claim_id, body.due_date, body.final_due_date, clock.now())

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/instalments",
    response_model=ClaimOut,
    summary="Split the balance into instalments (ClaimInstalmentPlanAgreed)",
    responses=LIFECYCLE_RESPONSES,
    description="The amounts must add up to the current balance exactly; a new plan replaces the old one. "
    "Dunning follows the plan and a missed instalment re-arms it." + ILLEGAL,
)
async def split_claim(
    request: Request,
    claim_id: UUID,
    body: SplitIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        plan = [(i.due_date, i.amount_minor) for i in body.instalments]
        await lifecycle.split(uow, caller.creditor_id, claim_id, plan, clock.now())

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/hold",
    response_model=ClaimOut,
    summary="Hold an open claim: no dunning step fires until released or `until` (ClaimHeld)",
    responses=LIFECYCLE_RESPONSES,
    description="The creditor's reaction within the 24-hour notice before handover to collection. With `until` "
    "the hold ends on its own at that time: the claim is released (ClaimReleased, history reason "
    "`hold expired`) and dunning resumes; without it, it lasts until released." + ILLEGAL,
)
async def hold_claim(
    request: Request,
    claim_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    body: HoldIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        await lifecycle.hold(
            uow, caller.creditor_id, claim_id, body.until if body else None, body.reason if body else None, clock.now()
        )

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/release",
    response_model=ClaimOut,
    summary="Lift a hold (ClaimReleased)",
    responses=LIFECYCLE_RESPONSES,
    description="A held claim becomes open again; the scheduler re-plans from now." + ILLEGAL,
)
async def release_claim(
    request: Request,
    claim_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        await lifecycle.release(uow, caller.creditor_id, claim_id, clock.now())

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.post(
    "/write-off",
    response_model=ClaimOut,
    summary="Write off what is left of a claim (ClaimWrittenOff)",
    responses=LIFECYCLE_RESPONSES,
    description="The outstanding principal, fees and interest are written off in the ledger and dunning ends."
    + ILLEGAL,
)
async def write_off_claim(
    request: Request,
    claim_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    body: WriteOffIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def change(uow: UnitOfWork) -> None:
        await lifecycle.write_off(uow, caller.creditor_id, claim_id, body.reason if body else None, clock.now())

    return await _run(request, claim_id, caller, db, clock, idempotency_key, change)


@router.get(
    "/ledger",
    response_model=LedgerOut,
    tags=["claims"],
    summary="The claim's ledger: principal, fees, interest, payments, write-offs and the balance",
    responses=problems(401, 403, 404, 422),
    description="Payments are allocated to fees, then interest, then principal; an excess is recorded as "
    "overpaid. Each entry shows how it changed each outstanding component.",
)
async def get_ledger(claim_id: UUID, caller: Reader, db: DB) -> LedgerOut:
    async with db.connection() as conn:
        claim = await repository.get_claim(conn, caller.creditor_id, claim_id)
        if claim is None:
            raise NOT_FOUND
        rows = await ledger_repository.entries(conn, claim_id)
    entries = [
        LedgerEntryOut(
            kind=r["kind"],
            amount_minor=r["amount_minor"],
            principal_minor=r["principal_minor"],
            fees_minor=r["fees_minor"],
            interest_minor=r["interest_minor"],
            overpaid_minor=r["overpaid_minor"],
            currency=r["currency"],
            occurred_at=r["occurred_at"],
            details=r["details"],
        )
        for r in rows
    ]

    def total(column: str, *kinds: str) -> int:
        return sum(r[column] for r in rows if r["kind"] in kinds)

    outstanding = {
        "principal_minor": sum(e.principal_minor for e in entries),
        "fees_minor": sum(e.fees_minor for e in entries),
        "interest_minor": sum(e.interest_minor for e in entries),
    }
    return LedgerOut(
        claim_id=claim_id,
        currency=claim["currency"],
        principal_minor=total("principal_minor", "charge", "amendment"),
        fees_minor=total("fees_minor", "charge", "fee", "waiver"),
        interest_minor=total("interest_minor", "charge", "interest", "waiver"),
        payments_minor=total("amount_minor", "payment", "reversal"),
        written_off_minor=total("amount_minor", "write_off"),
        outstanding=outstanding,
        balance_minor=max(sum(outstanding.values()), 0),
        overpaid_minor=sum(e.overpaid_minor for e in entries),
        agency_commission_minor=sum(_agency_share(r["details"]) for r in rows),
        entries=entries,
    )


def _agency_share(details: Mapping[str, Any] | None) -> int:
    split = (details or {}).get("watch_split")
    return int(split["agency_minor"]) if isinstance(split, Mapping) else 0


@router.get(
    "/timeline",
    response_model=TimelineOut,
    tags=["claims"],
    summary="Every event of the claim in order: reminders (channel, content link), bounces, fallbacks, "
    "payments, fees, disputes, holds",
    responses=problems(401, 403, 404, 422),
)
async def get_timeline(claim_id: UUID, caller: Reader, db: DB) -> TimelineOut:
    """Everything that happened to the claim, oldest first: each reminder with its channel and a link to its
    content, bounces and the fallbacks they caused, payments, fees, disputes and holds. The same view the
    creditor's web desk shows."""
    async with db.connection() as conn:
        if await repository.get_claim(conn, caller.creditor_id, claim_id) is None:
            raise NOT_FOUND
        rows = await repository.history_with_ids(conn, claim_id)
    return TimelineOut(claim_id=claim_id, items=[TimelineItem(**timeline.item(row, claim_id)) for row in rows])


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    tags=["claims"],
    summary="One reminder delivery of the claim (the timeline's content_link): channel, when it was sent, "
    "delivered, refused or bounced, and what replaced it",
    responses=problems(401, 403, 404, 422),
)
async def get_delivery(claim_id: UUID, delivery_id: UUID, caller: Reader, db: DB) -> DeliveryOut:
    """Where a timeline item's `content_link` points: one delivery of a reminder with every event about it
    (sent, delivered, refused, bounced) and the delivery that replaced it, if any. 404 for another claim's."""
    async with db.connection() as conn:
        if await repository.get_claim(conn, caller.creditor_id, claim_id) is None:
            raise NOT_FOUND
        rows = await repository.history_with_ids(conn, claim_id)
    found = timeline.delivery(rows, claim_id, str(delivery_id))
    if found is None:
        raise Problem(404, "Not Found", "no such delivery of this claim")
    return DeliveryOut(**{**found, "events": [TimelineItem(**i) for i in found["events"]]})
