"""REST routes of claims-api: thin, they parse, call a use case, and shape the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import pydantic_core
from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import Response
from fastapi.routing import APIRoute
from krafa_kit.collector import gc_paused
from krafa_kit.db import UnitOfWork
from krafa_kit.http import Problem
from krafa_kit.inputs import BoundedDate
from pydantic import AwareDatetime

from krafa_claims_api import domain, lifecycle, pagination, repository, service
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, IdempotencyKey, Reader, require_admin
from krafa_claims_api.api.errors import cursor_position, problems
from krafa_claims_api.api.idempotency import EncodedBody, idempotent
from krafa_claims_api.api.schemas import (
    AgingBucket,
    AgingCurrency,
    AgingReport,
    BulkClaimsIn,
    BulkClaimsOut,
    CancelIn,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    ClaimStatusName,
    CreditorChange,
    CreditorChangeList,
    CreditorCreated,
    CreditorIn,
    CreditorProfile,
    CreditorSenderIn,
    HistoryItem,
    InstalmentOut,
    PaymentOut,
)

router = APIRouter(prefix="/v1")

NOT_FOUND = Problem(404, "Not Found", "no such claim")


class GcPausedRoute(APIRoute):
    """A route that runs with the cyclic garbage collector paused (krafa_kit.collector) from
    the moment its request arrives: FastAPI parses a JSON body before it solves any dependency,
    and parsing a 10,000-claim body with the collector running took four times as long (each
    collection walking every object the parse had made so far)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def paused(request: Request) -> Response:
            with gc_paused():
                return await handler(request)

        return paused


def claim_out(
    row: Mapping[str, Any],
    history: list[asyncpg.Record] | None = None,
    instalments: list[asyncpg.Record] | None = None,
) -> ClaimOut:
    """A claim as the API shows it: `claim_json` with its plan and history."""
    values = claim_json(row, row["customer_no"])
    values["instalments"] = [
        InstalmentOut(no=i["no"], due_date=i["due_date"], amount_minor=i["amount_minor"]) for i in instalments or []
    ]
    values["history"] = [
        HistoryItem(event_type=h["event_type"], occurred_at=h["occurred_at"], details=h["details"])
        for h in history or []
    ]
    return ClaimOut(**values)


def claim_json(row: Mapping[str, Any], customer_no: str) -> dict[str, Any]:
    """A claim's fields as plain values (ClaimOut's, without plan and history): encoded as they
    are by pydantic_core.to_json for the thousands of claims of a bulk answer, at a fraction of
    the cost of a model per claim; `claim_out` builds the model from them."""
    balance = domain.Balance(
        row["amount_minor"], row["fees_minor"], row["paid_minor"], row["interest_minor"], row["written_off_minor"]
    )
    return {
        "id": row["id"],
        "invoice_no": row["invoice_no"],
        "status": row["status"],
        "overdue": row["overdue"],
        "debtor_id": row["debtor_id"],
        "customer_no": customer_no,
        "amount_minor": row["amount_minor"],
        "fees_minor": row["fees_minor"],
        "paid_minor": row["paid_minor"],
        "balance_minor": balance.balance_minor,
        "overpaid_minor": balance.overpaid_minor,
        "currency": row["currency"],
        "issue_date": row["issue_date"],
        "due_date": row["due_date"],
        "final_due_date": row["final_due_date"],
        "reference": row["reference"],
        "description": row["description"],
        "department": row["department"],
        "created_at": row["created_at"],
        "updated_at": row.get("changed_at"),
        "paid_at": row["paid_at"],
        "cancelled_at": row["cancelled_at"],
        "cancel_reason": row["cancel_reason"],
        "interest_minor": row["interest_minor"],
        "written_off_minor": row["written_off_minor"],
        "dispute_reason": row["dispute_reason"],
        "held_until": row["held_until"],
        "stage": row["stage"],
        "actions": list(domain.ACTIONS_BY_STATUS.get(row["status"], ())),
        "payment": {k: v for k, v in row["payment"].items() if k in _PAYMENT_FIELDS} if row.get("payment") else None,
        "instalments": [],
        "history": [],
    }


_PAYMENT_FIELDS = frozenset(PaymentOut.model_fields)


@router.post(
    "/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    tags=["claims"],
    summary="Register one claim",
    responses=problems(401, 403, 409, 422),
)
async def create_claim(
    request: Request,
    body: ClaimIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Registers a claim for the API key's creditor and plans its reminders. Needs the `claims:write` scope.
    Send an `Idempotency-Key` to retry safely: the same key with the same body answers the first result again;
    with another body, 422. The same `invoice_no` twice is a 409 naming the existing claim."""

    async def action(uow: UnitOfWork) -> ClaimOut:
        [row] = await service.create_claims(uow, caller, [body], clock.now(), pointer="")
        history = await repository.history(uow.conn, row["id"])
        return claim_out({**row, "customer_no": body.debtor.customer_no}, history)

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)


async def create_claims_bulk(
    request: Request,
    body: BulkClaimsIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Registers up to 10,000 claims in one transaction: either every claim is registered or none is, and the
    422 lists every invalid claim with a JSON pointer (`/claims/3/amount_minor`). Needs `claims:write`; takes
    an `Idempotency-Key` like a single claim."""

    async def action(uow: UnitOfWork) -> EncodedBody:
        rows = await service.create_claims(uow, caller, body.claims, clock.now())
        # The events' outbox rows are sent (and PostgreSQL writes them) while the answer is built.
        writing = asyncio.ensure_future(uow.outbox.flush())
        try:
            # BulkClaimsOut, encoded straight from the rows (see claim_json).
            claims = []
            for index, (row, claim) in enumerate(zip(rows, body.claims, strict=True)):
                if index % 500 == 0:
                    await asyncio.sleep(0)
                claims.append(claim_json(row, claim.debtor.customer_no))
            encoded = pydantic_core.to_json({"created": len(rows), "claims": claims})
        finally:
            await asyncio.wait([writing])
        writing.result()
        return EncodedBody(encoded)

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)


router.add_api_route(
    "/claims/bulk",
    create_claims_bulk,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=BulkClaimsOut,
    tags=["claims"],
    summary="Register up to 10,000 claims in one all-or-nothing request",
    responses=problems(401, 403, 409, 422),
    route_class_override=GcPausedRoute,
)


@router.get(
    "/claims",
    response_model=ClaimPage,
    tags=["claims"],
    summary="List the creditor's claims, filtered, with cursor pagination",
    responses=problems(401, 403, 422),
    description="Ordered by creation time (then id). `overdue_days_min=N` keeps open claims whose due date "
    "is at least N days before today (the service clock). Follow `next_cursor` until it is null. To keep an "
    "ERP in sync, ask with `updated_since` set to the newest `updated_at` of the previous sync: every claim "
    "changed since (its status, balance, dates) comes again; re-reading one twice does no harm.",
)
async def list_claims(
    caller: Reader,
    db: DB,
    clock: CurrentClock,
    status_: Annotated[ClaimStatusName | None, Query(alias="status")] = None,
    customer_no: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    due_from: BoundedDate | None = None,
    due_to: BoundedDate | None = None,
    overdue_days_min: Annotated[int | None, Query(ge=0, le=36_500)] = None,
    updated_since: Annotated[
        AwareDatetime | None,
        Query(description="only claims Krafa changed at or after this time (their `updated_at`): a sync"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ClaimPage:
    after = cursor_position(cursor)
    filters = {
        "status": status_,
        "customer_no": customer_no,
        "department": department,
        "due_from": due_from,
        "due_to": due_to,
        "updated_since": updated_since,
        "due_on_or_before": clock.now().date() - timedelta(days=overdue_days_min)
        if overdue_days_min is not None
        else None,
    }
    async with db.connection() as conn:
        rows = await repository.list_claims(conn, caller.creditor_id, filters=filters, after=after, limit=limit + 1)
    page = rows[:limit]
    next_cursor = (
        pagination.encode_cursor(page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit and page else None
    )
    return ClaimPage(items=[claim_out(row) for row in page], next_cursor=next_cursor)


@router.get(
    "/claims/{claim_id}",
    response_model=ClaimOut,
    tags=["claims"],
    summary="A claim with its status, balance and event history",
    responses=problems(401, 403, 404, 422),
)
async def get_claim(claim_id: UUID, caller: Reader, db: DB) -> ClaimOut:
    """The claim as it stands now: status, balance in minor units, fees and interest charged, and its event
    history. Another creditor's claim answers 404, the same as one that does not exist."""
    async with db.connection() as conn:
        row = await repository.get_claim(conn, caller.creditor_id, claim_id)
        if row is None:
            # Another creditor's claim answers exactly like a missing one.
            raise NOT_FOUND
        return claim_out(row, await repository.history(conn, claim_id), await repository.instalments(conn, claim_id))


@router.get(
    "/claims/by-invoice-no/{invoice_no:path}",
    response_model=ClaimOut,
    tags=["claims"],
    summary="A claim by the creditor's own invoice number",
    responses=problems(401, 403, 404, 422),
)
async def get_claim_by_invoice_no(
    invoice_no: Annotated[str, Path(min_length=1, max_length=64, description="the invoice number the ERP sent")],
    caller: Reader,
    db: DB,
) -> ClaimOut:
    """The same answer as GET /v1/claims/{claim_id}, found by the invoice number the ERP registered it with
    (unique per creditor), so an ERP need not store Krafa's ids. An invoice number with `/` in it is sent as
    it is. 404 if the creditor has no such claim."""
    async with db.connection() as conn:
        row = await repository.get_claim_by_invoice_no(conn, caller.creditor_id, invoice_no)
        if row is None:
            raise Problem(404, "Not Found", "no claim of this creditor has that invoice number")
        claim_id = row["id"]
        return claim_out(row, await repository.history(conn, claim_id), await repository.instalments(conn, claim_id))


@router.post(
    "/claims/{claim_id}/cancel",
    response_model=ClaimOut,
    tags=["claims"],
    summary="Cancel an open claim (idempotent; the creditor's cancellation fee is set off)",
    responses=problems(401, 403, 404, 409, 422),
    description="An open, disputed or held claim becomes `cancelled`, `ClaimCancelled` is published and no "
    "further reminder goes out. The creditor's cancellation fee is set off against its next settlement. "
    "Cancelling a cancelled claim answers 200 with its state and has no second effect; a paid claim answers 409.",
)
async def cancel_claim(
    request: Request,
    claim_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    body: CancelIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def action(uow: UnitOfWork) -> ClaimOut:
        await lifecycle.cancel(uow, caller.creditor_id, claim_id, body.reason if body else None, clock.now())
        row = await repository.get_claim(uow.conn, caller.creditor_id, claim_id)
        assert row is not None
        return claim_out(row, await repository.history(uow.conn, claim_id))

    return await idempotent(request, db, clock, caller, idempotency_key, 200, action)


@router.get(
    "/reports/aging",
    response_model=AgingReport,
    tags=["reports"],
    summary="Aging of open balances per currency: current, 1-30, 31-60, 61-90 and 90+ days overdue",
    responses=problems(401, 403, 422),
    description="Open claims issued by `as_of` with a balance (amount + fees - paid) above zero, bucketed by "
    "days past the due date on `as_of` (default: today on the service clock). Sums are in minor units.",
)
async def aging_report(caller: Reader, db: DB, clock: CurrentClock, as_of: BoundedDate | None = None) -> AgingReport:
    day = as_of or clock.now().date()
    async with db.connection() as conn:
        groups = await repository.aging_groups(conn, caller.creditor_id, day)
    currencies = []
    for currency, buckets in domain.aging_report(groups).items():
        items = [AgingBucket(bucket=name, count=n, balance_minor=total) for name, (n, total) in buckets.items()]
        currencies.append(
            AgingCurrency(
                currency=currency,
                count=sum(b.count for b in items),
                balance_minor=sum(b.balance_minor for b in items),
                buckets=items,
            )
        )
    return AgingReport(as_of=day, currencies=currencies)


@router.get(
    "/creditor",
    response_model=CreditorProfile,
    tags=["claims"],
    summary="The calling creditor: its name, currency and fees (e.g. what a cancellation costs)",
    responses=problems(401, 403),
)
async def get_own_creditor(caller: Reader, db: DB) -> CreditorProfile:
    """The creditor the API key belongs to, with the fees it charges, so an ERP can show a clerk what an
    action will cost before taking it."""
    async with db.connection() as conn:
        row = await repository.get_creditor(conn, caller.creditor_id)
    if row is None:
        raise Problem(404, "Not Found", "no such creditor")
    return CreditorProfile.model_validate(dict(row))


@router.patch(
    "/creditor",
    response_model=CreditorProfile,
    tags=["claims"],
    summary="Change how the creditor's messages name it: sending name, From, Reply-To, SMS sender, phone",
    responses=problems(401, 403, 422),
    description="Only the fields given change; an empty string returns one to its default. Each field is checked "
    "(addresses, a phone number, an SMS sender of at most 11 letters A-Z, digits and spaces, or a number) and a "
    "refusal names every wrong field with nothing applied. A change publishes `CreditorUpdated`: every message "
    "sent from then on uses it, for claims registered before too. The same values again change nothing; "
    "`Idempotency-Key` makes a retry safe. Each change is recorded (GET /v1/creditor/changes).",
)
async def update_own_creditor(
    request: Request,
    body: CreditorSenderIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    given = {name: value for name, value in body.model_dump(exclude_none=True).items()}

    async def action(uow: UnitOfWork) -> CreditorProfile:
        row = await service.update_sender(uow, caller, given, clock.now())
        return CreditorProfile.model_validate(dict(row))

    return await idempotent(request, db, clock, caller, idempotency_key, 200, action)


@router.get(
    "/creditor/changes",
    response_model=CreditorChangeList,
    tags=["claims"],
    summary="Who changed the creditor's sender identity, when, from what to what",
    description="Each change made with PATCH /v1/creditor, newest first: when, who (`API key <prefix>`, or "
    "`creditor web: <user>`) and each field's value before and after.",
    responses=problems(401, 403),
)
async def own_creditor_changes(
    caller: Reader, db: DB, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> CreditorChangeList:
    async with db.connection() as conn:
        rows = await repository.creditor_changes(conn, caller.creditor_id, limit)
    return CreditorChangeList(items=[CreditorChange.model_validate(dict(r)) for r in rows])


@router.post(
    "/admin/creditors",
    status_code=status.HTTP_201_CREATED,
    response_model=CreditorCreated,
    tags=["admin"],
    summary="Create a creditor and its first API key",
    responses=problems(401, 422),
    dependencies=[Depends(require_admin)],
)
async def create_creditor(body: CreditorIn, db: DB) -> CreditorCreated:
    """Operator only (the admin token). Creates a creditor and answers its first API key once; only the key's
    hash is stored."""
    async with db.uow() as uow:
        creditor_id, key = await service.create_creditor(uow, body)
        await uow.commit()
    return CreditorCreated(creditor_id=creditor_id, api_key=key.token, scopes=list(domain.SCOPES))
