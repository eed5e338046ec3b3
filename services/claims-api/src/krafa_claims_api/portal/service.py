"""Use cases of the debtor's own actions and the creditor's decisions on them. The portal's
actions run the claim lifecycle's own use cases (`source: debtor`): the same state machine,
events, history and webhooks as the creditor's REST call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

import asyncpg
from krafa_events.catalog import ClaimDeferred, ClaimInstalmentPlanAgreed
from krafa_kit import errors
from krafa_kit.db import UnitOfWork

from krafa_claims_api import domain as claims_domain
from krafa_claims_api import lifecycle, repository
from krafa_claims_api.portal import domain
from krafa_claims_api.portal import repository as portal_repository
from krafa_claims_api.webhooks import enqueue_webhook

DEBTOR = "debtor"
REQUEST_APPROVED = "debtor_request"
ARRANGEMENT_REQUESTED = domain.ARRANGEMENT_REQUESTED
ARRANGEMENT_DECIDED = domain.ARRANGEMENT_DECIDED

NOT_FOUND = errors.NotFound("no such claim")


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: Literal["granted", "requested"]
    request_id: UUID | None
    reasons: tuple[str, ...]


async def debtor_claim(uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, claim_id: UUID) -> asyncpg.Record:
    """The claim locked, if it is this debtor's; another debtor's claim is simply not found."""
    claim = await lifecycle.lock_claim(uow, creditor_id, claim_id)
    if claim["debtor_id"] != debtor_id:
        raise NOT_FOUND
    return claim


async def dispute(
    uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, claim_id: UUID, reason: str, now: datetime
) -> None:
    await debtor_claim(uow, creditor_id, debtor_id, claim_id)
    await lifecycle.dispute(uow, creditor_id, claim_id, reason, now, source=DEBTOR)


async def arrange(
    uow: UnitOfWork,
    creditor_id: UUID,
    debtor_id: UUID,
    claim_id: UUID,
    *,
    kind: domain.Kind,
    due_date: date | None,
    count: int | None,
    first_due: date | None,
    note: str | None,
    now: datetime,
) -> Outcome:
    """A deferral or an instalment plan asked for by the debtor: granted at once within the
    creditor's self-service terms, else filed as a request for the creditor to decide."""
    claim = await debtor_claim(uow, creditor_id, debtor_id, claim_id)
    action = claims_domain.Action.DEFER if kind is domain.Kind.DEFERRAL else claims_domain.Action.SPLIT
    lifecycle.check(action, claim)
    if await portal_repository.pending_request(uow.conn, claim_id) is not None:
        raise errors.Conflict("a request for this claim is already waiting for the creditor", kind="request-pending")
    terms = await portal_repository.terms(uow.conn, creditor_id, claim["department"])
    used = await portal_repository.self_service_used(uow.conn, claim_id)
    today = now.date()
    plan: list[tuple[date, int]] | None = None
    if kind is domain.Kind.DEFERRAL:
        if due_date is None:
            raise lifecycle.invalid("/body/due_date", "the new due date is required")
        if due_date <= max(claim["due_date"], today):
            raise lifecycle.invalid("/body/due_date", "must be after today and after the current due date")
        verdict = domain.deferral_verdict(terms, due_date, today, used=ClaimDeferred.family() in used)
    else:
        if count is None or not 2 <= count <= lifecycle.MAX_INSTALMENTS:
            raise lifecycle.invalid("/body/count", f"between 2 and {lifecycle.MAX_INSTALMENTS} instalments")
        first = first_due or today
        if first < today:
            raise lifecycle.invalid("/body/first_due_date", "must not be in the past")
        balance = lifecycle.balance_of(claim).balance_minor
        try:
            plan = domain.propose_plan(balance, count, first, terms.interval_days)
        except ValueError as exc:
            raise lifecycle.invalid("/body/count", str(exc)) from exc
        verdict = domain.plan_verdict(terms, plan, today, used=ClaimInstalmentPlanAgreed.family() in used)
    if verdict.within:
        if plan is None:
            assert due_date is not None
            await lifecycle.defer(uow, creditor_id, claim_id, due_date, None, now, source=DEBTOR)
        else:
            await lifecycle.split(uow, creditor_id, claim_id, plan, now, source=DEBTOR)
        return Outcome("granted", None, ())
    if not terms.requests_allowed:
        raise errors.Invalid(
            "; ".join(verdict.reasons),
            kind="beyond-terms",
            title="Beyond the creditor's terms",
            facts={"reasons": list(verdict.reasons)},
        )
    request_id = uuid.uuid4()
    await portal_repository.insert_request(
        uow.conn,
        request_id=request_id,
        claim=claim,
        kind=kind.value,
        due_date=due_date if plan is None else None,
        instalments=plan,
        note=note,
        reasons=verdict.reasons,
        now=now,
    )
    details = {
        "request_id": str(request_id),
        "kind": kind.value,
        "due_date": due_date.isoformat() if due_date and plan is None else None,
        "instalments": [{"due_date": d.isoformat(), "amount_minor": a} for d, a in plan or []],
        "reasons": list(verdict.reasons),
        "note": note,
        "source": "debtor_request",
    }
    await repository.add_history(uow.conn, [(claim_id, uuid.uuid4(), ARRANGEMENT_REQUESTED, now, details)])
    # The creditor decides (docs/domain.md: SMS, email and phone): tell them, as for a dispute.
    await enqueue_webhook(
        uow.conn,
        creditor_id,
        "arrangement.requested",
        {"claim_id": str(claim_id), "invoice_no": claim["invoice_no"], **details},
    )
    return Outcome("requested", request_id, verdict.reasons)


async def decide(
    uow: UnitOfWork, creditor_id: UUID, request_id: UUID, *, approve: bool, note: str | None, now: datetime
) -> asyncpg.Record:
    """The creditor approves (the arrangement is made through the lifecycle) or refuses a
    request. A decided request cannot be decided again."""
    request = await portal_repository.get_request(uow.conn, creditor_id, request_id, lock=True)
    if request is None:
        raise errors.NotFound("no such arrangement request")
    if request["status"] != "pending":
        raise errors.Conflict(f"the request was already {request['status']}", kind="decided")
    claim_id = request["claim_id"]
    if approve:
        if request["kind"] == domain.Kind.DEFERRAL:
            await lifecycle.defer(uow, creditor_id, claim_id, request["due_date"], None, now, source=REQUEST_APPROVED)
        else:
            claim = await lifecycle.lock_claim(uow, creditor_id, claim_id)
            asked = portal_repository.instalments_of(request)
            balance = lifecycle.balance_of(claim).balance_minor
            plan = asked
            if sum(a for _, a in asked) != balance:
                # Fees or payments since the request: the same dates, the balance as it is now.
                plan = _rescaled(asked, balance)
            await lifecycle.split(uow, creditor_id, claim_id, plan, now, source=REQUEST_APPROVED)
    status = "approved" if approve else "refused"
    await portal_repository.decide_request(uow.conn, request_id, status, note, now)
    await repository.add_history(
        uow.conn,
        [
            (
                claim_id,
                uuid.uuid4(),
                ARRANGEMENT_DECIDED,
                now,
                {"request_id": str(request_id), "status": status, "note": note},
            )
        ],
    )
    decided = await portal_repository.get_request(uow.conn, creditor_id, request_id)
    assert decided is not None
    return decided


def _rescaled(asked: list[tuple[date, int]], balance: int) -> list[tuple[date, int]]:
    if balance < len(asked):
        raise errors.Conflict("the balance is too small for this plan now", kind="stale")
    share, remainder = divmod(balance, len(asked))
    return [(d, share + (remainder if i == 0 else 0)) for i, (d, _) in enumerate(asked)]
