"""Use cases of claims-api. Each runs in one unit of work with one explicit commit; the events
it emits ride in the same transaction through the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import ClaimCreated, CreditorSnapshot
from krafa_events.references import InvalidReference
from krafa_kit.consumer import PermanentError
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.http import Problem

from krafa_claims_api import domain, ledger, lifecycle, repository
from krafa_claims_api.api.schemas import ClaimIn, CreditorIn
from krafa_claims_api.debtors import service as debtor_service

PROBLEMS = "https://docs.krafa.dev/problems/"


@dataclass(frozen=True, slots=True)
class Caller:
    creditor_id: UUID
    scopes: frozenset[str]


async def create_creditor(db: Database, data: CreditorIn) -> tuple[UUID, domain.NewApiKey]:
    creditor_id = uuid.uuid4()
    key = domain.new_api_key()
    async with db.uow() as uow:
        await uow.conn.execute(
            "INSERT INTO creditors (id, name, country, currency, default_language, contact_phone,"
            " payment_account, payment_link_template, sender_email, slip_fee_minor, cancellation_fee_minor)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            creditor_id,
            data.name,
            data.country,
            data.currency,
            data.default_language,
            data.contact_phone,
            data.payment_account,
            data.payment_link_template,
            data.sender_email,
            data.slip_fee_minor,
            data.cancellation_fee_minor,
        )
        await uow.conn.execute(
            "INSERT INTO api_keys (id, creditor_id, prefix, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            creditor_id,
            key.prefix,
            key.secret_hash,
            list(domain.SCOPES),
        )
        await uow.commit()
    return creditor_id, key


async def authenticate(db: Database, token: str) -> Caller | None:
    parsed = domain.parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    async with db.connection() as conn:
        row = await repository.find_api_key(conn, prefix)
    if row is None or not domain.secret_matches(secret, row["secret_hash"]):
        return None
    return Caller(creditor_id=row["creditor_id"], scopes=frozenset(row["scopes"]))


async def create_claims(uow: UnitOfWork, caller: Caller, claims: list[ClaimIn], now: datetime) -> list[UUID]:
    """Register claims in the caller's unit of work (the caller commits)."""
    creditor = await repository.get_creditor(uow.conn, caller.creditor_id)
    if creditor is None:
        raise Problem(404, "Not Found", "creditor not found")
    jurisdiction = creditor["country"]
    # Debtors and their contact points live in krafa_claims_api.debtors; the snapshot carries only
    # this creditor's usable contact points (a bounced address is never used again, seed 000).
    debtors = await debtor_service.upsert_for_claims(uow, caller.creditor_id, [c.debtor for c in claims], now)
    sequence = await uow.conn.fetch(
        "SELECT nextval('claim_reference_seq') AS n FROM generate_series(1, $1)", len(claims)
    )
    creditor_snapshot = CreditorSnapshot(
        name=creditor["name"],
        contact_phone=creditor["contact_phone"],
        payment_account=creditor["payment_account"],
        payment_link_template=creditor["payment_link_template"],
        sender_email=creditor["sender_email"],
    )
    # Seed 003: each department (a club's division) may set its own final-due-date rule.
    department_offsets = await repository.department_offsets(uow.conn, caller.creditor_id)
    rows: list[tuple[Any, ...]] = []
    claim_ids: list[UUID] = []
    for index, (claim, seq) in enumerate(zip(claims, sequence, strict=True)):
        try:
            reference = domain.payment_reference(jurisdiction, claim.reference, seq["n"])
        except InvalidReference as exc:
            raise Problem(
                422,
                "Invalid payment reference",
                str(exc),
                type_=PROBLEMS + "invalid-reference",
                extra={"errors": [{"pointer": f"/claims/{index}/reference", "detail": str(exc)}]},
            ) from exc
        if claim.due_date < (claim.issue_date or claim.due_date):
            raise Problem(
                422,
                "Validation failed",
                "due_date is before issue_date",
                type_=PROBLEMS + "validation",
                extra={"errors": [{"pointer": f"/claims/{index}/due_date", "detail": "before issue_date"}]},
            )
        claim_id = uuid.uuid4()
        claim_ids.append(claim_id)
        debtor_id, debtor_snapshot = debtors[claim.debtor.customer_no]
        issue_date = claim.issue_date or now.date()
        final_due = claim.final_due_date or domain.default_final_due_date(
            jurisdiction, claim.due_date, department_offsets.get(claim.department or "")
        )
        fees = creditor["slip_fee_minor"] if claim.currency == creditor["currency"] else 0
        rows.append(
            (
                claim_id,
                caller.creditor_id,
                debtor_id,
                claim.invoice_no,
                claim.amount_minor,
                fees,
                claim.currency,
                issue_date,
                claim.due_date,
                final_due,
                reference,
                claim.description,
                claim.department,
                now,
            )
        )
        event = ClaimCreated(
            creditor_id=caller.creditor_id,
            debtor_id=debtor_id,
            claim_id=claim_id,
            invoice_no=claim.invoice_no,
            amount_minor=claim.amount_minor,
            currency=claim.currency,
            fees_minor=fees,
            issue_date=issue_date,
            due_date=claim.due_date,
            final_due_date=final_due,
            reference=reference,
            description=claim.description,
            department=claim.department,
            jurisdiction=jurisdiction,
            creditor=creditor_snapshot,
            debtor=debtor_snapshot,
            created_at=now,
        )
        event_id = uow.outbox.add(event, time=now)
        rows[-1] = (*rows[-1], event_id)
    try:
        await uow.conn.executemany(
            "INSERT INTO claims (id, creditor_id, debtor_id, invoice_no, amount_minor, fees_minor,"
            " currency, issue_date, due_date, final_due_date, reference, description, department, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            [row[:14] for row in rows],
        )
    except asyncpg.UniqueViolationError as exc:
        raise Problem(409, "Conflict", _conflict_detail(exc), type_=PROBLEMS + "duplicate-claim") from exc
    await ledger.record_created(uow.conn, claim_ids)
    await repository.add_history(
        uow.conn,
        [
            (
                row[0],
                uuid.UUID(row[14]),
                ClaimCreated.TYPE,
                now,
                {"amount_minor": row[4], "fees_minor": row[5], "currency": row[6]},
            )
            for row in rows
        ],
    )
    return claim_ids


def _conflict_detail(exc: asyncpg.UniqueViolationError) -> str:
    detail = getattr(exc, "detail", "") or ""
    if "invoice_no" in detail:
        return (
            "a claim with this invoice number already exists for this creditor: "
            + detail.split("=(")[-1].rstrip(").").split(", ")[-1]
        )
    if "reference" in detail:
        return "a claim with this payment reference already exists for this creditor"
    return "the claim conflicts with an existing one"


async def apply_payment(
    uow: UnitOfWork,
    *,
    event_id: str,
    creditor_id: UUID,
    claim_id: UUID,
    amount_minor: int,
    details: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> bool:
    """Apply one payment allocation through the claim's ledger; returns True when it settled the claim."""
    claim = await repository.get_claim_for_update(uow.conn, claim_id)
    # Tenant isolation: a payment can only touch a claim of the creditor it was matched for.
    if claim is None or claim["creditor_id"] != creditor_id:
        raise PermanentError(f"payment for unknown claim {claim_id}")
    creditor = await repository.get_creditor(uow.conn, creditor_id)
    assert creditor is not None
    await repository.add_history(
        uow.conn, [(claim_id, uuid.UUID(event_id), "krafa.payment.received.v1", occurred_at, details)]
    )
    return await lifecycle.record_payment(
        uow,
        claim,
        source_id=f"payment:{event_id}",
        jurisdiction=creditor["country"],
        amount_minor=amount_minor,
        details=details,
        occurred_at=occurred_at,
        now=now,
    )
