"""REST routes of claims-api: thin, they parse, call a use case, and shape the answer."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, status
from krafa_kit.http import Problem

from krafa_claims_api import domain, repository, service
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, Reader, require_admin
from krafa_claims_api.api.schemas import (
    BulkClaimsIn,
    BulkClaimsOut,
    ClaimIn,
    ClaimOut,
    CreditorCreated,
    CreditorIn,
    HistoryItem,
)

router = APIRouter(prefix="/v1")

NOT_FOUND = Problem(404, "Not Found", "no such claim")


def claim_out(row: asyncpg.Record, history: list[asyncpg.Record] | None = None) -> ClaimOut:
    balance = domain.Balance(row["amount_minor"], row["fees_minor"], row["paid_minor"])
    return ClaimOut(
        id=row["id"],
        invoice_no=row["invoice_no"],
        status=row["status"],
        overdue=row["overdue"],
        debtor_id=row["debtor_id"],
        customer_no=row["customer_no"],
        amount_minor=row["amount_minor"],
        fees_minor=row["fees_minor"],
        paid_minor=row["paid_minor"],
        balance_minor=balance.balance_minor,
        overpaid_minor=balance.overpaid_minor,
        currency=row["currency"],
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        final_due_date=row["final_due_date"],
        reference=row["reference"],
        description=row["description"],
        department=row["department"],
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        history=[
            HistoryItem(event_type=h["event_type"], occurred_at=h["occurred_at"], details=h["details"])
            for h in history or []
        ],
    )


@router.post(
    "/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    tags=["claims"],
    summary="Register one claim",
    responses={409: {"description": "duplicate invoice number"}},
)
async def create_claim(body: ClaimIn, caller: ClaimsWriter, db: DB, clock: CurrentClock) -> ClaimOut:
    [claim_id] = await service.create_claims(db, caller, [body], clock.now())
    async with db.connection() as conn:
        row = await repository.get_claim(conn, caller.creditor_id, claim_id)
        assert row is not None
        return claim_out(row, await repository.history(conn, claim_id))


@router.post(
    "/claims/bulk",
    status_code=status.HTTP_201_CREATED,
    response_model=BulkClaimsOut,
    tags=["claims"],
    summary="Register up to 10,000 claims in one all-or-nothing request",
)
async def create_claims_bulk(body: BulkClaimsIn, caller: ClaimsWriter, db: DB, clock: CurrentClock) -> BulkClaimsOut:
    claim_ids = await service.create_claims(db, caller, body.claims, clock.now())
    async with db.connection() as conn:
        rows = await conn.fetch(
            f"SELECT {repository.CLAIM_COLUMNS} FROM claims c JOIN debtors d ON d.id = c.debtor_id"
            " WHERE c.id = ANY($1::uuid[]) AND c.creditor_id = $2",
            claim_ids,
            caller.creditor_id,
        )
    by_id = {row["id"]: row for row in rows}
    return BulkClaimsOut(created=len(claim_ids), claims=[claim_out(by_id[i]) for i in claim_ids])


@router.get(
    "/claims/{claim_id}",
    response_model=ClaimOut,
    tags=["claims"],
    summary="A claim with its status, balance and event history",
)
async def get_claim(claim_id: UUID, caller: Reader, db: DB) -> ClaimOut:
    async with db.connection() as conn:
        row = await repository.get_claim(conn, caller.creditor_id, claim_id)
        if row is None:
            # Another creditor's claim answers exactly like a missing one.
            raise NOT_FOUND
        return claim_out(row, await repository.history(conn, claim_id))


@router.post(
    "/admin/creditors",
    status_code=status.HTTP_201_CREATED,
    response_model=CreditorCreated,
    tags=["admin"],
    summary="Create a creditor and its first API key",
    dependencies=[Depends(require_admin)],
)
async def create_creditor(body: CreditorIn, db: DB) -> CreditorCreated:
    creditor_id, key = await service.create_creditor(db, body)
    return CreditorCreated(creditor_id=creditor_id, api_key=key.token, scopes=list(domain.SCOPES))
