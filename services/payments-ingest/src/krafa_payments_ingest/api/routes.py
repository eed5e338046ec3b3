"""REST routes of payments-ingest, all for operators: thin, they parse, call a use case, and
shape the answer."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from krafa_kit.http import Problem, problems, require_operator
from pydantic import Field

from krafa_payments_ingest import repository, service
from krafa_payments_ingest.api.deps import DB, PROBLEMS, CurrentClock, UploadedFile
from krafa_payments_ingest.api.schemas import (
    CandidateClaimOut,
    CardInstalmentFailedIn,
    CardInstalmentFailureOut,
    CsvMappingIn,
    CsvMappingOut,
    ImportOut,
    ImportSummary,
    OperatorMatchIn,
    PaymentNotificationIn,
    QueueActionOut,
    UnmatchedPage,
    UnmatchedPaymentOut,
)
from krafa_payments_ingest.parsers import BankFileError
from krafa_payments_ingest.parsers.csv_mapped import CsvColumns, CsvMapping

router = APIRouter(
    prefix="/v1/payments", tags=["payments"], dependencies=[Depends(require_operator)], responses=problems(401)
)

CSV_MAPPING_NAME = r"^[A-Za-z0-9._-]{1,64}$"
_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the bank file as the raw body, or as the `file` part of a multipart upload",
        "content": {
            "application/octet-stream": _BINARY,
            "application/xml": _BINARY,
            "text/plain": _BINARY,
            "text/csv": _BINARY,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/files",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportOut,
    summary="Import a bank file (camt.052/053/054, MT940 or Nets OCR)",
    description="Every credit entry is recorded once: entries imported before (the same file again, or an "
    "overlapping statement) count as duplicates and are not applied again. The same file again answers 200.",
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"description": "the very same file was imported before; nothing new was applied", "model": ImportOut},
        **problems(
            _400="an unreadable multipart body",
            _413="the file exceeds the upload limit",
            _415="not one of the accepted media types, or a compressed (Content-Encoding) upload",
            _422="the file is malformed (`line`, `entry` and `reason` say where and why), or an unknown CSV mapping",
        ),
    },
)
async def import_file(
    upload: UploadedFile,
    db: DB,
    clock: CurrentClock,
    response: Response,
    csv_mapping: Annotated[
        str | None,
        Query(
            pattern=CSV_MAPPING_NAME,
            description="read the file as CSV with this saved mapping (PUT /csv-mappings/{name})",
        ),
    ] = None,
) -> ImportOut:
    mapping = None
    if csv_mapping is not None:
        async with db.connection() as conn:
            stored = await repository.get_csv_mapping(conn, csv_mapping)
        if stored is None:
            raise Problem(
                422,
                "Validation failed",
                f"no CSV mapping named {csv_mapping!r}",
                type_=PROBLEMS + "validation",
                extra={"errors": [{"pointer": "/csv_mapping", "detail": "unknown CSV mapping"}]},
            )
        mapping = _csv_mapping(CsvMappingIn.model_validate(stored))
    try:
        result = await service.import_file(db, upload.data, upload.filename, clock.now(), csv_mapping=mapping)
    except BankFileError as exc:
        raise Problem(
            422,
            "Malformed bank file",
            str(exc),
            type_=PROBLEMS + "malformed-bank-file",
            extra={"line": exc.line, "entry": exc.entry, "reason": exc.reason},
        ) from exc
    if result.repeat_of is not None:
        response.status_code = status.HTTP_200_OK
    else:
        response.headers["Location"] = f"/v1/payments/imports/{result.import_id}"
    return _import_out(result)


def _import_out(result: service.ImportResult) -> ImportOut:
    return ImportOut(
        import_id=result.import_id,
        format=result.format,
        entries=result.entries,
        new=result.new,
        duplicates=result.duplicates,
        matched=result.matched,
        unmatched=result.unmatched,
        reversals=result.reversals,
    )


MAX_NOTIFICATIONS = 1000


@router.post(
    "/notifications",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportOut,
    summary="Record payments notified by a real-time source",
    description="One notification or a list of them. Idempotent on each notification's `id`: a payment whose "
    "id was recorded before is a duplicate and is not applied again. Matching and events are those of a bank "
    "file entry (the events' `source` is `api`). 200 when nothing in the request was new.",
    responses={
        200: {"description": "every notification was recorded before; nothing was applied", "model": ImportOut},
        **problems(_422="invalid body (unknown fields are refused) or an id repeated within it"),
    },
)
async def notify(
    body: Annotated[
        PaymentNotificationIn
        | Annotated[list[PaymentNotificationIn], Field(min_length=1, max_length=MAX_NOTIFICATIONS)],
        Body(),
    ],
    db: DB,
    clock: CurrentClock,
    response: Response,
) -> ImportOut:
    started = time.perf_counter()
    items = body if isinstance(body, list) else [body]
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise Problem(
            422,
            "Validation failed",
            "a notification id appears more than once in the request",
            type_=PROBLEMS + "validation",
            extra={"errors": [{"pointer": "/id", "detail": "duplicate id"}]},
        )
    canonical = json.dumps([item.model_dump(mode="json") for item in items], sort_keys=True).encode()
    notifications = [
        service.Notification(
            source_id=item.id,
            amount_minor=item.amount_minor,
            currency=item.currency,
            reference=item.reference,
            remittance_text=item.remittance_text,
            booking_date=item.booked_at.date() if isinstance(item.booked_at, datetime) else item.booked_at,
            payer_account=item.payer_account,
            account=item.account,
        )
        for item in items
    ]
    result = await service.import_notifications(
        db, notifications, hashlib.sha256(canonical).hexdigest(), len(canonical), clock.now(), started=started
    )
    if result.new == 0 and result.reversals == 0:
        response.status_code = status.HTTP_200_OK
    else:
        response.headers["Location"] = f"/v1/payments/imports/{result.import_id}"
    return _import_out(result)


def _csv_mapping(body: CsvMappingIn) -> CsvMapping:
    return CsvMapping(
        columns=CsvColumns(**body.columns.model_dump()),
        delimiter=body.delimiter,
        decimal_separator=body.decimal_separator,
        date_format=body.date_format,
        has_header=body.has_header,
    )


@router.put(
    "/csv-mappings/{name}",
    response_model=CsvMappingOut,
    status_code=status.HTTP_200_OK,
    summary="Save the column mapping of a CSV bank export",
    description="Creates (201) or replaces (200) the mapping; import a CSV with it as "
    "`POST /v1/payments/files?csv_mapping={name}`.",
    responses={201: {"description": "created", "model": CsvMappingOut}, **problems(_422="unusable mapping")},
)
async def put_csv_mapping(
    name: Annotated[str, Path(pattern=CSV_MAPPING_NAME)],
    body: CsvMappingIn,
    db: DB,
    clock: CurrentClock,
    response: Response,
) -> CsvMappingOut:
    if problems := _csv_mapping(body).problems():
        raise Problem(
            422,
            "Validation failed",
            "; ".join(problems),
            type_=PROBLEMS + "validation",
            extra={"errors": [{"pointer": "/", "detail": problem} for problem in problems]},
        )
    async with db.uow() as uow:
        created = await repository.save_csv_mapping(uow.conn, name, body.model_dump(mode="json"), clock.now())
        await uow.commit()
    if created:
        response.status_code = status.HTTP_201_CREATED
    return CsvMappingOut(name=name, **body.model_dump())


@router.get(
    "/csv-mappings/{name}",
    response_model=CsvMappingOut,
    summary="A saved CSV column mapping",
    responses=problems(422, _404="no such CSV mapping"),
)
async def get_csv_mapping(name: Annotated[str, Path(pattern=CSV_MAPPING_NAME)], db: DB) -> CsvMappingOut:
    """Operator only. A saved mapping from a bank's CSV columns to payment fields, by name."""
    async with db.connection() as conn:
        stored = await repository.get_csv_mapping(conn, name)
    if stored is None:
        raise Problem(404, "Not Found", "no such CSV mapping")
    return CsvMappingOut(name=name, **stored)


@router.get(
    "/imports/{import_id}",
    response_model=ImportSummary,
    summary="The summary of one import",
    responses=problems(422, _404="no such import"),
)
async def get_import(import_id: UUID, db: DB) -> ImportSummary:
    """Operator only. One bank-file import: format, counts of matched, unmatched and duplicate entries, and
    when it ran."""
    async with db.connection() as conn:
        row = await repository.get_import(conn, import_id)
    if row is None:
        raise Problem(404, "Not Found", "no such import")
    return ImportSummary(
        import_id=row["id"],
        format=row["format"],
        entries=row["entries"],
        new=row["new_entries"],
        duplicates=row["duplicates"],
        matched=row["matched"],
        unmatched=row["unmatched"],
        reversals=row["reversals"],
        filename=row["filename"],
        sha256=row["sha256"],
        size_bytes=row["size_bytes"],
        repeat_of=row["repeat_of"],
        imported_at=row["imported_at"],
    )


@router.get(
    "/unmatched",
    response_model=UnmatchedPage,
    summary="The operator queue: unmatched payments, newest first",
    responses=problems(422),
)
async def unmatched(
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # A bigint sequence number: anything past it was never issued, and is refused as invalid.
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="`next_cursor` of the previous page")] = None,
) -> UnmatchedPage:
    """Operator only. Payments no claim could be matched to, newest first: the queue to work through by
    matching or refunding each."""
    async with db.connection() as conn:
        rows = await repository.unmatched_payments(conn, limit=limit, before=cursor)
    items = [
        UnmatchedPaymentOut(
            payment_id=r["id"],
            import_id=r["import_id"],
            amount_minor=r["amount_minor"],
            currency=r["currency"],
            booking_date=r["booking_date"],
            value_date=r["value_date"],
            reference=r["reference"],
            remittance_text=r["remittance_text"],
            bank_ref=r["bank_ref"],
            end_to_end_id=r["end_to_end_id"],
            debtor_name=r["debtor_name"],
            debtor_account=r["debtor_account"],
            reason=r["unmatched_reason"],
            explanation=r["unmatched_detail"],
            candidates=[CandidateClaimOut.model_validate(c) for c in r["candidates"]],
            account=r["account"],
            received_at=r["received_at"],
        )
        for r in rows
    ]
    return UnmatchedPage(items=items, next_cursor=rows[-1]["seq"] if len(rows) == limit else None)


_QUEUE_RESPONSES = problems(
    422,
    _404="no such payment, or it was matched without an operator",
    _409="an operator has handled the payment already",
)


def _queue_problem(exc: service.QueueActionError) -> Problem:
    titles = {404: "Not Found", 409: "Conflict", 422: "Validation failed"}
    return Problem(exc.status, titles[exc.status], exc.detail)


def _queue_out(result: service.QueueActionResult) -> QueueActionOut:
    return QueueActionOut(
        payment_id=result.payment_id, state=result.state, claim_id=result.claim_id, handled_at=result.handled_at
    )


@router.post(
    "/unmatched/{payment_id}/match",
    response_model=QueueActionOut,
    summary="Match an unmatched payment to a claim (PaymentReceived); it leaves the queue",
    responses={**_QUEUE_RESPONSES, **problems(_422="invalid body, or the claim is not indexed or in another currency")},
)
async def match_unmatched(payment_id: UUID, body: OperatorMatchIn, db: DB, clock: CurrentClock) -> QueueActionOut:
    """Operator only. Matches a queued payment to a claim by hand; the claim is credited (PaymentReceived) and
    the payment leaves the queue. A payment already handled is refused."""
    try:
        result = await service.match_by_operator(db, payment_id, body.claim_id, clock.now())
    except service.QueueActionError as exc:
        raise _queue_problem(exc) from exc
    return _queue_out(result)


@router.post(
    "/unmatched/{payment_id}/refund",
    response_model=QueueActionOut,
    summary="Ask for an unmatched payment to be refunded; it leaves the queue",
    responses=_QUEUE_RESPONSES,
)
async def refund_unmatched(payment_id: UUID, db: DB, clock: CurrentClock) -> QueueActionOut:
    """Operator only. Marks a queued payment for refund to the payer; it leaves the queue. A payment already
    handled is refused."""
    try:
        result = await service.refund_by_operator(db, payment_id, clock.now())
    except service.QueueActionError as exc:
        raise _queue_problem(exc) from exc
    return _queue_out(result)


# Card processors authenticate with the operator token, like the payment-notification endpoint.
card_router = APIRouter(
    prefix="/v1/card-instalments",
    tags=["card instalments"],
    dependencies=[Depends(require_operator)],
    responses=problems(401),
)


def _card_failure_out(row: repository.Row) -> CardInstalmentFailureOut:
    return CardInstalmentFailureOut(
        failure_id=row["id"],
        id=row["source_id"],
        creditor_id=row["creditor_id"],
        debtor_id=row["debtor_id"],
        customer_no=row["customer_no"],
        agreement_ref=row["agreement_ref"],
        instalment_no=row["instalment_no"],
        instalment_count=row["instalment_count"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        reason=row["reason"],
        next_attempt_date=row["next_attempt_date"],
        failed_at=row["failed_at"],
        received_at=row["received_at"],
    )


@card_router.post(
    "/failed",
    status_code=status.HTTP_201_CREATED,
    response_model=CardInstalmentFailureOut,
    summary="Report a card instalment that failed authorisation",
    description="Emits CardInstalmentFailed: claims-api turns the instalment into a payment-slip claim with due and "
    "final due date today, and the next instalment is retried on the card on `next_attempt_date`. Idempotent on "
    "the processor's `id`: a known id answers 200 with the failure recorded first, and nothing is emitted again.",
    responses={
        200: {"description": "this id was reported before; nothing new was applied", "model": CardInstalmentFailureOut},
        **problems(_422="invalid body (unknown fields are refused, dates and counts must agree)"),
    },
)
async def card_instalment_failed(
    body: CardInstalmentFailedIn, db: DB, clock: CurrentClock, response: Response
) -> CardInstalmentFailureOut:
    now = clock.now()
    failure = service.CardFailure(
        source_id=body.id,
        creditor_id=body.creditor_id,
        customer_no=body.customer_no,
        agreement_ref=body.agreement_ref,
        instalment_no=body.instalment_no,
        instalment_count=body.instalment_count,
        amount_minor=body.amount_minor,
        currency=body.currency,
        reason=body.reason,
        next_attempt_date=body.next_attempt_date,
        failed_at=body.failed_at or now,
    )
    if body.failed_at is None and failure.next_attempt_date is not None and failure.next_attempt_date <= now.date():
        raise Problem(
            422,
            "Validation failed",
            "next_attempt_date must be after the day the instalment failed",
            type_=PROBLEMS + "validation",
            extra={"errors": [{"pointer": "/next_attempt_date", "detail": "not after the failure"}]},
        )
    row, created = await service.record_card_failure(db, failure, now)
    if created:
        response.headers["Location"] = f"/v1/card-instalments/failed/{row['id']}"
    else:
        response.status_code = status.HTTP_200_OK
    return _card_failure_out(row)


@card_router.get(
    "/failed/{failure_id}",
    response_model=CardInstalmentFailureOut,
    summary="One reported card instalment failure",
    responses=problems(422, _404="no such card instalment failure"),
)
async def get_card_instalment_failure(failure_id: UUID, db: DB) -> CardInstalmentFailureOut:
    """Operator only. One failed card instalment as the PSP reported it, with the next attempt date."""
    async with db.connection() as conn:
        row = await repository.card_failure(conn, failure_id=failure_id)
    if row is None:
        raise Problem(404, "Not Found", "no such card instalment failure")
    return _card_failure_out(row)
