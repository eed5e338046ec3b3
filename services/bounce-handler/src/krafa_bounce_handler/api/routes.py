"""REST routes of the bounce-handler, for operators (Bearer KRAFA_OPERATOR_TOKEN): thin, they parse,
query and shape."""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from krafa_kit.http import Problem, problems, require_operator

from krafa_bounce_handler import dsn, repository
from krafa_bounce_handler.api.deps import DB, CurrentSettings
from krafa_bounce_handler.api.schemas import BounceList, BounceOut, ParseOut, RecipientOut

# The provider webhooks (api/webhooks.py) have their own router and their providers' signatures.
router = APIRouter(prefix="/v1", tags=["bounces"], dependencies=[Depends(require_operator)])

BAD_CURSOR = Problem(400, "Bad Request", "the cursor is not one this API issued")


def bounce_out(row: repository.Row) -> BounceOut:
    return BounceOut(
        id=row["id"],
        delivery_id=row["delivery_id"],
        state=row["state"],
        recipient=row["recipient"],
        reported_address=row["reported_address"],
        kind=row["kind"],
        status=row["status"],
        reason=row["reason"],
        source=row["source"],
        received_at=row["received_at"],
        emitted_at=row["emitted_at"],
        event_id=row["event_id"],
        inbound_message_id=row["inbound_message_id"],
        raw_sha256=bytes(row["raw_sha256"]).hex(),
        creditor_id=row.get("creditor_id"),
        debtor_id=row.get("debtor_id"),
        claim_ids=list(row.get("claim_ids") or ()),
    )


def encode_cursor(received_at: datetime, bounce_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{received_at.isoformat()}|{bounce_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        moment, _, bounce_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(moment), UUID(bounce_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BAD_CURSOR from exc


@router.get(
    "/bounces",
    response_model=BounceList,
    summary="Bounces recorded, newest first, by delivery, creditor or kind",
    responses=problems(401, _400="the cursor is not one this API issued", _422="a malformed parameter"),
)
async def list_bounces(
    db: DB,
    delivery_id: UUID | None = None,
    state: Literal["emitted", "awaiting_delivery", "duplicate"] | None = None,
    creditor_id: UUID | None = None,
    kind: Literal["hard", "soft"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> BounceList:
    """Operator only. Bounces recorded from DSNs and provider webhooks, newest first, each with its kind (hard
    or soft), status code, recipient and the delivery's creditor, debtor and claims; filtered by delivery,
    state, creditor or kind."""
    after = decode_cursor(cursor) if cursor else None
    async with db.connection() as conn:
        rows = await repository.list_bounces(
            conn,
            delivery_id=delivery_id,
            state=state,
            after=after,
            limit=limit + 1,
            creditor_id=creditor_id,
            kind=kind,
        )
    page = rows[:limit]
    more = len(rows) > limit
    return BounceList(
        items=[bounce_out(row) for row in page],
        next_cursor=encode_cursor(page[-1]["received_at"], page[-1]["id"]) if more else None,
    )


@router.post(
    "/bounces/parse",
    response_model=ParseOut,
    summary="Classify a raw message (.eml) as the SMTP endpoint would; records nothing",
    responses=problems(401, _413="the message is larger than the SMTP endpoint accepts"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def parse(request: Request, settings: CurrentSettings) -> ParseOut:
    """Operator only. Classifies an uploaded raw message as the SMTP endpoint would (bounce or not, hard or
    soft, for whom) without recording anything: for checking a message a provider sent."""
    raw = await read_body(request, settings.max_message_bytes)
    report = await asyncio.to_thread(dsn.classify, raw)
    return ParseOut(
        is_bounce=report.is_bounce,
        kind=report.kind,
        recipients=[
            RecipientOut(address=r.address, kind=r.kind, status=r.status, reason=r.reason) for r in report.recipients
        ],
        not_bounce_reason=report.not_bounce_reason,
    )


async def read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Content Too Large", f"messages are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
