"""The web service's calls on a debtor's behalf (KRAFA_PORTAL_TOKEN): one-time codes for login
and for verifying a new address, sent on the reminders' own email and SMS channels."""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from krafa_kit.http import Problem, problems, require_portal
from pydantic import BaseModel, ConfigDict, Field

from krafa_notifier import calls, codes, content, mime, repository, service
from krafa_notifier.channels import EmailChannel, PermanentSendError, TransientSendError

portal = APIRouter(prefix="/v1", tags=["debtor portal"], dependencies=[Depends(require_portal)])


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "sms"]
    recipient: str = Field(min_length=3, max_length=254, description="email address, or phone in E.164")
    code: str = Field(pattern=r"^[0-9]{6,8}$", description="the code to send (never stored here)")
    purpose: Literal["login", "verify"]
    language: str = Field(default="en", max_length=8)
    creditor_name: str = Field(min_length=1, max_length=200)
    valid_minutes: int = Field(default=10, ge=1, le=60)
    country: str = Field(default="IS", min_length=2, max_length=2, description="reads a phone without +")


@portal.post(
    "/one-time-codes",
    status_code=204,
    summary="Send a one-time code by email or SMS (portal login, verifying a new address)",
    responses=problems(401, 422, _503="the channel is not configured or did not take the message; try again"),
)
async def send_code(body: CodeIn, request: Request) -> None:
    """Called by the web service (service token): sends a one-time code by email or SMS for a portal login or
    to verify a new address. Answers 204; the code itself is never returned."""
    channels: dict[str, Any] = request.app.state.channels
    settings = request.app.state.settings
    clock = request.app.state.runtime.clock
    message = codes.message(
        body.purpose, body.code, language=body.language, creditor=body.creditor_name, minutes=body.valid_minutes
    )
    try:
        if body.channel == "email":
            email = channels.get("email")
            if not isinstance(email, EmailChannel):
                raise Problem(503, "Service Unavailable", "email is not ready")
            try:
                mime.envelope_recipients(body.recipient)
            except ValueError as exc:
                raise Problem(422, "Validation failed", "not an email address") from exc
            await codes.send_email(
                email,
                message,
                sender=settings.sender_email,
                recipient=body.recipient,
                domain=settings.return_domain,
                now=clock.now(),
            )
        else:
            provider = channels.get("sms")
            if provider is None:
                raise Problem(503, "Service Unavailable", "no SMS provider is configured")
            try:
                phone = calls.normalise_phone(body.recipient, body.country)
            except ValueError as exc:
                raise Problem(422, "Validation failed", "not a phone number") from exc
            await codes.send_sms(provider, message, recipient=phone)
    except (TransientSendError, PermanentSendError) as exc:
        raise Problem(503, "Service Unavailable", f"the {body.channel} channel did not take the code") from exc


@portal.get(
    "/portal/deliveries/{delivery_id}/document",
    summary="A sent notice as a PDF, for the debtor it was sent to",
    description="Rendered again from what the message said when it was sent (its content is kept with the send), "
    "laid out as the letter. 404 unless the delivery was sent to this creditor's debtor.",
    responses={200: {"content": {"application/pdf": {}}}, **problems(401, 404, 422)},
    response_class=Response,
)
async def document(delivery_id: UUID, creditor_id: UUID, debtor_id: UUID, request: Request) -> Response:
    db = request.app.state.runtime.db
    async with db.connection() as conn:
        row = await repository.sent_content(conn, delivery_id)
    if row is None or row["creditor_id"] != creditor_id or row["debtor_id"] != debtor_id or row["content"] is None:
        raise Problem(404, "Not Found", "no such notice")
    renderer: content.ReminderRenderer = request.app.state.renderer
    pdf = await asyncio.to_thread(service.sent_notice_pdf, row["content"], renderer)
    return Response(pdf, media_type="application/pdf", headers={"Cache-Control": "no-store"})
