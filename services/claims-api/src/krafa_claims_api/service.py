"""Use cases of claims-api. Each runs in one unit of work with one explicit commit; the events
it emits ride in the same transaction through the outbox."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import ClaimCreated, DebtorSnapshot, PaymentReceived, references
from krafa_events.catalog import CreditorUpdated, PaymentIdentity
from krafa_events.references import InvalidReference
from krafa_kit import errors
from krafa_kit.consumer import PermanentError
from krafa_kit.db import Database, UnitOfWork

from krafa_claims_api import claim_keys, domain, lifecycle, repository
from krafa_claims_api.commands import ClaimIn, CreditorIn
from krafa_claims_api.debtors import service as debtor_service

# Work on a whole bulk is done this many claims at a time, letting the event loop run in between:
# a statement in flight on the connection is sent (and its answer read) only when it does.
_SLICE = 500


@dataclass(frozen=True, slots=True)
class Caller:
    creditor_id: UUID
    scopes: frozenset[str]
    # Who is asking, for the record of changes: the API key's prefix, or the creditor web's user.
    actor: str = ""
    # A sandbox creditor's caller: the live creditor it belongs to, and how far its clock runs
    # ahead of the service's (docs/adr/0015).
    sandbox_of: UUID | None = None
    clock_offset: timedelta = timedelta(0)


async def create_creditor(
    uow: UnitOfWork, data: CreditorIn, scopes: Sequence[str] = domain.SCOPES
) -> tuple[UUID, domain.NewApiKey]:
    """The creditor and its first API key (with `scopes`), in the caller's unit of work."""
    creditor_id = uuid.uuid4()
    key = domain.new_api_key()
    await repository.insert_creditor(
        uow.conn,
        creditor_id,
        name=data.name,
        country=data.country,
        currency=data.currency,
        default_language=data.default_language,
        contact_phone=data.contact_phone,
        payment_account=data.payment_account,
        payment_link_template=data.payment_link_template,
        sender_email=data.sender_email,
        slip_fee_minor=data.slip_fee_minor,
        cancellation_fee_minor=data.cancellation_fee_minor,
        registration_no=data.registration_no,
        kid_scheme=data.kid_scheme,
        bank_claims=data.bank_claims.model_dump() if data.bank_claims is not None else None,
        contact_consent={**data.contact_consent.model_dump(mode="json"), "recorded_at": datetime.now(UTC).isoformat()}
        if data.contact_consent is not None
        else None,
    )
    await repository.insert_api_key(uow.conn, creditor_id, key.prefix, key.secret_hash, list(scopes))
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
    return Caller(
        creditor_id=row["creditor_id"],
        scopes=frozenset(row["scopes"]),
        actor=f"API key {prefix}",
        sandbox_of=row["sandbox_of"],
        clock_offset=timedelta(seconds=row["offset_s"]),
    )


async def with_sandbox(db: Database, caller: Caller) -> Caller:
    """The caller with its creditor's sandbox link and clock (for a caller not named by an API key)."""
    async with db.connection() as conn:
        row = await repository.sandbox_state(conn, caller.creditor_id)
    if row is None or row["sandbox_of"] is None:
        return caller
    return replace(caller, sandbox_of=row["sandbox_of"], clock_offset=timedelta(seconds=row["offset_s"]))


async def create_claims(
    uow: UnitOfWork, caller: Caller, claims: list[ClaimIn], now: datetime, *, pointer: str = "/claims/{}"
) -> list[dict[str, Any]]:
    """Register claims in the caller's unit of work (the caller commits); returns their rows
    (repository.CREATED_COLUMNS), in the order given. `pointer` is the JSON pointer of a claim in
    the request body, `{}` standing for its index: every problem names each claim at fault.

    Set-based, so a 10,000-claim bulk costs a handful of statements, not 10,000 round trips: the
    debtors and their contact points in one statement each, then the claims with their opening
    ledger charge and ClaimCreated history in one more. While PostgreSQL runs each of them (on
    another core), this process prepares what comes next: the debtors' snapshots during their
    insert; the payment identities, the claims' rows and their ClaimCreated events (with ids
    chosen up front, so the history rows can name them) during the contact points'; the events'
    outbox rows during the claims'. A reference the check finds already held is drawn again, and
    its claim's row and event take the new draw."""
    creditor = await repository.get_creditor(uow.conn, caller.creditor_id)
    if creditor is None:
        raise errors.NotFound("creditor not found")
    # Each department (a club's division) may set its own final-due-date rule (docs/domain.md,
    # Icelandic payment slips).
    department_offsets = await repository.department_offsets(uow.conn, caller.creditor_id)
    # Debtors and their contact points live in krafa_claims_api.debtors; the snapshot carries only
    # this creditor's usable contact points (a bounced address is never used again, digital letters (docs/domain.md)).
    # Their contact points are still being written while the claims' rows are prepared here.
    national_ids: dict[str, str] = {}
    debtors, writing = await debtor_service.upsert_for_claims(
        uow, caller.creditor_id, [c.debtor for c in claims], now, national_ids=national_ids, pointer=pointer
    )
    try:
        payments = await _payment_identities(creditor, claims, debtors, national_ids, pointer)
        new = await _new_claims(creditor, claims, payments, debtors, department_offsets, now)
        events = await _created_events(caller.creditor_id, creditor, claims, debtors, new, payments, now)
    except BaseException:
        await debtor_service.settle(writing)
        raise
    await writing
    refs = [p.reference for p in payments]
    invoice_nos = [c.invoice_no for c in claims]
    # Drawn, not given: the creditor's own reference is kept unless a bank claim's key replaces it.
    generated = {
        i
        for i, (c, p) in enumerate(zip(claims, payments, strict=True))
        if c.reference is None or p.kind == "bank_claim"
    }

    def redraw(index: int) -> str:
        # Rare (a drawn reference already held): the claim's row and event were made with the
        # first draw, so they take the new one too.
        payment = payments[index] = _payment_identity(
            domain.payment_terms(creditor), claims[index], debtors, national_ids
        )
        new.reference[index], new.payment[index] = payment.reference, payment.model_dump_json()
        events[index] = events[index].model_copy(update={"reference": payment.reference, "payment": payment})
        return payment.reference

    await claim_keys.settle(uow.conn, caller.creditor_id, invoice_nos, refs, generated, redraw=redraw, prefix=pointer)
    inserting = asyncio.ensure_future(_insert(uow, caller.creditor_id, now, new, payments))
    try:
        for start in range(0, len(events), _SLICE):
            # The claims' statement is being sent and run meanwhile.
            await asyncio.sleep(0)
            uow.outbox.add_many(
                events[start : start + _SLICE],
                time=now,
                event_ids=[str(e) for e in new.event_id[start : start + _SLICE]],
            )
    except BaseException:
        await debtor_service.settle(inserting)
        raise
    try:
        return await inserting
    except asyncpg.UniqueViolationError as exc:
        # A concurrent request registered the same invoice number or reference after the check
        # above: check again (it is committed now) to name the claim that holds it.
        await claim_keys.settle(uow.conn, caller.creditor_id, invoice_nos, refs, set(), redraw=redraw, prefix=pointer)
        raise errors.Conflict("the claim conflicts with one registered meanwhile", kind="conflict") from exc


async def _insert(
    uow: UnitOfWork, creditor_id: UUID, now: datetime, new: repository.NewClaims, payments: list[PaymentIdentity]
) -> list[dict[str, Any]]:
    """insert_claims inside a savepoint, so that after a unique violation the transaction can
    still look up what the claims collided with."""
    savepoint = uow.conn.transaction()
    await savepoint.start()
    try:
        rows = await repository.insert_claims(
            uow.conn, creditor_id, now, new, ClaimCreated.TYPE, [p.model_dump() for p in payments]
        )
    except BaseException:
        await savepoint.rollback()
        raise
    await savepoint.commit()
    return rows


def _payment_identity(
    terms: domain.CreditorPaymentTerms,
    claim: ClaimIn,
    debtors: dict[str, tuple[UUID, DebtorSnapshot]],
    national_ids: dict[str, str],
) -> PaymentIdentity:
    customer_no = claim.debtor.customer_no
    return domain.payment_identity(
        terms,
        claim.reference,
        references.random_number(),
        debtor_country=debtors[customer_no][1].country,
        debtor_national_id=national_ids.get(customer_no),
        due_date=claim.due_date,
        currency=claim.currency,
    )


async def _payment_identities(
    creditor: asyncpg.Record,
    claims: list[ClaimIn],
    debtors: dict[str, tuple[UUID, DebtorSnapshot]],
    national_ids: dict[str, str],
    pointer: str,
) -> list[PaymentIdentity]:
    """How each claim's debtor pays (domain.payment_identity, drawn at random where not given);
    a 422 names every invalid reference at once."""
    payments: list[PaymentIdentity] = []
    found = []
    terms = domain.payment_terms(creditor)
    for index, claim in enumerate(claims):
        if index % _SLICE == 0:
            # The first lets the debtors' contact points start to go out (see create_claims).
            await asyncio.sleep(0)
        try:
            payments.append(_payment_identity(terms, claim, debtors, national_ids))
        except InvalidReference as exc:
            found.append({"pointer": f"{pointer.format(index)}/reference", "detail": str(exc)})
    if found:
        raise errors.Invalid(
            found[0]["detail"] if len(found) == 1 else f"{len(found)} invalid payment references",
            kind="invalid-reference",
            title="Invalid payment reference",
            facts={"errors": found},
        )
    return payments


async def _new_claims(
    creditor: asyncpg.Record,
    claims: list[ClaimIn],
    payments: list[PaymentIdentity],
    debtors: dict[str, tuple[UUID, DebtorSnapshot]],
    department_offsets: dict[str, int],
    now: datetime,
) -> repository.NewClaims:
    """The claims' rows, with their references and how each debtor pays."""
    jurisdiction = creditor["country"]
    slip_fee, home_currency = creditor["slip_fee_minor"], creditor["currency"]
    new = repository.NewClaims()
    ids = _uuid4s(2 * len(claims))
    # Column by column, as insert_claims sends them.
    payment_json = PaymentIdentity.__pydantic_serializer__.to_json  # model_dump_json's, not decoded
    today = now.date()
    for index, (claim, payment) in enumerate(zip(claims, payments, strict=True)):
        if index % _SLICE == 0:
            await asyncio.sleep(0)
        new.id.append(ids[2 * index])
        new.debtor_id.append(debtors[claim.debtor.customer_no][0])
        new.invoice_no.append(claim.invoice_no)
        new.amount_minor.append(claim.amount_minor)
        # Icelandic payment slips (docs/domain.md): the creditor's slip fee (seðilgjald) is owed on slips in its
        # own currency.
        new.fees_minor.append(slip_fee if claim.currency == home_currency else 0)
        new.currency.append(claim.currency)
        new.issue_date.append(claim.issue_date or today)
        new.due_date.append(claim.due_date)
        new.final_due_date.append(
            claim.final_due_date
            or domain.default_final_due_date(
                jurisdiction, claim.due_date, department_offsets.get(claim.department or "")
            )
        )
        new.reference.append(payment.reference)
        new.description.append(claim.description)
        new.department.append(claim.department)
        new.payment.append(payment_json(payment).decode())
        new.event_id.append(ids[2 * index + 1])
    return new


async def _created_events(
    creditor_id: UUID,
    creditor: asyncpg.Record,
    claims: list[ClaimIn],
    debtors: dict[str, tuple[UUID, DebtorSnapshot]],
    new: repository.NewClaims,
    payments: list[PaymentIdentity],
    now: datetime,
) -> list[ClaimCreated]:
    """One ClaimCreated per claim (its id is new.event_id, which the claim's history row names)."""
    creditor_snapshot = domain.creditor_snapshot(creditor)
    events = []
    for index, claim in enumerate(claims):
        if index % _SLICE == 0:
            await asyncio.sleep(0)
        debtor_id, debtor_snapshot = debtors[claim.debtor.customer_no]
        events.append(
            ClaimCreated(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                claim_id=new.id[index],
                invoice_no=claim.invoice_no,
                amount_minor=claim.amount_minor,
                currency=claim.currency,
                fees_minor=new.fees_minor[index],
                issue_date=new.issue_date[index],
                due_date=claim.due_date,
                final_due_date=new.final_due_date[index],
                reference=new.reference[index],
                description=claim.description,
                department=claim.department,
                jurisdiction=creditor["country"],
                creditor=creditor_snapshot,
                debtor=debtor_snapshot,
                created_at=now,
                payment=payments[index],
            )
        )
    return events


def _uuid4s(n: int) -> list[UUID]:
    """n random (version 4) UUIDs, as uuid.uuid4() makes them, from one read of the OS's randomness."""
    entropy = os.urandom(16 * n)
    return [UUID(bytes=entropy[16 * i : 16 * i + 16], version=4) for i in range(n)]


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
        uow.conn, [(claim_id, uuid.UUID(event_id), PaymentReceived.TYPE, occurred_at, details)]
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


async def update_sender(uow: UnitOfWork, caller: Caller, given: dict[str, str], now: datetime) -> asyncpg.Record:
    """Change how the creditor's messages name it. Only fields that differ are written; a change
    publishes CreditorUpdated (the notifier sends every later message with it) and records who
    changed what from what; the same values again change nothing and publish nothing."""
    creditor = await repository.lock_creditor(uow.conn, caller.creditor_id)
    if creditor is None:
        raise errors.NotFound("no such creditor")
    values, wrong = domain.checked_sender(given, creditor["country"])
    if wrong:
        raise errors.Invalid(
            "; ".join(f"{name}: {detail}" for name, detail in wrong.items()),
            kind="validation",
            facts={"errors": [{"pointer": f"/{name}", "field": name, "detail": d} for name, d in wrong.items()]},
        )
    changed = {name: value for name, value in values.items() if creditor[name] != value}
    if not changed:
        return creditor
    await repository.set_creditor_sender(uow.conn, caller.creditor_id, changed)
    row = await repository.get_creditor(uow.conn, caller.creditor_id)
    assert row is not None
    event = CreditorUpdated(
        creditor_id=caller.creditor_id,
        debtor_id=UUID(int=0),
        creditor=domain.creditor_snapshot(row),
        updated_at=now,
    )
    event_id = uow.outbox.add(event, time=now)
    await repository.add_creditor_change(
        uow.conn,
        caller.creditor_id,
        now,
        caller.actor or "unknown",
        UUID(event_id),
        {name: [creditor[name], value] for name, value in changed.items()},
    )
    return row
