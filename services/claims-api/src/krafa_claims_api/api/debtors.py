"""REST routes for debtors, their contact points, contact-list uploads, credit status and GDPR.
Every query is scoped to the caller's creditor: another creditor's ids answer 404."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.http import PROBLEM_BASE, Problem
from krafa_kit.inputs import IDENTIFIER_PATTERN

from krafa_claims_api import pagination, personal_data
from krafa_claims_api import repository as claims_repository
from krafa_claims_api import service as claims_service
from krafa_claims_api.api import errors, idempotency
from krafa_claims_api.api.debtor_schemas import (
    ConsentIn,
    ContactConsentOut,
    ContactPointIn,
    ContactPointOut,
    ContactPointPatch,
    CreditStatusOut,
    CreditStatusPage,
    CurrencyExposure,
    DebtorChange,
    DebtorCreateIn,
    DebtorExport,
    DebtorExportOut,
    DebtorIn,
    DebtorOut,
    DebtorPage,
    ErasureOut,
    ExportClaim,
    ExportHistoryItem,
    Money,
    OptOutIn,
    PersonalDataRequestOut,
    ServiceAnswerOut,
    Thresholds,
    UploadJobOut,
    UploadReject,
)
from krafa_claims_api.api.deps import DB, CurrentClock, IdempotencyKey, Reader, require
from krafa_claims_api.commands import ContactConsentIn
from krafa_claims_api.debtors import domain, repository, service, uploads

router = APIRouter(prefix="/v1")

ContactsWriter = Annotated[claims_service.Caller, Depends(require("contacts:write"))]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
CustomerNoPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="the creditor's own customer number")
]
# A new customer number must read back by this URL: no '/', control characters or surrounding spaces.
NewCustomerNoPath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN, description="the creditor's own customer number"),
]

# What the debtor routes' problems mean, where it differs from the claims routes'.
DESCRIPTIONS = {
    404: "no such debtor, contact point or upload for this creditor (another creditor's id answers the same)",
    409: "a request with the same Idempotency-Key is still in progress",
    413: "the upload is larger than the limit",
    415: "the upload's Content-Type is not CSV, JSON or NDJSON",
    422: "validation failed (with a JSON pointer per field), or an Idempotency-Key reused with another request",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return errors.problems(*codes, **{f"_{code}": DESCRIPTIONS[code] for code in codes if code in DESCRIPTIONS})


# --- debtors ---


@router.put(
    "/debtors/by-customer-no/{customer_no}",
    response_model=DebtorOut,
    status_code=status.HTTP_200_OK,
    tags=["debtors"],
    summary="Create or replace a debtor's master data by the creditor's customer number",
    description="201 when the debtor is new, 200 when it existed. Master data is replaced whole; `email`, "
    "`phone` and `netbank_opt_in` add contact points and never remove any. Emits DebtorUpdated when "
    "anything changed.",
    responses={201: {"description": "created", "model": DebtorOut}, **problems(401, 403, 422)},
)
async def put_debtor(
    customer_no: NewCustomerNoPath, body: DebtorIn, caller: ContactsWriter, db: DB, clock: CurrentClock
) -> Response:
    async with db.uow() as uow:
        debtor, created = await service.upsert_debtor(uow, caller.creditor_id, body.row(customer_no), clock.now())
        await uow.commit()
    return JSONResponse(DebtorOut.of(debtor).model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/debtors/by-customer-no/{customer_no}",
    response_model=DebtorOut,
    tags=["debtors"],
    summary="A debtor by the creditor's customer number",
    responses=problems(401, 403, 404, 422),
)
async def get_debtor_by_customer_no(customer_no: CustomerNoPath, caller: Reader, db: DB) -> DebtorOut:
    """Finds a debtor by the customer number your ERP uses, so you need not store Krafa's ids. 404 if the
    creditor has no debtor with that number."""
    async with db.connection() as conn:
        debtor_id = await repository.id_by_customer_no(conn, caller.creditor_id, customer_no)
        if debtor_id is None:
            raise service.NOT_FOUND
        return DebtorOut.of(await service.get_debtor(conn, caller.creditor_id, debtor_id))


@router.post(
    "/debtors",
    response_model=DebtorOut,
    status_code=status.HTTP_200_OK,
    tags=["debtors"],
    summary="Upsert a debtor by the creditor's customer number",
    description="The same as PUT /v1/debtors/by-customer-no/{customer_no}, with the customer number in the "
    "body: 201 when created, 200 when it existed.",
    responses={201: {"description": "created", "model": DebtorOut}, **problems(401, 403, 409, 422)},
)
async def upsert_debtor(
    request: Request,
    body: DebtorCreateIn,
    caller: ContactsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def action(uow: UnitOfWork) -> tuple[int, DebtorOut]:
        debtor, created = await service.upsert_debtor(uow, caller.creditor_id, body.row(body.customer_no), clock.now())
        return (201 if created else 200), DebtorOut.of(debtor)

    return await idempotency.idempotent(request, db, clock, caller, idempotency_key, 200, action)


@router.get(
    "/debtors",
    response_model=DebtorPage,
    tags=["debtors"],
    summary="List the creditor's debtors with cursor pagination",
    responses=problems(401, 403, 422),
)
async def list_debtors(
    caller: Reader,
    db: DB,
    customer_class: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DebtorPage:
    """The creditor's debtors in a stable order, a page at a time: pass `next_cursor` of one page as `cursor`
    to get the next. Filter by `customer_class`."""
    after = errors.cursor_position(cursor)
    async with db.connection() as conn:
        rows = await repository.page(
            conn, caller.creditor_id, customer_class=customer_class, after=after, limit=limit + 1
        )
    page = rows[:limit]
    next_cursor = pagination.encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return DebtorPage(items=[DebtorOut.of(d) for d in page], next_cursor=next_cursor)


@router.get(
    "/debtors/{debtor_id}",
    response_model=DebtorOut,
    tags=["debtors"],
    summary="A debtor with its contact points",
    responses=problems(401, 403, 404, 422),
)
async def get_debtor(debtor_id: UUID, caller: Reader, db: DB) -> DebtorOut:
    """One debtor of the creditor with every contact point, its verification, consent and bounce state."""
    async with db.connection() as conn:
        return DebtorOut.of(await service.get_debtor(conn, caller.creditor_id, debtor_id))


# --- contact points ---


@router.put(
    "/contact-consent",
    response_model=ContactConsentOut,
    tags=["contact points"],
    summary="Attest that the creditor's terms of business allow sharing its customers' addresses",
    description="The evidence an email address or phone number needs before reminders use it: the terms' "
    "version and date. Addresses named from now on without consent of their own take it, and so do addresses "
    "without any evidence when named again (re-send the list); without it, such addresses are kept but reminders "
    "go by letter.",
    responses=problems(401, 403, 422),
)
async def put_contact_consent(
    body: ContactConsentIn, caller: ContactsWriter, db: DB, clock: CurrentClock
) -> ContactConsentOut:
    async with db.uow() as uow:
        recorded = await service.set_contact_consent(
            uow, caller.creditor_id, body.source, body.terms_version, body.terms_date, clock.now()
        )
        await uow.commit()
    return ContactConsentOut.model_validate(recorded)


@router.get(
    "/contact-consent",
    response_model=ContactConsentOut,
    tags=["contact points"],
    summary="The creditor's contact consent, if it has attested one",
    responses=problems(401, 403, 404),
)
async def get_contact_consent(caller: Reader, db: DB) -> ContactConsentOut:
    """The attestation that the creditor's terms allow sharing its customers' addresses with Krafa (source,
    terms version and date, when recorded); contact points without evidence of their own rely on it. 404 if the
    creditor has not attested one."""
    async with db.connection() as conn:
        recorded = await repository.contact_consent(conn, caller.creditor_id)
    if recorded is None:
        raise Problem(404, "Not Found", "no contact consent recorded: PUT /v1/contact-consent")
    return ContactConsentOut.model_validate(recorded)


@router.post(
    "/debtors/{debtor_id}/contact-points",
    response_model=ContactPointOut,
    status_code=status.HTTP_201_CREATED,
    tags=["contact points"],
    summary="Add a contact point (or name an existing one again: it becomes the current one)",
    description="An email, a mobile number (stored in E.164) or the netbank e-document opt-in. A bounced or "
    "opted-out address stays so when the creditor adds it again: only the debtor re-activates it, in the portal "
    "(a bounced one with a verification). It is used once it carries consent evidence (`consent` with the terms' "
    "version and date, or the creditor's contact consent); `usable` and `unusable_reason` say. Emits "
    "DebtorUpdated when anything changed.",
    responses=problems(401, 403, 404, 409, 422),
)
async def add_contact_point(
    request: Request,
    debtor_id: UUID,
    body: ContactPointIn,
    caller: ContactsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def action(uow: UnitOfWork) -> tuple[int, ContactPointOut]:
        debtor = await repository.get(uow.conn, caller.creditor_id, debtor_id)
        if debtor is None:
            raise service.NOT_FOUND
        kind = domain.ContactKind(body.kind)
        try:
            value = domain.contact_value(kind, body.value, debtor.master["country"])
        except domain.InvalidValue as exc:
            raise service.invalid(domain.InvalidValue("value", exc.message), "") from exc
        offer = domain.ContactOffer(
            kind,
            value,
            origin=domain.ContactOrigin(body.origin),
            verified=body.verified,
            consent=(body.consent or ConsentIn()).value(),
            source_if_new="api",
        )
        _, cp = await service.add_contact(uow, caller.creditor_id, debtor_id, offer, clock.now())
        return 201, ContactPointOut.of(cp)

    return await idempotency.idempotent(request, db, clock, caller, idempotency_key, 200, action)


@router.patch(
    "/debtors/{debtor_id}/contact-points/{contact_id}",
    response_model=ContactPointOut,
    tags=["contact points"],
    summary="Update a contact point's verified flag or consent",
    responses=problems(401, 403, 404, 422),
)
async def update_contact_point(
    debtor_id: UUID, contact_id: UUID, body: ContactPointPatch, caller: ContactsWriter, db: DB, clock: CurrentClock
) -> ContactPointOut:
    """Marks a contact point verified or records the debtor's consent to it. Needs `contacts:write`. A contact
    point the debtor opted out of stays opted out."""
    async with db.uow() as uow:
        _, cp = await service.change_contact(
            uow,
            caller.creditor_id,
            debtor_id,
            contact_id,
            clock.now(),
            verified=body.verified,
            consent=body.consent.value() if body.consent else None,
        )
        await uow.commit()
    return ContactPointOut.of(cp)


@router.post(
    "/debtors/{debtor_id}/contact-points/{contact_id}/opt-out",
    response_model=ContactPointOut,
    tags=["contact points"],
    summary="Opt a contact point out: it is never used again unless the debtor opts in",
    responses=problems(401, 403, 404, 409, 422),
)
async def opt_out_contact_point(
    request: Request,
    debtor_id: UUID,
    contact_id: UUID,
    caller: ContactsWriter,
    db: DB,
    clock: CurrentClock,
    body: OptOutIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Records that the debtor wants no more messages at this address or number. Reminders go to the debtor's
    other contact points or by post. Needs `contacts:write`; repeating it changes nothing."""

    async def action(uow: UnitOfWork) -> tuple[int, ContactPointOut]:
        _, cp = await service.change_contact(
            uow,
            caller.creditor_id,
            debtor_id,
            contact_id,
            clock.now(),
            opt_out=True,
            opt_out_reason=body.reason if body else None,
        )
        return 200, ContactPointOut.of(cp)

    return await idempotency.idempotent(request, db, clock, caller, idempotency_key, 200, action)


# --- credit status ---


@router.get(
    "/debtors/{debtor_id}/credit-status",
    response_model=CreditStatusOut,
    tags=["debtors"],
    summary="Overdue total, oldest overdue days, credit-limit use and a verdict before confirming a sale",
    description="`block` when the oldest overdue claim passed the block threshold, the overdue amount reached "
    "the block amount, or the open balance exceeds the credit limit; `warn` at the warn thresholds or at 90 % "
    "of the limit. Thresholds are the debtor's own, else its customer class's (gold 30/90 days, silver 21/60, "
    "bronze 14/45, regular 7/30, risky 1/14). Disputed claims do not count.",
    responses=problems(401, 403, 404, 422),
)
async def credit_status(debtor_id: UUID, caller: Reader, db: DB, clock: CurrentClock) -> CreditStatusOut:
    async with db.connection() as conn:
        report = await service.credit_report(conn, caller.creditor_id, debtor_id, clock.now())
    return _credit_status_out(report)


@router.get(
    "/credit-statuses",
    response_model=CreditStatusPage,
    tags=["debtors"],
    summary="The credit status of every debtor, a page at a time (as /debtors/{id}/credit-status, in one call)",
    description="The debtors in the order of GET /v1/debtors (filter by `customer_class`), each with its credit "
    "status: for a screen or an ERP job that checks all customers without a request per customer.",
    responses=problems(401, 403, 422),
)
async def credit_statuses(
    caller: Reader,
    db: DB,
    clock: CurrentClock,
    customer_class: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CreditStatusPage:
    after = errors.cursor_position(cursor)
    async with db.connection() as conn:
        reports = await service.credit_reports(
            conn, caller.creditor_id, clock.now(), customer_class=customer_class, after=after, limit=limit + 1
        )
    page = reports[:limit]
    last = page[-1].debtor if page else None
    next_cursor = pagination.encode_cursor(last.created_at, last.id) if len(reports) > limit and last else None
    return CreditStatusPage(items=[_credit_status_out(r) for r in page], next_cursor=next_cursor)


def _credit_status_out(report: service.CreditReport) -> CreditStatusOut:
    m, st, fig = report.debtor.master, report.status, report.figures
    return CreditStatusOut(
        debtor_id=report.debtor.id,
        customer_no=report.debtor.customer_no,
        name=m["name"],
        as_of=report.today,
        customer_class=m["customer_class"],
        currencies=[
            CurrencyExposure(currency=c, open_minor=fig.open_minor[c], overdue_minor=fig.overdue_minor.get(c, 0))
            for c in sorted(fig.open_minor)
        ],
        oldest_overdue_days=st.oldest_overdue_days,
        credit_limit=Money(amount_minor=m["credit_limit_minor"], currency=m["credit_limit_currency"])
        if m["credit_limit_minor"] is not None and m["credit_limit_currency"]
        else None,
        limit_used_minor=st.limit_used_minor,
        limit_used_percent=st.limit_used_percent,
        thresholds=Thresholds(
            warn_days=st.warn_days,
            block_days=st.block_days,
            warn_minor=m["overdue_warn_minor"],
            block_minor=m["overdue_block_minor"],
        ),
        verdict=st.verdict.value,
        reasons=list(st.reasons),
    )


# --- GDPR ---


async def export_debtor(debtor_id: UUID, caller: claims_service.Caller, db: Database, clock: Clock) -> DebtorExport:
    """claims-api's own records of the debtor, at once (the portal shows them to the debtor); the
    creditor's export across every service is POST /v1/debtors/{debtor_id}/exports."""
    async with db.connection() as conn:
        data = await service.export(conn, caller.creditor_id, debtor_id)
    return DebtorExport(
        exported_at=clock.now(),
        debtor=DebtorOut.of(data.debtor),
        claims=[ExportClaim.model_validate(dict(c)) for c in data.claims],
        claim_history=[ExportHistoryItem.model_validate(dict(h)) for h in data.claim_history],
        debtor_history=[DebtorChange.model_validate(dict(h)) for h in data.debtor_history],
    )


def request_out(request: personal_data.Request) -> PersonalDataRequestOut:
    own = ServiceAnswerOut(service=personal_data.OWN, status="done", rows=None, handled_at=request.requested_at)
    return PersonalDataRequestOut(
        id=request.id,
        debtor_id=request.debtor_id,
        kind=request.kind,
        status="complete" if request.complete else "pending",
        requested_at=request.requested_at,
        completed_at=request.completed_at,
        services=[own]
        + [
            ServiceAnswerOut(
                service=a.service, status="pending" if a.rows is None else "done", rows=a.rows, handled_at=a.handled_at
            )
            for a in request.answers
        ],
    )


async def own_part(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> dict[str, Any]:
    """Everything claims-api holds on the debtor for this creditor, as JSON (the API's shapes)."""
    data = await service.export(conn, creditor_id, debtor_id)
    extra = await repository.own_extras(conn, creditor_id, debtor_id)
    return {
        "debtor": DebtorOut.of(data.debtor).model_dump(mode="json"),
        "claims": [ExportClaim.model_validate(dict(c)).model_dump(mode="json") for c in data.claims],
        "claim_history": [
            ExportHistoryItem.model_validate(dict(h)).model_dump(mode="json") for h in data.claim_history
        ],
        "debtor_history": [DebtorChange.model_validate(dict(h)).model_dump(mode="json") for h in data.debtor_history],
        **extra,
    }


@router.post(
    "/debtors/{debtor_id}/exports",
    response_model=PersonalDataRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["gdpr"],
    summary="Ask every service for what it holds on the debtor (GDPR access and portability)",
    description="claims-api's part is taken at once; every other service that holds personal data answers with its "
    "part. Poll `Location` (GET /v1/debtors/{debtor_id}/exports/{export_id}) until `status` is `complete`.",
    responses=problems(401, 403, 404, 422),
)
async def request_export(
    request: Request,
    debtor_id: UUID,
    caller: Reader,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await start_export(
        request, debtor_id, caller, db, clock, idempotency_key, f"/v1/debtors/{debtor_id}/exports"
    )


async def start_export(
    request: Request,
    debtor_id: UUID,
    caller: claims_service.Caller,
    db: Database,
    clock: Clock,
    idempotency_key: str | None,
    exports_path: str,
) -> Response:
    """Start an export across every service (the creditor's route and the debtor portal's): 202 with
    the request and `Location` under `exports_path`."""

    async def action(uow: UnitOfWork) -> tuple[int, PersonalDataRequestOut]:
        await service.get_debtor(uow.conn, caller.creditor_id, debtor_id)
        own = await own_part(uow.conn, caller.creditor_id, debtor_id)
        started = await personal_data.request_export(uow, caller.creditor_id, debtor_id, own, clock.now())
        return 202, request_out(started)

    # A retried request with the same key answers with the same export, not a second one.
    response = await idempotency.idempotent(request, db, clock, caller, idempotency_key, 202, action)
    export_id = json.loads(bytes(response.body))["id"]
    response.headers["Location"] = f"{exports_path}/{export_id}"
    return response


@router.get(
    "/debtors/{debtor_id}/exports/{export_id}",
    response_model=DebtorExportOut,
    tags=["gdpr"],
    summary="The debtor's export: claims-api's part and every service's part as they arrive",
    responses=problems(401, 403, 404, 422),
)
async def get_export(debtor_id: UUID, export_id: UUID, caller: Reader, db: DB) -> DebtorExportOut:
    """Poll the export started with POST /v1/debtors/{debtor_id}/exports (its `Location`): claims-api's part
    at once, every other service's part as it answers; `status` says when all have."""
    return await read_export(debtor_id, export_id, caller, db)


async def read_export(debtor_id: UUID, export_id: UUID, caller: claims_service.Caller, db: Database) -> DebtorExportOut:
    """The export as it stands: claims-api's part and every part another service has answered with."""
    async with db.connection() as conn:
        request = await personal_data.get_request(conn, caller.creditor_id, debtor_id, export_id)
    if request is None or request.kind != "export":
        raise Problem(404, "Not Found", "no such export of this debtor")
    parts: dict[str, dict[str, Any]] = {personal_data.OWN: request.own_part or {}}
    parts.update({a.service: a.data or {} for a in request.answers if a.rows is not None})
    return DebtorExportOut(**request_out(request).model_dump(), parts=parts)


@router.delete(
    "/debtors/{debtor_id}/personal-data",
    response_model=ErasureOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["gdpr"],
    summary="Erase the debtor's personal data in every service; the financial records stay under a pseudonym",
    description="Removes the name, national id, postal address and every contact point here, and asks every service "
    "that holds personal data about the debtor (the address each reminder went to, returned messages, the payer's "
    "name and account) to pseudonymise it. Claims, payments and their history stay (bookkeeping retention), under "
    "a pseudonym. 202 while services have yet to answer, 200 once every one has (`request.status`: `complete`); "
    "GET /v1/debtors/{debtor_id}/erasure follows it. Idempotent: a repeat answers the same request with "
    "`erased_now: false`.",
    responses={200: {"description": "complete", "model": ErasureOut}, **problems(401, 403, 404, 422)},
)
async def erase_personal_data(debtor_id: UUID, caller: ContactsWriter, db: DB, clock: CurrentClock) -> Response:
    async with db.uow() as uow:
        debtor, request, erased_now = await personal_data.erase(uow, caller.creditor_id, debtor_id, clock.now())
        await uow.commit()
    return _erasure_answer(debtor, request, erased_now)


@router.get(
    "/debtors/{debtor_id}/erasure",
    response_model=ErasureOut,
    tags=["gdpr"],
    summary="Where the debtor's erasure stands: which services have pseudonymised their data",
    description="200 once every service has confirmed (`request.status`: `complete`), 202 while some have not.",
    responses={
        202: {"description": "not every service has answered yet", "model": ErasureOut},
        **problems(401, 403, 404, 422),
    },
)
async def get_erasure(debtor_id: UUID, caller: Reader, db: DB) -> Response:
    async with db.connection() as conn:
        debtor = await service.get_debtor(conn, caller.creditor_id, debtor_id)
        request = await personal_data.latest_request(conn, caller.creditor_id, debtor_id, "erasure")
    if request is None or debtor.erased_at is None:
        raise Problem(404, "Not Found", "the debtor's personal data was not erased")
    return _erasure_answer(debtor, request, False)


def _erasure_answer(debtor: domain.Debtor, request: personal_data.Request, erased_now: bool) -> Response:
    assert debtor.erased_at is not None
    body = ErasureOut(
        debtor_id=debtor.id,
        pseudonym=debtor.master["name"],
        erased_at=debtor.erased_at,
        erased_now=erased_now,
        request=request_out(request),
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        200 if request.complete else 202,
        headers={"Location": f"/v1/debtors/{debtor.id}/erasure"},
    )


# --- contact-list uploads ---

UPLOAD_BODY = {
    "required": True,
    "description": "The whole contact list. CSV (`,` or `;` separated, UTF-8, header row with `customer_no` and "
    "any of name, kind, national_id, country, language, time_zone, email, phone, netbank, verified, "
    "consent_source, consent_at, terms_version, address_line1-3, postcode, city, address_country, "
    "customer_class, fallback_channel, credit_limit_minor, credit_limit_currency, overdue_warn_days, "
    "overdue_block_days, overdue_warn_minor, overdue_block_minor), a JSON array of objects with the same "
    "fields, or NDJSON. A debtor not yet known needs name and country.",
    "content": {
        "text/csv": {
            "schema": {"type": "string", "format": "binary"},
            "example": "customer_no;name;country;email;phone\nC-1001;Jón Jónsson;IS;jon@example.is;5551234\n",
        },
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object"}},
            "example": [{"customer_no": "C-1001", "name": "Jón Jónsson", "country": "IS", "email": "jon@example.is"}],
        },
        "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _job_out(job: Any, rejects: list[Any], limit: int) -> UploadJobOut:
    page = rejects[:limit]
    failed = job["stale"]
    return UploadJobOut(
        id=job["id"],
        status="failed" if failed else job["status"],
        format=job["format"],
        size_bytes=job["size_bytes"],
        rows_total=job["rows_total"],
        rows_accepted=job["rows_accepted"],
        rows_rejected=job["rows_rejected"],
        debtors_created=job["debtors_created"],
        debtors_updated=job["debtors_updated"],
        rows_unchanged=job["rows_unchanged"],
        rows_without_consent=job["rows_without_consent"],
        failure="interrupted: upload the file again" if failed else job["failure"],
        created_at=job["created_at"],
        started_at=job["started_at"],
        finished_at=job["finished_at"],
        rejects=[UploadReject.model_validate(dict(r)) for r in page],
        next_rejects_after=page[-1]["line"] if len(rejects) > limit else None,
    )


async def _load_job(db: Database, creditor_id: UUID, job_id: UUID, after: int = 0, limit: int = 1000) -> UploadJobOut:
    async with db.connection() as conn:
        found = await repository.get_upload(conn, creditor_id, job_id, rejects_after=after, rejects_limit=limit)
    if found is None:
        raise Problem(404, "Not Found", "no such contact upload")
    return _job_out(*found, limit)


@router.post(
    "/contact-uploads",
    response_model=UploadJobOut,
    status_code=status.HTTP_201_CREATED,
    tags=["contact points"],
    summary="Upload the whole contact list (CSV, JSON or NDJSON) as an upsert",
    description="Rows not in the list are kept. A small file is applied before the answer (201, `done`); a "
    "large one is applied in the background (202 with `Location`: poll GET /v1/contact-uploads/{upload_id}). "
    "Every upload is applied as the current list, also one sent before (its addresses become the current ones "
    "again); a retry with the same Idempotency-Key answers with the first job. Every rejected row is reported "
    "with its line number and reason. Consent given in the query (`terms_version` and `consent_at`) applies to "
    "rows that carry none of their own; rows with neither take the creditor's contact consent, and without any "
    "their addresses are kept but not used (`rows_without_consent`).",
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses={
        200: {"description": "a retry with the same Idempotency-Key: the first job", "model": UploadJobOut},
        202: {"description": "accepted: applied in the background", "model": UploadJobOut},
        **problems(401, 403, 409, 413, 415, 422),
    },
)
async def upload_contacts(
    request: Request,
    caller: ContactsWriter,
    db: DB,
    clock: CurrentClock,
    consent_source: Annotated[
        str | None, Query(max_length=100, pattern=NO_NUL, description="e.g. terms of business")
    ] = None,
    terms_version: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    consent_at: Annotated[datetime | None, Query(description="when consent was given (ISO 8601)")] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = uploads.MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise Problem(
            415,
            "Unsupported Media Type",
            "send text/csv, application/json or application/x-ndjson",
            type_=PROBLEM_BASE + "unsupported-upload-type",
        )
    if consent_at is not None and consent_at.tzinfo is None:
        raise Problem(
            422, "Validation failed", "consent_at must carry a time zone offset", type_=PROBLEM_BASE + "validation"
        )
    consent = domain.Consent(consent_source, consent_at, terms_version)
    max_bytes = getattr(request.app.state, "contact_upload_max_bytes", uploads.MAX_BYTES)
    length = request.headers.get("content-length")
    received = await uploads.receive(request.stream(), int(length) if length and length.isdigit() else None, max_bytes)
    key = uploads.content_key(received.sha256, fmt, consent)
    inline = received.size <= getattr(request.app.state, "contact_upload_inline_bytes", uploads.INLINE_BYTES)
    try:
        async with db.uow() as uow:
            if idempotency_key is not None:
                stored = await idempotency.claim_key(
                    uow.conn,
                    creditor_id=caller.creditor_id,
                    key=idempotency_key,
                    digest=idempotency.request_hash("POST", request.url.path, key),
                    lock_timeout_ms=request.app.state.settings.idempotency_lock_timeout_ms,
                )
                if stored is not None:
                    job = await _load_job(db, caller.creditor_id, UUID(stored.body["id"]))
                    return JSONResponse(job.model_dump(mode="json"), 200, headers={"Idempotent-Replayed": "true"})
            job_id = await repository.create_upload(uow.conn, caller.creditor_id, key, fmt, received.size, clock.now())
            if idempotency_key is not None:
                await claims_repository.store_idempotent_response(
                    uow.conn, caller.creditor_id, idempotency_key, 200, {"id": str(job_id)}
                )
            await uow.commit()
    except BaseException:
        uploads.discard(received)
        raise
    creditor = await _creditor_country(db, caller.creditor_id)
    work = uploads.process(
        db, clock, caller.creditor_id, job_id, received.path, fmt, default_country=creditor, consent=consent
    )
    location = {"Location": f"/v1/contact-uploads/{job_id}"}
    if inline:
        await work
        job = await _load_job(db, caller.creditor_id, job_id)
        return JSONResponse(job.model_dump(mode="json"), 201, headers=location)
    tasks: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault("contact_upload_tasks", set())
    task = asyncio.create_task(work, name=f"contact-upload:{job_id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    job = await _load_job(db, caller.creditor_id, job_id)
    return JSONResponse(job.model_dump(mode="json"), 202, headers=location)


async def _creditor_country(db: Database, creditor_id: UUID) -> str:
    async with db.connection() as conn:
        creditor = await claims_repository.get_creditor(conn, creditor_id)
    assert creditor is not None
    return str(creditor["country"])


@router.get(
    "/contact-uploads/{upload_id}",
    response_model=UploadJobOut,
    tags=["contact points"],
    summary="A contact upload's status, counts and rejected rows",
    responses=problems(401, 403, 404, 422),
)
async def get_upload(
    upload_id: UUID,
    caller: Reader,
    db: DB,
    rejects_after: Annotated[int, Query(ge=0, le=2**31 - 1, description="line after which to list rejects")] = 0,
    rejects_limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> UploadJobOut:
    """The state of a contact upload (queued, running, done or failed), its counts, and the rejected rows with
    their line numbers, a page at a time (`rejects_after`, `rejects_limit`)."""
    return await _load_job(db, caller.creditor_id, upload_id, rejects_after, rejects_limit)
