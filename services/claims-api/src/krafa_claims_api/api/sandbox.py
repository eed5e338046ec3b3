"""The sandbox's routes (docs/adr/0015): its clock, read and moved forward, and payments into
its claims, with a sandbox key.
Sandbox keys themselves are made by `POST /v1/api-keys` with `"sandbox": true`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from krafa_kit.clock import Clock, parse_duration
from krafa_kit.db import UnitOfWork
from krafa_kit.deps import get_clock
from krafa_kit.http import PROBLEM_BASE, PROBLEM_JSON

from krafa_claims_api import repository, sandbox
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, IdempotencyKey, Reader
from krafa_claims_api.api.errors import problems
from krafa_claims_api.api.idempotency import idempotent
from krafa_claims_api.api.routes import claim_json
from krafa_claims_api.api.schemas import SandboxClockAdvanceIn, SandboxClockOut, SandboxPaymentIn, SandboxPaymentOut

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"])
ServiceClock = Annotated[Clock, Depends(get_clock)]

_SANDBOX_ONLY = {
    "type": PROBLEM_BASE + "sandbox-only",
    "title": "Forbidden",
    "status": 403,
    "detail": 'this is a sandbox\'s route: call it with a sandbox API key (POST /v1/api-keys with "sandbox": true)',
}
_BACKWARDS = {
    "type": PROBLEM_BASE + "clock-backwards",
    "title": "Validation failed",
    "status": 422,
    "detail": "a sandbox clock only moves forward: it is 2026-04-01T09:00:00+00:00 and the advance would take it "
    "to 2026-03-25T09:00:00+00:00",
    "sandbox_now": "2026-04-01T09:00:00+00:00",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        "_403": "not a sandbox key (problem type sandbox-only), or the key lacks the scope",
        "_422": "the advance would not move the clock forward (clock-backwards), is more than 400 days at once "
        "(advance-too-large), is not an ISO 8601 duration of weeks to seconds (bad-duration), or names both or "
        "neither of `advance` and `to` (validation)",
    }
    responses = problems(*codes, **{k: v for k, v in described.items() if int(k[1:]) in codes})
    for status, example in ((403, _SANDBOX_ONLY), (422, _BACKWARDS)):
        if status in responses:
            responses[status]["content"][PROBLEM_JSON]["example"] = example
    return responses


def _out(clock: sandbox.SandboxClock, service_now: datetime) -> SandboxClockOut:
    return SandboxClockOut(now=clock.now, offset_s=int(clock.offset.total_seconds()), service_now=service_now)


@router.get(
    "/clock",
    response_model=SandboxClockOut,
    summary="The sandbox's clock",
    responses=_responses(401, 403),
)
async def get_sandbox_clock(caller: Reader, db: DB, clock: ServiceClock) -> SandboxClockOut:
    """The sandbox's now, which its claims' timelines (reminders, fees, interest, handover) run on,
    and how far it is ahead of the service's. Only with a sandbox key."""
    sandbox.sandbox_only(caller.sandbox_of)
    base_now = clock.now()
    async with db.uow() as uow:
        current = await sandbox.clock_of(uow, caller.creditor_id, base_now)
    return _out(current, base_now)


@router.post(
    "/clock",
    response_model=SandboxClockOut,
    summary="Move the sandbox's clock forward",
    responses=_responses(401, 403, 422),
)
async def advance_sandbox_clock(
    request: Request,
    body: SandboxClockAdvanceIn,
    caller: ClaimsWriter,
    db: DB,
    clock: ServiceClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Moves the sandbox's clock forward, by `advance` (an ISO 8601 duration such as `P30D`) or to
    the instant `to`; never back. Every service then runs the sandbox's claims on the new now: the
    scheduler fires each reminder, fee and handover that fell due in between, in order, and the
    notifier renders them into the sandbox's outbox (no message reaches a debtor). Webhooks of the
    sandbox's own endpoints follow as they would live. Only with a sandbox key. Send an
    `Idempotency-Key`: a retried `{"advance": "P30D"}` would otherwise move the clock twice."""
    sandbox.sandbox_only(caller.sandbox_of)
    by = parse_duration(body.advance) if body.advance is not None else None
    base_now = clock.now()

    async def action(uow: UnitOfWork) -> SandboxClockOut:
        moved = await sandbox.advance_clock(uow, caller.creditor_id, base_now, by=by, to=body.to)
        return _out(moved, base_now)

    return await idempotent(request, db, clock, caller, idempotency_key, 200, action)


@router.post(
    "/payments",
    status_code=201,
    response_model=SandboxPaymentOut,
    summary="Pay into a sandbox claim, as a debtor's bank transfer would",
    responses={
        **_responses(401, 403, 404, 409, 422),
        404: problems(404, _404="no such claim in the sandbox")[404],
        409: problems(409, _409="the claim is no longer open (paid, cancelled, written off)")[409],
    },
)
async def pay_sandbox_claim(
    request: Request,
    body: SandboxPaymentIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A sandbox's claims are in no bank and match no bank file, so money reaches them here: the
    payment is booked as a matched bank transfer is — over the ledger (fees, then interest, then
    principal), on the sandbox's day — and a claim paid in full is closed, its reminders stopped
    and its webhooks sent, as live. Only with a sandbox key."""
    sandbox.sandbox_only(caller.sandbox_of)
    now = clock.now()

    async def action(uow: UnitOfWork) -> SandboxPaymentOut:
        payment_id = await sandbox.pay(uow, caller.creditor_id, body.claim_id, body.amount_minor, now)
        row = await repository.get_claim(uow.conn, caller.creditor_id, body.claim_id)
        assert row is not None
        shown = claim_json(row, row["customer_no"])
        return SandboxPaymentOut(
            payment_id=payment_id,
            claim_id=body.claim_id,
            amount_minor=body.amount_minor,
            currency=row["currency"],
            paid_at=now,
            status=shown["status"],
            balance_minor=shown["balance_minor"],
        )

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)
