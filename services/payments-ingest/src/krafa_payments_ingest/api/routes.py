"""REST routes of payments-ingest, all for operators: thin, they parse, call a use case, and
shape the answer."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response, status
from krafa_kit.http import Problem
from pydantic import Field

from krafa_payments_ingest import repository, service
from krafa_payments_ingest.api.deps import DB, PROBLEMS, CurrentClock, UploadedFile, require_operator
from krafa_payments_ingest.api.schemas import (
    ImportOut,
    ImportSummary,
    PaymentNotificationIn,
    UnmatchedPage,
    UnmatchedPaymentOut,
)
from krafa_payments_ingest.parsers import BankFileError

router = APIRouter(prefix="/v1/payments", tags=["payments"], dependencies=[Depends(require_operator)])

_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the bank file as the raw body, or as the `file` part of a multipart upload",
        "content": {
            "application/octet-stream": _BINARY,
            "application/xml": _BINARY,
            "text/plain": _BINARY,
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
        413: {"description": "the file exceeds the upload limit"},
        422: {"description": "the file is malformed; `line`, `entry` and `reason` say where and why"},
    },
)
async def import_file(upload: UploadedFile, db: DB, clock: CurrentClock, response: Response) -> ImportOut:
    try:
        result = await service.import_file(db, upload.data, upload.filename, clock.now())
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
        422: {"description": "invalid body (unknown fields are refused) or an id repeated within it"},
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


@router.get("/imports/{import_id}", response_model=ImportSummary, summary="The summary of one import")
async def get_import(import_id: UUID, db: DB) -> ImportSummary:
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


@router.get("/unmatched", response_model=UnmatchedPage, summary="The operator queue: unmatched payments, newest first")
async def unmatched(
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, description="`next_cursor` of the previous page")] = None,
) -> UnmatchedPage:
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
            received_at=r["received_at"],
        )
        for r in rows
    ]
    return UnmatchedPage(items=items, next_cursor=rows[-1]["seq"] if len(rows) == limit else None)
