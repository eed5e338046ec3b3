"""The claim lifecycle after creation: amend, cancel, dispute and resolve, defer, split into
instalments, hold and release (by hand, or on its own at the hold's `until`: HoldExpiry), write
off, and the ledger effects of fees, late interest and payments.

Every use case locks the claim row, checks the state machine (domain.ALLOWED_FROM) before it
writes anything, and then writes the new state, the ledger entry, the history entry and the
event (through the outbox) in the caller's unit of work: they commit together or not at all.
The REST routes and the event handlers (call outcomes) share these functions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from krafa_events import (
    ClaimCancelled,
    ClaimPaid,
    Event,
)
from krafa_events.catalog import (
    ClaimAmended,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimReleased,
    ClaimWrittenOff,
    Instalment,
)
from krafa_kit import errors
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.worker import PollingWorker, Round

from krafa_claims_api import domain, ledger, ledger_repository, repository
from krafa_claims_api.webhooks import enqueue_webhook

log = logging.getLogger(__name__)

CANCELLATION_FEE = "cancellation_fee"
# FeeCharged.kind of the late interest the scheduler accrues at each reminder step.
LATE_INTEREST = "late_interest"
MAX_INSTALMENTS = 60

PAST_TENSE = {
    domain.Action.AMEND: "amended",
    domain.Action.CANCEL: "cancelled",
    domain.Action.DISPUTE: "disputed",
    domain.Action.RESOLVE: "resolved (it is not disputed)",
    domain.Action.DEFER: "deferred",
    domain.Action.SPLIT: "split into instalments",
    domain.Action.HOLD: "held",
    domain.Action.RELEASE: "released (it is not held)",
    domain.Action.WRITE_OFF: "written off",
}


invalid = errors.invalid_field


async def lock_claim(uow: UnitOfWork, creditor_id: UUID, claim_id: UUID) -> asyncpg.Record:
    """The claim, locked for this transaction; another creditor's claim is simply not found."""
    claim = await repository.lock_claim(uow.conn, creditor_id, claim_id)
    if claim is None:
        raise errors.NotFound("no such claim")
    return claim


def check(action: domain.Action, claim: asyncpg.Record) -> None:
    if not domain.allowed(action, claim["status"]):
        raise errors.Conflict(
            f"a {claim['status']} claim cannot be {PAST_TENSE[action]}",
            kind="claim-not-cancellable" if action is domain.Action.CANCEL else "illegal-transition",
            facts={
                "claim_status": claim["status"],
                "action": action.value,
                "allowed_from": sorted(domain.ALLOWED_FROM[action]),
            },
        )


async def emit(uow: UnitOfWork, claim: asyncpg.Record, event: Event, now: datetime, details: dict[str, Any]) -> str:
    event_id = uow.outbox.add(event, time=now)
    await repository.add_history(uow.conn, [(claim["id"], uuid.UUID(event_id), event.TYPE, now, details)])
    return event_id


async def announce_balance(
    uow: UnitOfWork,
    claim: Mapping[str, Any],
    cause: Literal["fee", "interest", "payment", "reversal", "amendment", "write_off"],
    now: datetime,
    payment_id: UUID | None = None,
) -> None:
    """ClaimBalanceChanged with the ledger as it now stands, every entry itemised: called by every
    use case that books an entry changing what the debtor owes, in its transaction. The amounts
    every message states come from here."""
    event = await ledger.balance_changed(uow.conn, claim, cause, now)
    if payment_id is not None:
        event = event.model_copy(update={"payment_id": payment_id})
    uow.outbox.add(event, time=now)


def balance_of(claim: asyncpg.Record) -> domain.Balance:
    return domain.Balance(
        claim["amount_minor"],
        claim["fees_minor"],
        claim["paid_minor"],
        claim["interest_minor"],
        claim["written_off_minor"],
    )


async def amend(
    uow: UnitOfWork,
    creditor_id: UUID,
    claim_id: UUID,
    *,
    amount_minor: int | None,
    due_date: date | None,
    final_due_date: date | None,
    reason: str | None,
    now: datetime,
) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.AMEND, claim)
    new_due = due_date or claim["due_date"]
    if final_due_date is None:
        # Moving the due date keeps the creditor's gap to the final due date.
        final_due_date = new_due + (claim["final_due_date"] - claim["due_date"])
    if final_due_date < new_due:
        raise invalid("/final_due_date", "before the due date")
    if due_date is not None and due_date < claim["issue_date"]:
        raise invalid("/due_date", "before the issue date")
    amount = claim["amount_minor"] if amount_minor is None else amount_minor
    delta = amount - claim["amount_minor"]
    if delta:
        current = await ledger_repository.outstanding(uow.conn, claim_id)
        if current["principal"] + delta < 0:
            raise invalid("/amount_minor", "below what has already been paid towards the principal")
    event = ClaimAmended(
        creditor_id=creditor_id,
        debtor_id=claim["debtor_id"],
        claim_id=claim_id,
        amount_minor=amount,
        currency=claim["currency"],
        due_date=new_due,
        final_due_date=final_due_date,
        reason=reason,
        amended_at=now,
    )
    event_id = await emit(
        uow,
        claim,
        event,
        now,
        {
            "amount_minor": amount,
            "previous_amount_minor": claim["amount_minor"],
            "due_date": new_due.isoformat(),
            "final_due_date": final_due_date.isoformat(),
            "reason": reason,
        },
    )
    if delta:
        await ledger_repository.record(
            uow.conn,
            claim,
            kind="amendment",
            source_id=f"event:{event_id}",
            amount_minor=delta,
            principal_minor=delta,
            occurred_at=now,
            details={"reason": reason},
        )
        await announce_balance(uow, claim, "amendment", now)
    await repository.set_amended(uow.conn, claim_id, amount, new_due, final_due_date, now)


async def cancel(
    uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, reason: str | None, now: datetime, *, resolving: bool = False
) -> bool:
    """Cancel an active claim; False when it was already cancelled (no second effect).

    The creditor's cancellation fee (niðurfellingargjald, Icelandic payment slips (docs/domain.md)) becomes a
    settlement entry with a negative amount, booked to the claim's department: it is deducted from what that
    department is paid out next."""
    claim = await lock_claim(uow, creditor_id, claim_id)
    if claim["status"] == domain.ClaimStatus.CANCELLED and not resolving:
        return False
    if not resolving:
        check(domain.Action.CANCEL, claim)
    if claim["status"] == domain.ClaimStatus.DISPUTED and not resolving:
        # Cancelling a disputed claim upholds the dispute in full: resolved first
        # (ClaimDisputeResolved, outcome cancel), then cancelled — as `resolve` with `cancel`.
        await resolve(uow, creditor_id, claim_id, "cancel", reason, now)
        return True
    creditor = await repository.get_creditor(uow.conn, creditor_id)
    assert creditor is not None
    await repository.set_cancelled(uow.conn, claim_id, reason, now)
    fee = creditor["cancellation_fee_minor"]
    if fee:
        await repository.add_settlement_entry(
            uow.conn, creditor_id, claim_id, CANCELLATION_FEE, -fee, creditor["currency"], now, claim["department"]
        )
    await emit(
        uow,
        claim,
        ClaimCancelled(
            creditor_id=creditor_id, debtor_id=claim["debtor_id"], claim_id=claim_id, reason=reason, cancelled_at=now
        ),
        now,
        {"reason": reason, "cancellation_fee_minor": fee},
    )
    return True


async def dispute(
    uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, reason: str, now: datetime, *, source: str = "creditor"
) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.DISPUTE, claim)
    await repository.set_disputed(uow.conn, claim_id, reason, now)
    await emit(
        uow,
        claim,
        ClaimDisputed(
            creditor_id=creditor_id, debtor_id=claim["debtor_id"], claim_id=claim_id, reason=reason, disputed_at=now
        ),
        now,
        {"reason": reason, "source": source},
    )
    # The creditor decides a dispute (docs/domain.md: SMS, email and phone): tell them.
    await enqueue_webhook(
        uow.conn,
        creditor_id,
        "claim.disputed",
        {"claim_id": str(claim_id), "invoice_no": claim["invoice_no"], "reason": reason, "source": source},
    )


async def resolve(
    uow: UnitOfWork,
    creditor_id: UUID,
    claim_id: UUID,
    outcome: str,
    note: str | None,
    now: datetime,
    *,
    correction: domain.Correction | None = None,
) -> None:
    """The creditor's decision on a dispute: `resume` (rejected, or upheld in part with a
    `correction` booked as an amendment first), or `cancel` (upheld). The amendment's event goes
    out before ClaimDisputeResolved, so the scheduler re-plans the corrected claim."""
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.RESOLVE, claim)
    if correction is not None:
        if outcome == "cancel":
            raise invalid("/correction", "a cancelled claim is not corrected: send the correction with resume")
        if correction.is_empty():
            raise invalid("/correction", "give amount_minor, due_date or final_due_date")
        await amend(
            uow,
            creditor_id,
            claim_id,
            amount_minor=correction.amount_minor,
            due_date=correction.due_date,
            final_due_date=correction.final_due_date,
            reason=note or "dispute upheld in part",
            now=now,
        )
    await emit(
        uow,
        claim,
        ClaimDisputeResolved(
            creditor_id=creditor_id,
            debtor_id=claim["debtor_id"],
            claim_id=claim_id,
            outcome="cancel" if outcome == "cancel" else "resume",
            note=note,
            resolved_at=now,
        ),
        now,
        {"outcome": outcome, "note": note, "corrected": correction is not None},
    )
    if outcome == "cancel":
        await cancel(uow, creditor_id, claim_id, note or "dispute upheld", now, resolving=True)
    else:
        await repository.set_open(uow.conn, claim_id, now)


async def defer(
    uow: UnitOfWork,
    creditor_id: UUID,
    claim_id: UUID,
    due_date: date,
    final_due_date: date | None,
    now: datetime,
    *,
    source: str = "creditor",
) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.DEFER, claim)
    if due_date <= claim["due_date"]:
        raise invalid("/due_date", f"must be after the current due date {claim['due_date'].isoformat()}")
    final = final_due_date or due_date + (claim["final_due_date"] - claim["due_date"])
    if final < due_date:
        raise invalid("/final_due_date", "before the due date")
    await repository.set_deferred(uow.conn, claim_id, due_date, final, now)
    await emit(
        uow,
        claim,
        ClaimDeferred(
            creditor_id=creditor_id,
            debtor_id=claim["debtor_id"],
            claim_id=claim_id,
            due_date=due_date,
            final_due_date=final,
            deferred_at=now,
        ),
        now,
        {
            "due_date": due_date.isoformat(),
            "final_due_date": final.isoformat(),
            "previous_due_date": claim["due_date"].isoformat(),
            "source": source,
        },
    )


async def split(
    uow: UnitOfWork,
    creditor_id: UUID,
    claim_id: UUID,
    instalments: list[tuple[date, int]],
    now: datetime,
    *,
    source: str = "creditor",
) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.SPLIT, claim)
    if not 1 <= len(instalments) <= MAX_INSTALMENTS:
        raise invalid("/instalments", f"between 1 and {MAX_INSTALMENTS} instalments")
    dates = [d for d, _ in instalments]
    if dates != sorted(set(dates)):
        raise invalid("/instalments", "due dates must be distinct and in ascending order")
    if any(amount <= 0 for _, amount in instalments):
        raise invalid("/instalments", "every instalment must be above zero")
    balance = balance_of(claim).balance_minor
    if not domain.instalments_cover(balance, [a for _, a in instalments]):
        raise invalid(
            "/instalments",
            f"the instalments add up to {sum(a for _, a in instalments)}, the balance is {balance}",
        )
    await repository.replace_instalments(uow.conn, claim_id, instalments, now)
    await emit(
        uow,
        claim,
        ClaimInstalmentPlanAgreed(
            creditor_id=creditor_id,
            debtor_id=claim["debtor_id"],
            claim_id=claim_id,
            currency=claim["currency"],
            instalments=tuple(Instalment(due_date=d, amount_minor=a) for d, a in instalments),
            agreed_at=now,
        ),
        now,
        {
            "instalments": [{"due_date": d.isoformat(), "amount_minor": a} for d, a in instalments],
            "source": source,
        },
    )


async def hold(
    uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, until: datetime | None, reason: str | None, now: datetime
) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.HOLD, claim)
    if until is not None and until <= now:
        raise invalid("/until", "must be in the future")
    await repository.set_held(uow.conn, claim_id, until, now)
    await emit(
        uow,
        claim,
        ClaimHeld(
            creditor_id=creditor_id,
            debtor_id=claim["debtor_id"],
            claim_id=claim_id,
            until=until,
            reason=reason,
            held_at=now,
        ),
        now,
        {"until": until.isoformat() if until else None, "reason": reason},
    )


async def release(uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, now: datetime) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.RELEASE, claim)
    await _release(uow, claim, now, {})


async def _release(uow: UnitOfWork, claim: asyncpg.Record, now: datetime, details: dict[str, Any]) -> None:
    await repository.set_released(uow.conn, claim["id"], now)
    await emit(
        uow,
        claim,
        ClaimReleased(
            creditor_id=claim["creditor_id"], debtor_id=claim["debtor_id"], claim_id=claim["id"], released_at=now
        ),
        now,
        details,
    )


HOLD_EXPIRED = "hold expired"


async def release_expired_holds(uow: UnitOfWork, now: datetime, limit: int) -> int:
    """Release up to `limit` held claims whose `until` has passed, as a manual release does
    (ClaimReleased, history with reason "hold expired"); returns how many. SKIP LOCKED lets
    several replicas share the work: a claim locked by one is skipped by the others, and once
    released it no longer matches, so each hold ends exactly once."""
    claims = await repository.lock_expired_holds(uow.conn, now, limit)
    for claim in claims:
        await _release(uow, claim, now, {"reason": HOLD_EXPIRED, "until": claim["held_until"].isoformat()})
    return len(claims)


async def next_hold_expiry(conn: asyncpg.Connection) -> datetime | None:
    return await repository.next_hold_expiry(conn)


class HoldExpiry(PollingWorker):
    """Background loop ending holds at their `until` on the service's clock. It sleeps until the
    next `until` (simulated clocks run days in seconds) or until a hold is placed (the NOTIFY of
    repository.set_held, through Runtime.wake_on_due), never longer than `poll_interval_s`."""

    name = "hold expiry"

    def __init__(self, db: Database, clock: Clock, *, poll_interval_s: float = 30.0, batch_size: int = 200) -> None:
        super().__init__(poll_interval_s)
        self.db = db
        self.clock = clock
        self.batch_size = batch_size
        self.released = 0

    async def round(self) -> Round:
        released, upcoming = await self.release_due()
        due_in = None if upcoming is None else self.clock.wall_seconds(upcoming - self.clock.now())
        return Round(released, more=released >= self.batch_size, next_due_in_s=due_in)

    async def release_due(self) -> tuple[int, datetime | None]:
        """One batch in one transaction; also returns the next `until` still ahead."""
        async with self.db.uow() as uow:
            released = await release_expired_holds(uow, self.clock.now(), self.batch_size)
            await uow.commit()
        async with self.db.connection() as conn:
            upcoming = await next_hold_expiry(conn)
        if released:
            self.released += released
            log.info("holds expired", extra={"released": released})
        return released, upcoming


async def write_off(uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, reason: str | None, now: datetime) -> None:
    claim = await lock_claim(uow, creditor_id, claim_id)
    check(domain.Action.WRITE_OFF, claim)
    current = await ledger_repository.outstanding(uow.conn, claim_id)
    amount = max(current["principal"] + current["fees"] + current["interest"], 0)
    event_id = await emit(
        uow,
        claim,
        ClaimWrittenOff(
            creditor_id=creditor_id,
            debtor_id=claim["debtor_id"],
            claim_id=claim_id,
            amount_minor=amount,
            currency=claim["currency"],
            reason=reason,
            written_off_at=now,
        ),
        now,
        {"amount_minor": amount, "reason": reason},
    )
    await ledger_repository.record(
        uow.conn,
        claim,
        kind="write_off",
        source_id=f"event:{event_id}",
        amount_minor=amount,
        principal_minor=-max(current["principal"], 0),
        fees_minor=-max(current["fees"], 0),
        interest_minor=-max(current["interest"], 0),
        occurred_at=now,
        details={"reason": reason},
    )
    await announce_balance(uow, claim, "write_off", now)
    await repository.set_written_off(uow.conn, claim_id, amount, now)


async def waiver_reason(conn: asyncpg.Connection, claim: Mapping[str, Any], charged_at: datetime) -> str | None:
    """Why a charge arriving now is not booked on this claim, or None. A step can fire in the
    moment between a claim being settled and the scheduler hearing of it (or while an outage holds
    that news back): its fee and interest are not owed for a claim settled before the step, and a
    written-off claim is collected no further. A charge from before the settlement is booked (it
    was owed). A payment counts from when it was received, not from when it was booked here."""
    status = claim["status"]
    if status == "written_off":
        return "claim written off"
    if status == "paid":
        received = await ledger_repository.last_payment_at(conn, claim["id"]) or claim["paid_at"]
        if received is not None and received <= charged_at:
            return "claim paid before the step"
    if status == "cancelled" and claim["cancelled_at"] is not None and claim["cancelled_at"] <= charged_at:
        return "claim cancelled before the step"
    return None


async def waive_charges_after(
    uow: UnitOfWork, claim: asyncpg.Record, received_at: datetime, amount_minor: int, current: dict[str, int]
) -> dict[str, int]:
    """The other order of the race `waiver_reason` covers: charges of steps that fired after this
    payment was received, booked before it. When the payment settles the claim as it stood at its
    receipt, those charges were never owed and are waived (a `waiver` entry each, idempotent);
    otherwise the steps were due and their charges stand. Returns what is outstanding after."""
    if amount_minor <= 0 or claim["status"] not in domain.ACTIVE:
        return current
    late = await ledger_repository.charges_after(uow.conn, claim["id"], received_at)
    if not late:
        return current
    late_fees = sum(int(r["fees_minor"]) for r in late)
    late_interest = sum(int(r["interest_minor"]) for r in late)
    owed_at_receipt = current["principal"] + current["fees"] + current["interest"] - late_fees - late_interest
    if amount_minor < owed_at_receipt:
        return current
    for row in late:
        await _waive(
            uow,
            claim,
            row,
            row["fees_minor"],
            row["interest_minor"],
            received_at,
            "charged after the payment was received",
        )
    await repository.reduce_charges(uow.conn, claim["id"], late_fees, late_interest)
    return await ledger_repository.outstanding(uow.conn, claim["id"])


async def _waive(
    uow: UnitOfWork,
    claim: asyncpg.Record,
    charge: asyncpg.Record,
    fees_minor: int,
    interest_minor: int,
    at: datetime,
    reason: str,
    **details: Any,
) -> None:
    """One `waiver` entry taking back (some of) a charge, idempotent by the charge's source id."""
    await ledger_repository.record(
        uow.conn,
        claim,
        kind="waiver",
        source_id="waiver:" + charge["source_id"],
        amount_minor=-(fees_minor + interest_minor),
        fees_minor=-fees_minor,
        interest_minor=-interest_minor,
        occurred_at=at,
        details={**dict(charge["details"]), "waived": reason, **details},
    )


async def hold_to_statement(
    uow: UnitOfWork,
    claim: asyncpg.Record,
    received_at: datetime,
    amount_minor: int,
    current: dict[str, int],
    stated_entries: int,
) -> dict[str, int]:
    """A payment of the whole balance as Krafa stated it to the payer (a card checkout for all
    that was due, the claim in their netbank paid in full) settles the claim: the payer paid what
    they were asked. Charges booked after that statement (its ledger had `stated_entries`
    entries) — a step whose fee reached the ledger while the netbank still showed the old amount,
    or after the checkout was opened — are waived as far as the payment falls short, newest first;
    one the payer did pay (the bank had the new amount after all) stands. A payment short of the
    statement itself is a partial payment, and every charge stands. Returns what is outstanding."""
    if amount_minor <= 0 or claim["status"] not in domain.ACTIVE:
        return current
    short = current["principal"] + current["fees"] + current["interest"] - amount_minor
    if short <= 0:
        return current
    beyond = await ledger_repository.charges_beyond(uow.conn, claim["id"], stated_entries)
    if short > sum(int(r["fees_minor"]) + int(r["interest_minor"]) for r in beyond):
        return current
    fees = interest = 0
    for row in reversed(beyond):
        if short <= 0:
            break
        charged = int(row["fees_minor"]) + int(row["interest_minor"])
        take = min(charged, short)
        short -= take
        fee = take if row["fees_minor"] else 0  # a charge is a fee or late interest, never both
        fees, interest = fees + fee, interest + take - fee
        await _waive(
            uow,
            claim,
            row,
            fee,
            take - fee,
            received_at,
            "booked after the balance the payer paid in full was stated to them",
            **({"waived_minor": take} if take != charged else {}),
        )
    await repository.reduce_charges(uow.conn, claim["id"], fees, interest)
    return await ledger_repository.outstanding(uow.conn, claim["id"])


async def charge_fee(
    uow: UnitOfWork,
    claim: asyncpg.Record,
    *,
    fee_id: UUID,
    kind: str,
    amount_minor: int,
    step: int,
    charged_at: datetime,
    interest_terms: Mapping[str, str] | None = None,
) -> bool:
    """Add a dunning charge to the claim (idempotent by fee_id); False on a replay. Late interest
    is the ledger's interest component (kind "interest", claims.interest_minor) and keeps the rate
    and the days it covers (`interest_terms`: rate_pct, interest_from, interest_to) for the message
    that states it; every other kind is a fee. Both go on the balance, and payments cover them in
    the jurisdiction's order (domain.ALLOCATION_ORDER)."""
    interest = kind == LATE_INTEREST
    if await waiver_reason(uow.conn, claim, charged_at) is not None:
        return False
    added = await ledger_repository.record(
        uow.conn,
        claim,
        kind="interest" if interest else "fee",
        source_id=f"fee:{fee_id}",
        amount_minor=amount_minor,
        fees_minor=0 if interest else amount_minor,
        interest_minor=amount_minor if interest else 0,
        occurred_at=charged_at,
        details={"fee_kind": kind, "step": step, "fee_id": str(fee_id), **(interest_terms or {})},
    )
    if added:
        await repository.add_charge(uow.conn, claim["id"], amount_minor, charged_at, interest=interest)
        await announce_balance(uow, claim, "interest" if interest else "fee", charged_at)
    return added


WATCH_COMMISSION = "watch_commission"


async def _watch_split(
    uow: UnitOfWork, claim: Mapping[str, Any], allocation: domain.Allocation, occurred_at: datetime
) -> domain.WatchSplit | None:
    """How a payment received in claim watch is shared between creditor and agency (None outside
    claim watch: a payment with a value date before the watch started is the creditor's alone).
    What is split is what the payment collected on the claim — fees, interest and principal — not
    an overpayment, which goes back to the debtor. A reversal takes back at most the commission
    booked so far, so reversing a payment from before the watch costs the agency nothing."""
    started = claim["watch_started_at"]
    share = claim["watch_creditor_share_pct"]
    if started is None or share is None or occurred_at < started:
        return None
    collected = allocation.fees_minor + allocation.interest_minor + allocation.principal_minor
    split = domain.watch_split(collected, share)
    if collected < 0:
        earned = -await repository.settlement_total(uow.conn, claim["id"], WATCH_COMMISSION)
        agency = max(split.agency_minor, -earned)
        split = domain.WatchSplit(collected, collected - agency, agency)
    return split


def _split_details(claim: Mapping[str, Any], split: domain.WatchSplit) -> dict[str, Any]:
    return {
        "creditor_share_pct": claim["watch_creditor_share_pct"],
        "collected_minor": split.collected_minor,
        "creditor_minor": split.creditor_minor,
        "agency_minor": split.agency_minor,
        "watch_started_at": claim["watch_started_at"].isoformat(),
    }


async def record_payment(
    uow: UnitOfWork,
    claim: asyncpg.Record,
    *,
    source_id: str,
    jurisdiction: str,
    amount_minor: int,
    details: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
) -> bool:
    """Allocate a payment over the claim's ledger (fees → interest → principal, excess recorded
    as overpaid) and settle the claim when nothing is left; True when it settled it. A replayed
    source is a no-op."""
    current = await ledger_repository.outstanding(uow.conn, claim["id"])
    if await ledger_repository.has_entry(uow.conn, claim["id"], source_id):
        return False  # a replay: nothing to waive or allocate
    current = await waive_charges_after(uow, claim, occurred_at, amount_minor, current)
    if (stated := details.get("stated_entries")) is not None:
        current = await hold_to_statement(uow, claim, occurred_at, amount_minor, current, int(stated))
    allocation, deltas = ledger.payment_allocation(jurisdiction, amount_minor, current)
    split = await _watch_split(uow, claim, allocation, occurred_at)
    added = await ledger_repository.record(
        uow.conn,
        claim,
        kind="payment" if amount_minor >= 0 else "reversal",
        source_id=source_id,
        amount_minor=amount_minor,
        occurred_at=occurred_at,
        details={
            **details,
            "allocated": {
                "fees_minor": allocation.fees_minor,
                "interest_minor": allocation.interest_minor,
                "principal_minor": allocation.principal_minor,
                "overpaid_minor": allocation.overpaid_minor,
            },
            **({"watch_split": _split_details(claim, split)} if split is not None else {}),
        },
        **deltas,
    )
    if not added:
        return False
    if split is not None and split.agency_minor:
        # The agency's commission is deducted from what the creditor is paid out for the claim.
        await repository.add_settlement_entry(
            uow.conn,
            claim["creditor_id"],
            claim["id"],
            WATCH_COMMISSION,
            -split.agency_minor,
            claim["currency"],
            now,
            claim["department"],
            source_id,
        )
    paid = claim["paid_minor"] + amount_minor
    remaining = sum(current[k] for k in ("principal", "fees", "interest")) + sum(
        deltas[k] for k in ("principal_minor", "fees_minor", "interest_minor")
    )
    settles = claim["status"] in domain.ACTIVE and remaining <= 0
    await repository.set_paid(uow.conn, claim["id"], paid, settles=settles, now=now)
    payment_id = details.get("payment_id")
    await announce_balance(
        uow,
        claim,
        "payment" if amount_minor >= 0 else "reversal",
        now,
        payment_id=UUID(str(payment_id)) if payment_id else None,
    )
    if settles:
        overpaid = current["overpaid"] + allocation.overpaid_minor
        await emit(
            uow,
            claim,
            ClaimPaid(
                creditor_id=claim["creditor_id"],
                debtor_id=claim["debtor_id"],
                claim_id=claim["id"],
                amount_paid_minor=paid,
                overpaid_minor=overpaid,
                currency=claim["currency"],
                paid_at=now,
            ),
            now,
            {"amount_paid_minor": paid, "overpaid_minor": overpaid},
        )
        await enqueue_webhook(
            uow.conn,
            claim["creditor_id"],
            "claim.paid",
            {
                "claim_id": str(claim["id"]),
                "invoice_no": claim["invoice_no"],
                "amount_paid_minor": paid,
                "overpaid_minor": overpaid,
                "currency": claim["currency"],
                "paid_at": now.isoformat(),
            },
        )
    return settles
