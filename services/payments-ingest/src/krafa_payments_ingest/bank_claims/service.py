"""Use cases of the bank claims: what the events say Krafa wants of each claim at the bank, the
sync that makes the bank hold it, and the poll that turns the bank's payments into PaymentReceived
(through the same recording and matching as bank files, so the bank file that reports the same
payment later is a duplicate)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from krafa_events import ClaimCreated
from krafa_events.catalog import ClaimBalanceChanged
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_payments_ingest import metrics
from krafa_payments_ingest import service as payments
from krafa_payments_ingest.bank_claims import domain, repository
from krafa_payments_ingest.bank_claims.client import ClaimsClient, IobwsError
from krafa_payments_ingest.parsers import BankEntry, ParsedBankFile

log = logging.getLogger(__name__)

FORMAT = "iobws"
MAX_BACKOFF_S = 60.0
POLL_DAYS_BACK = 3  # the bank books on its own date; a poll looks a few days back, duplicates are dropped


# -- what Krafa wants, from events -------------------------------------------------------------------


async def on_claim_created(uow: UnitOfWork, event: ClaimCreated) -> None:
    payment = event.payment
    if payment is None or payment.kind != "bank_claim":
        return
    assert payment.claimant_id and payment.claim_bank and payment.claim_number and payment.payor_id
    assert payment.template_code
    await repository.insert(
        uow.conn,
        claim_id=event.claim_id,
        creditor_id=event.creditor_id,
        debtor_id=event.debtor_id,
        claimant_id=payment.claimant_id,
        claim_bank=payment.claim_bank,
        claim_number=payment.claim_number,
        due_date=event.due_date,
        final_due_date=event.final_due_date,
        payor_id=payment.payor_id,
        template_code=payment.template_code,
        secondary_template_code=payment.secondary_template_code,
        partial_payment_allowed=payment.partial_payment_allowed,
        currency=event.currency.upper(),
        principal_minor=event.amount_minor,
        fees_minor=event.fees_minor,
        created_at=event.created_at,
    )


async def on_balance_changed(uow: UnitOfWork, event: ClaimBalanceChanged) -> None:
    await repository.set_balance(
        uow.conn,
        event.claim_id,
        principal=event.principal_minor,
        fees=event.fees_minor,
        interest=event.interest_minor,
        ledger_entries=event.ledger_entries,
    )


async def on_dates_changed(uow: UnitOfWork, claim_id: UUID, final_due_date: Any) -> None:
    """An amendment or deferral: the netbank shows the new final due date. (The due date keys the
    claim at the bank and stays as created.)"""
    await repository.want(uow.conn, claim_id, final_due_date=final_due_date)


async def on_closed(uow: UnitOfWork, claim_id: UUID) -> None:
    """Cancelled or written off: the claim leaves the payer's netbank."""
    await repository.want(uow.conn, claim_id, wanted="cancelled")


async def on_paid(uow: UnitOfWork, claim_id: UUID) -> None:
    """Paid in full: paid at the bank there is nothing to do; paid another way (a transfer, a
    card) the netbank must not ask for it again, so the claim is cancelled there."""
    if await repository.state_of(uow.conn, claim_id) in ("new", "open", "failed"):
        await repository.want(uow.conn, claim_id, wanted="cancelled")


async def on_escalated(uow: UnitOfWork, claim_id: UUID, stage: str) -> None:
    """Handed over to collection: the claim moves to secondary collection at the bank."""
    if stage in ("collection", "legal", "watch"):
        await repository.want(uow.conn, claim_id, collection="secondary")


# -- the sync ----------------------------------------------------------------------------------------


def _answer_error(answer: dict[str, Any]) -> str | None:
    error = answer.get("error")
    return str(error.get("resultCode") or "CLAIM_OTHERS") if isinstance(error, dict) else None


async def _call(operation: str, call: Any) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = await call
    except IobwsError as exc:
        metrics.BANK_CLAIM_CALLS.labels(operation, "transient" if exc.transient else "refused").inc()
        raise
    metrics.BANK_CLAIM_CALLS.labels(operation, "ok" if _answer_error(answer) is None else "refused").inc()
    return answer


async def sync_one(client: ClaimsClient, claim: domain.BankClaim) -> tuple[str, dict[str, Any] | None]:
    """Make the bank hold what Krafa wants of the claim; returns the claim's state there and the
    fields it holds. Raises IobwsError when the bank could not be reached or refused."""
    state, sent = claim.state, claim.sent
    if state in ("paid", "cancelled"):
        return state, sent
    if sent is None:  # not created yet (or its creation failed)
        if claim.wanted == "cancelled" and state == "new":
            return "cancelled", None  # cancelled before the bank ever had it
        answer = await _call(
            "createClaim",
            client.create_claim(domain.create_body(claim), uuid.uuid5(claim.claim_id, "iobws-create")),
        )
        # CLAIM_EXISTS: the bank has this key from an earlier try of ours whose answer was lost.
        if (code := _answer_error(answer)) not in (None, "CLAIM_EXISTS"):
            raise IobwsError(201, code, str(answer["error"].get("resultMessage") or code))
        state, sent = "open", domain.sent_after_create(claim)
    current = _with(claim, state=state, sent=sent)
    if claim.wanted == "cancelled":
        answer = await _call("patchClaim", client.patch_claim(claim.bank_id, {"claimStatus": "Cancelled"}))
        code = _answer_error(answer)
        if code == "CLAIM_IS_PAID":
            return "paid", sent
        if code not in (None, "CLAIM_IS_CANCELLED"):
            raise IobwsError(200, code, str(answer["error"].get("resultMessage") or code))
        return "cancelled", sent
    patch = domain.patch_for(current)
    if not patch:
        return state, sent
    answer = await _call("patchClaim", client.patch_claim(claim.bank_id, patch))
    code = _answer_error(answer)
    if code == "CLAIM_IS_PAID":
        return "paid", sent
    if code == "CLAIM_IS_CANCELLED":
        return "cancelled", sent
    if code is not None:
        raise IobwsError(200, code, str(answer["error"].get("resultMessage") or code))
    return state, {**(sent or {}), **patch}


def _with(claim: domain.BankClaim, **changes: Any) -> domain.BankClaim:
    values = {name: getattr(claim, name) for name in domain.BankClaim.__dataclass_fields__}
    return domain.BankClaim(**{**values, **changes})


def backoff_s(attempts: int, retry_after_s: float | None) -> float:
    return max(retry_after_s or 0.0, min(2.0**attempts * 0.25, MAX_BACKOFF_S))


async def sync_due(db: Database, client: ClaimsClient, *, limit: int = 50, concurrency: int = 8) -> int:
    """One round: lease the claims whose wanted state the bank lacks and sync them; returns how many."""
    async with db.uow() as uow:
        leased = await repository.lease_due(uow.conn, limit, lease_s=30.0)
        await uow.commit()
    if not leased:
        return 0
    gate = asyncio.Semaphore(concurrency)

    async def one(claim: domain.BankClaim, version: int) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                state, sent = await sync_one(client, claim)
            except IobwsError as exc:
                async with db.uow() as uow:
                    tried = await repository.attempts(uow.conn, claim.claim_id)
                    if exc.transient:
                        retry_in: float | None = backoff_s(tried, exc.retry_after_s)
                        log.warning("bank claim sync will be retried", extra=_log(claim, exc, retry_in))
                    else:
                        retry_in = None
                        log.error("the bank refused a claim", extra=_log(claim, exc, None))
                    await repository.failed(
                        uow.conn,
                        claim.claim_id,
                        error=str(exc),
                        retry_in_s=retry_in,
                        version=version,
                        state=None if exc.transient else "failed",
                    )
                    await uow.commit()
                return
            async with db.uow() as uow:
                # Left open, the bank holds the amounts of the ledger as leased (created or patched
                # to them, or already there); refused as paid or cancelled, it keeps what it had.
                held = claim.ledger_version if state == "open" else None
                await repository.synced(
                    uow.conn, claim.claim_id, version=version, state=state, sent=sent, held_entries=held
                )
                await uow.commit()
            metrics.BANK_CLAIM_SYNC_SECONDS.observe(time.perf_counter() - started)

    await asyncio.gather(*(one(claim, version) for claim, version in leased))
    return len(leased)


async def next_sync_in_s(db: Database) -> float | None:
    """Wall seconds until the sync has work (negative: now); None when the bank holds everything."""
    async with db.connection() as conn:
        return await repository.next_sync_in_s(conn)


def _log(claim: domain.BankClaim, exc: IobwsError, retry_in: float | None) -> dict[str, Any]:
    return {
        "claim_id": str(claim.claim_id),
        "status": exc.status,
        "code": exc.code,
        "detail": exc.detail[:200],
        "retry_in_s": retry_in,
    }


# -- the bank's payments -----------------------------------------------------------------------------


async def poll_payments(db: Database, client: ClaimsClient, clock: Clock) -> int | None:
    """Read the payments booked lately on every claimant's claims at the bank and record the new
    ones; returns how many were new, None when no claim at the bank may be paid (nothing to ask)."""
    async with db.connection() as conn:
        claimants = await repository.claimants_to_poll(conn)
    if not claimants:
        return None
    today = clock.now().date()
    new = 0
    for claimant in claimants:
        # Replicas poll in turn: a claimant another replica is polling now is left to it (its
        # payments would be recorded once anyway; the lock saves the bank the second read).
        async with db.connection() as lock:
            if not await repository.try_lock_poll(lock, claimant):
                continue
            try:
                new += await _poll_claimant(db, client, claimant, today, clock)
            finally:
                await repository.unlock_poll(lock, claimant)
    return new


async def _poll_claimant(db: Database, client: ClaimsClient, claimant: str, today: date, clock: Clock) -> int:
    try:
        reported = await client.claimant_transactions(
            claimant, today - timedelta(days=POLL_DAYS_BACK), today + timedelta(days=1)
        )
    except IobwsError as exc:
        metrics.BANK_CLAIM_CALLS.labels("getClaimsTransactions", "transient" if exc.transient else "refused").inc()
        log.warning("polling the bank's payments failed", extra={"status": exc.status, "code": exc.code})
        return 0
    metrics.BANK_CLAIM_CALLS.labels("getClaimsTransactions", "ok").inc()
    return await record_reported(db, reported, clock.now()) if reported else 0


async def record_reported(db: Database, transactions: Sequence[dict[str, Any]], now: datetime) -> int:
    """Record the payments the bank reported as payments of their claims: each once, by the bank's
    own reference, whether the claims interface or a bank file reports it first."""
    known: list[tuple[domain.ReportedPayment, dict[str, Any], Any]] = []
    async with db.connection() as conn:
        for transaction in transactions:
            try:
                paid = domain.reported_payment(transaction)
            except ValueError as exc:
                # An amount no ledger can book (a fraction of a króna): not rounded, not lost —
                # it stays at the bank, is read again on every poll and said so until it is fixed.
                log.error(
                    "the bank reported a payment Krafa cannot read",
                    extra={
                        "claim": transaction.get("claimKey"),
                        "batch": transaction.get("transactionBatchId"),
                        "reason": str(exc),
                    },
                )
                continue
            key = transaction["claimKey"]
            row = await repository.by_bank_id(
                conn, key["claimantId"], key["account"], datetime.fromisoformat(key["dueDate"]).date()
            )
            if row is None:
                log.warning(
                    "the bank reported a payment of a claim Krafa did not create", extra={"claim": paid.bank_id}
                )
                continue
            known.append((paid, transaction, row))
    if not known:
        return 0
    entries = tuple(
        BankEntry(
            amount_minor=paid.total_minor,
            currency=paid.currency,
            booking_date=paid.booking_date,
            value_date=paid.value_date,
            reference=paid.bank_id.replace("+", ""),
            remittance_text=None,
            bank_ref=paid.batch_id,
            end_to_end_id=None,
            debtor_name=None,
            debtor_account=None,
            entry_index=number,
            detail_index=0,
            line=None,
            # Paid in full at the bank: the payer paid the claim as the bank last held it.
            stated_entries=row["sent_ledger_entries"] if paid.complete else None,
        )
        for number, (paid, _, row) in enumerate(known, start=1)
    )
    parsed = ParsedBankFile(format=FORMAT, account=None, entries=entries)
    read = payments.read_entries(parsed)
    async with db.connection() as conn:
        seen = await repository.recorded(conn, [identity.value for identity in read.identities])
    if all(identity.value in seen for identity in read.identities):
        return 0  # every one recorded before: no import to note

    async def at_the_bank(uow: UnitOfWork, new_rows: list[Any]) -> None:
        new_refs = {row.bank_ref for row in new_rows}
        for (paid, transaction, row), entry_id in zip(known, read.identities, strict=True):
            if not await repository.record_payment(
                uow.conn, identity=entry_id.value, claim_id=row["claim_id"], transaction=transaction, at=now
            ):
                continue
            metrics.BANK_CLAIM_PAYMENTS.labels("complete" if paid.complete else "partial").inc()
            # The ledger has not booked a payment this import announces; one a bank file brought
            # first it may have booked already, and its ClaimBalanceChanged says so.
            await repository.paid_at_bank(
                uow.conn,
                row["claim_id"],
                principal=paid.principal_minor,
                fees=paid.fees_minor,
                interest=paid.interest_minor,
                complete=paid.complete,
                booked_by_ledger=paid.batch_id not in new_refs,
            )

    result = await payments.import_read(db, read, now, source=FORMAT, inside=at_the_bank)
    return result.new
