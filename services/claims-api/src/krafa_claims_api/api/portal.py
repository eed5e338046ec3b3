"""Routes of the debtor portal (`/v1/portal/…`, called by the web service with
KRAFA_PORTAL_TOKEN on behalf of a logged-in debtor) and the creditor's side of it: self-service
terms and arrangement requests (API key).

Every portal route names the creditor and the debtor from the web's session and answers 404 for
anything that is not that debtor's, so a fault in the web cannot show one debtor another's
claims. The actions run the lifecycle's use cases with `source: debtor`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from krafa_kit.db import UnitOfWork
from krafa_kit.http import Problem, operator_allowed, problems

from krafa_claims_api import repository
from krafa_claims_api.api.debtor_schemas import DebtorExport, DebtorExportOut, DebtorOut, PersonalDataRequestOut
from krafa_claims_api.api.debtors import export_debtor, read_export, start_export
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, IdempotencyKey, Reader, bearer
from krafa_claims_api.api.idempotency import idempotent
from krafa_claims_api.api.lifecycle import get_ledger, get_timeline
from krafa_claims_api.api.portal_schemas import (
    ArrangementIn,
    ArrangementOut,
    CreditorOut,
    DecisionIn,
    IdentityIn,
    IdentityMatch,
    IdentityOut,
    PortalClaimDetailOut,
    PortalClaimOut,
    PortalClaimsOut,
    PortalContactIn,
    PortalDebtorOut,
    PortalDisputeIn,
    PortalOptOutIn,
    RequestOut,
    RequestsOut,
    TermsIn,
    TermsOut,
)
from krafa_claims_api.api.routes import claim_out
from krafa_claims_api.debtors import domain as debtor_domain
from krafa_claims_api.debtors import service as debtor_service
from krafa_claims_api.portal import domain, service
from krafa_claims_api.portal import repository as portal_repository
from krafa_claims_api.service import Caller

PORTAL_SOURCE = "debtor portal"


def require_portal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    settings = request.app.state.settings
    if not operator_allowed(settings, settings.portal_token, credentials.credentials if credentials else None):
        raise Problem(401, "Unauthorized", "the portal token is required", headers={"WWW-Authenticate": "Bearer"})


portal = APIRouter(prefix="/v1/portal", tags=["debtor portal"], dependencies=[Depends(require_portal)])
DEBTOR = "/creditors/{creditor_id}/debtors/{debtor_id}"
RESPONSES = problems(401, 404, 422)


async def known_debtor(creditor_id: UUID, debtor_id: UUID, db: DB) -> None:
    """404 before anything is stored (an Idempotency-Key is kept per creditor) for a creditor or
    debtor that does not exist, as for another creditor's debtor."""
    async with db.connection() as conn:
        await debtor_service.get_debtor(conn, creditor_id, debtor_id)


KNOWN_DEBTOR = [Depends(known_debtor)]


def _reader(creditor_id: UUID) -> Caller:
    return Caller(creditor_id=creditor_id, scopes=frozenset({"read"}))


async def _requests(conn: Any, claim_ids: list[UUID]) -> dict[UUID, list[RequestOut]]:
    by_claim: dict[UUID, list[RequestOut]] = {}
    for row in await portal_repository.requests_for_claims(conn, claim_ids):
        by_claim.setdefault(row["claim_id"], []).append(RequestOut.of(row))
    return by_claim


@portal.get(
    DEBTOR, response_model=PortalDebtorOut, summary="The debtor, their creditor and its terms", responses=RESPONSES
)
async def portal_debtor(creditor_id: UUID, debtor_id: UUID, db: DB) -> PortalDebtorOut:
    """Called by the web service for a logged-in debtor (service token): the debtor's details, their creditor
    and the creditor's self-service terms."""
    async with db.connection() as conn:
        debtor = await debtor_service.get_debtor(conn, creditor_id, debtor_id)
        creditor = await repository.get_creditor(conn, creditor_id)
        terms = await portal_repository.terms(conn, creditor_id, None)
    assert creditor is not None
    return PortalDebtorOut(
        creditor=CreditorOut(
            id=creditor["id"],
            name=creditor["name"],
            country=creditor["country"],
            currency=creditor["currency"],
            contact_phone=creditor["contact_phone"],
            payment_account=creditor["payment_account"],
            sender_email=creditor["sender_email"],
        ),
        debtor=DebtorOut.of(debtor),
        terms=TermsOut(**_terms_fields(terms)),
    )


def _terms_fields(terms: domain.Terms) -> dict[str, Any]:
    return {f: getattr(terms, f) for f in portal_repository.TERM_FIELDS}


@portal.get(
    DEBTOR + "/claims", response_model=PortalClaimsOut, summary="Every claim of the debtor", responses=RESPONSES
)
async def portal_claims(creditor_id: UUID, debtor_id: UUID, db: DB) -> PortalClaimsOut:
    """Called by the web service for a logged-in debtor (service token): every claim the creditor has against
    the debtor, open and closed."""
    async with db.connection() as conn:
        await debtor_service.get_debtor(conn, creditor_id, debtor_id)
        rows = await portal_repository.debtor_claims(conn, creditor_id, debtor_id)
        creditor = await repository.get_creditor(conn, creditor_id)
        requests = await _requests(conn, [r["id"] for r in rows])
        items = [
            PortalClaimOut(
                claim=claim_out(row, None, await repository.instalments(conn, row["id"])),
                jurisdiction=creditor["country"] if creditor else "",
                requests=requests.get(row["id"], []),
            )
            for row in rows
        ]
    return PortalClaimsOut(items=items)


@portal.get(
    DEBTOR + "/claims/{claim_id}",
    response_model=PortalClaimDetailOut,
    summary="One claim of the debtor with its ledger, timeline and requests",
    responses=RESPONSES,
)
async def portal_claim(creditor_id: UUID, debtor_id: UUID, claim_id: UUID, db: DB) -> PortalClaimDetailOut:
    """Called by the web service for a logged-in debtor (service token): one claim with its ledger, timeline
    and the debtor's own requests."""
    async with db.connection() as conn:
        row = await repository.get_claim(conn, creditor_id, claim_id)
        if row is None or row["debtor_id"] != debtor_id:
            raise service.NOT_FOUND
        creditor = await repository.get_creditor(conn, creditor_id)
        history = await repository.history(conn, claim_id)
        instalments = await repository.instalments(conn, claim_id)
        requests = await _requests(conn, [claim_id])
    return PortalClaimDetailOut(
        claim=claim_out(row, history, instalments),
        jurisdiction=creditor["country"] if creditor else "",
        requests=requests.get(claim_id, []),
        ledger=await get_ledger(claim_id, _reader(creditor_id), db),
        timeline=await get_timeline(claim_id, _reader(creditor_id), db),
    )


@portal.post(
    DEBTOR + "/claims/{claim_id}/dispute",
    dependencies=KNOWN_DEBTOR,
    response_model=PortalClaimOut,
    summary="The debtor objects: collection pauses at once and the creditor is notified (ClaimDisputed)",
    responses=problems(401, 404, 409, 422),
)
async def portal_dispute(
    request: Request,
    creditor_id: UUID,
    debtor_id: UUID,
    claim_id: UUID,
    body: PortalDisputeIn,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Called by the web service for a logged-in debtor (service token): records the debtor's objection,
    pauses reminders at once and notifies the creditor (ClaimDisputed and the claim.disputed webhook)."""

    async def action(uow: UnitOfWork) -> PortalClaimOut:
        await service.dispute(uow, creditor_id, debtor_id, claim_id, body.reason, clock.now())
        row = await repository.get_claim(uow.conn, creditor_id, claim_id)
        assert row is not None
        return PortalClaimOut(claim=claim_out(row), jurisdiction="", requests=[])

    return await idempotent(request, db, clock, _reader(creditor_id), idempotency_key, 200, action)


@portal.post(
    DEBTOR + "/claims/{claim_id}/arrangements",
    dependencies=KNOWN_DEBTOR,
    response_model=ArrangementOut,
    summary="A deferral or an instalment plan: granted within the creditor's terms, else a request",
    description="Within the terms: ClaimDeferred or ClaimInstalmentPlanAgreed at once (`outcome: granted`). "
    "Beyond them: a request the creditor approves or refuses (`outcome: requested`, webhook "
    "`arrangement.requested`), or 422 `beyond-terms` when the creditor takes no requests.",
    responses=problems(401, 404, 409, 422),
)
async def portal_arrange(
    request: Request,
    creditor_id: UUID,
    debtor_id: UUID,
    claim_id: UUID,
    body: ArrangementIn,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def action(uow: UnitOfWork) -> ArrangementOut:
        outcome = await service.arrange(
            uow,
            creditor_id,
            debtor_id,
            claim_id,
            kind=domain.Kind(body.kind),
            due_date=body.due_date,
            count=body.count,
            first_due=body.first_due_date,
            note=body.note,
            now=clock.now(),
        )
        row = await repository.get_claim(uow.conn, creditor_id, claim_id)
        assert row is not None
        instalments = await repository.instalments(uow.conn, claim_id)
        return ArrangementOut(
            outcome=outcome.outcome,
            request_id=outcome.request_id,
            reasons=list(outcome.reasons),
            claim=claim_out(row, None, instalments),
        )

    return await idempotent(request, db, clock, _reader(creditor_id), idempotency_key, 200, action)


@portal.post(
    DEBTOR + "/contact-points",
    dependencies=KNOWN_DEBTOR,
    response_model=DebtorOut,
    status_code=201,
    summary="A contact point the debtor verified (by a one-time code) and consented to",
    description="Added with `origin: debtor_opt_in`, verified, and the debtor's consent (source, time, terms "
    "version) recorded; it becomes the address reminders use (DebtorUpdated). A netbank opt-in has no value.",
    responses=problems(401, 404, 422),
)
async def portal_add_contact(
    request: Request,
    creditor_id: UUID,
    debtor_id: UUID,
    body: PortalContactIn,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    now = clock.now()

    async def action(uow: UnitOfWork) -> DebtorOut:
        debtor = await debtor_service.get_debtor(uow.conn, creditor_id, debtor_id)
        kind = debtor_domain.ContactKind(body.kind)
        try:
            value = debtor_domain.contact_value(kind, body.value, debtor.master["country"])
        except debtor_domain.InvalidValue as exc:
            raise debtor_service.invalid(debtor_domain.InvalidValue("value", exc.message), "/body") from exc
        offer = debtor_domain.ContactOffer(
            kind,
            value,
            origin=debtor_domain.ContactOrigin.DEBTOR_OPT_IN,
            verified=True,
            consent=debtor_domain.Consent(body.consent_source, now, body.terms_version),
            source_if_new=PORTAL_SOURCE,
        )
        debtor, _ = await debtor_service.add_contact(uow, creditor_id, debtor_id, offer, now)
        return DebtorOut.of(debtor)

    return await idempotent(request, db, clock, _reader(creditor_id), idempotency_key, 201, action)


@portal.post(
    DEBTOR + "/contact-points/{contact_id}/opt-out",
    dependencies=KNOWN_DEBTOR,
    response_model=DebtorOut,
    summary="The debtor revokes a contact point (and its consent): it is not used again",
    responses=problems(401, 404, 422),
)
async def portal_opt_out(
    request: Request,
    creditor_id: UUID,
    debtor_id: UUID,
    contact_id: UUID,
    body: PortalOptOutIn,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Called by the web service for a logged-in debtor (service token): the debtor withdraws a contact point
    and its consent; it is not used again unless they opt in."""

    async def action(uow: UnitOfWork) -> DebtorOut:
        debtor, _ = await debtor_service.change_contact(
            uow, creditor_id, debtor_id, contact_id, clock.now(), opt_out=True, opt_out_reason=body.reason
        )
        return DebtorOut.of(debtor)

    return await idempotent(request, db, clock, _reader(creditor_id), idempotency_key, 200, action)


@portal.get(
    DEBTOR + "/export",
    response_model=DebtorExport,
    summary="Everything held on the debtor for this creditor (GDPR access)",
    responses=RESPONSES,
)
async def portal_export(creditor_id: UUID, debtor_id: UUID, db: DB, clock: CurrentClock) -> DebtorExport:
    """Called by the web service for a logged-in debtor (service token): everything held on the debtor for
    this creditor (GDPR access), as the creditor's export shows it."""
    return await export_debtor(debtor_id, _reader(creditor_id), db, clock)


@portal.post(
    DEBTOR + "/exports",
    response_model=PersonalDataRequestOut,
    status_code=202,
    summary="Ask every service for what it holds on the debtor (the debtor's own GDPR access)",
    description="As the creditor's POST /v1/debtors/{debtor_id}/exports, for the logged-in debtor: poll `Location` "
    "until `status` is `complete`.",
    responses=RESPONSES,
    dependencies=KNOWN_DEBTOR,
)
async def portal_request_export(
    request: Request,
    creditor_id: UUID,
    debtor_id: UUID,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Called by the web service when a logged-in debtor downloads their data (service token): every
    service's part, as the creditor's export gathers it, not claims-api's alone."""
    exports = f"/v1/portal/creditors/{creditor_id}/debtors/{debtor_id}/exports"
    return await start_export(request, debtor_id, _reader(creditor_id), db, clock, idempotency_key, exports)


@portal.get(
    DEBTOR + "/exports/{export_id}",
    response_model=DebtorExportOut,
    summary="The debtor's export: claims-api's part and every service's part as they arrive",
    responses=RESPONSES,
)
async def portal_get_export(creditor_id: UUID, debtor_id: UUID, export_id: UUID, db: DB) -> DebtorExportOut:
    """Called by the web service while a debtor's download is gathered (service token)."""
    return await read_export(debtor_id, export_id, _reader(creditor_id), db)


@portal.post(
    "/identities",
    response_model=IdentityOut,
    summary="The debtors registered under a national id, at every creditor (e-ID login)",
    responses=problems(401, 422),
)
async def portal_identities(body: IdentityIn, db: DB, idempotency_key: IdempotencyKey = None) -> IdentityOut:
    """Called by the web service after an e-ID login (service token): the debtors registered under the
    national id at every creditor, so the portal shows all of them."""
    # A lookup: it changes nothing, so a repeat with the same key is the same answer anyway.
    national_id = "".join(ch for ch in body.national_id if ch.isalnum())
    async with db.connection() as conn:
        rows = await portal_repository.debtors_by_national_id(conn, national_id)
    return IdentityOut(items=[IdentityMatch(**dict(r)) for r in rows])


# -- the creditor's side ------------------------------------------------------------------------

creditor = APIRouter(prefix="/v1", tags=["self-service"])


@creditor.get(
    "/self-service-terms",
    response_model=TermsOut,
    summary="How far a debtor may defer or split a claim in the portal without asking",
    responses=problems(401, 403, 422),
)
async def get_terms(
    caller: Reader, db: DB, department: Annotated[str | None, Query(max_length=100)] = None
) -> TermsOut:
    """How long a debtor may defer a claim and into how many instalments they may split it in the portal
    without the creditor deciding: for a department, or the creditor's default."""
    async with db.connection() as conn:
        terms = await portal_repository.terms(conn, caller.creditor_id, department)
    return TermsOut(department=department, **_terms_fields(terms))


@creditor.put(
    "/self-service-terms",
    response_model=TermsOut,
    summary="Set the self-service terms (for a department, or the creditor's default)",
    responses=problems(401, 403, 422),
)
async def put_terms(
    body: TermsIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    department: Annotated[str | None, Query(max_length=100)] = None,
) -> TermsOut:
    """Replaces the self-service terms for a department, or the creditor's default without `department`.
    Requests beyond them come to you as arrangement requests. Needs `claims:write`."""
    async with db.uow() as uow:
        await portal_repository.put_terms(uow.conn, caller.creditor_id, department or "", body.value(), clock.now())
        await uow.commit()
    return TermsOut(department=department, **body.model_dump())


@creditor.get(
    "/arrangement-requests",
    response_model=RequestsOut,
    summary="Debtors' deferral and instalment requests beyond the terms",
    responses=problems(401, 403, 422),
)
async def list_requests(
    caller: Reader,
    db: DB,
    status: Annotated[str | None, Query(pattern="^(pending|approved|refused)$")] = "pending",
) -> RequestsOut:
    """Debtors' requests for a deferral or instalments beyond the self-service terms, pending ones by default;
    each says why it is beyond the terms."""
    async with db.connection() as conn:
        rows = await portal_repository.list_requests(conn, caller.creditor_id, status)
    return RequestsOut(items=[RequestOut.of(r) for r in rows])


async def _decide(
    request: Request,
    caller: Caller,
    db: Any,
    clock: Any,
    request_id: UUID,
    approve: bool,
    note: str | None,
    key: str | None,
) -> Response:
    async def action(uow: UnitOfWork) -> RequestOut:
        row = await service.decide(uow, caller.creditor_id, request_id, approve=approve, note=note, now=clock.now())
        return RequestOut.of(row)

    return await idempotent(request, db, clock, caller, key, 200, action)


@creditor.post(
    "/arrangement-requests/{request_id}/approve",
    response_model=RequestOut,
    summary="Approve a request: the deferral or plan is made (ClaimDeferred / ClaimInstalmentPlanAgreed)",
    responses=problems(401, 403, 404, 409, 422),
)
async def approve_request(
    request: Request,
    request_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    body: DecisionIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Makes the deferral or instalment plan the debtor asked for (ClaimDeferred or ClaimInstalmentPlanAgreed)
    and tells the debtor. 409 if it was decided already or the balance no longer allows the plan. Needs
    `claims:write`."""
    return await _decide(request, caller, db, clock, request_id, True, body.note if body else None, idempotency_key)


@creditor.post(
    "/arrangement-requests/{request_id}/refuse",
    response_model=RequestOut,
    summary="Refuse a request: dunning goes on as planned",
    responses=problems(401, 403, 404, 409, 422),
)
async def refuse_request(
    request: Request,
    request_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    body: DecisionIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Refuses the request with an optional note for the debtor; reminders continue as planned. 409 if it was
    decided already. Needs `claims:write`."""
    return await _decide(request, caller, db, clock, request_id, False, body.note if body else None, idempotency_key)
