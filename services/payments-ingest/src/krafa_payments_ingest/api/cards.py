"""Card payments from the debtor portal: checkouts (the web service, KRAFA_PORTAL_TOKEN) and the
provider's signed webhook."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from krafa_kit.http import Problem, problems, require_portal
from pydantic import BaseModel, ConfigDict, Field

from krafa_payments_ingest import checkouts, psp
from krafa_payments_ingest.api.deps import DB, CurrentClock

portal_router = APIRouter(prefix="/v1/card-checkouts", tags=["card payments"], dependencies=[Depends(require_portal)])
webhook_router = APIRouter(tags=["card payments"])


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    creditor_id: UUID
    debtor_id: UUID
    claim_id: UUID
    amount_minor: int = Field(gt=0, description="integer minor units of `currency` (ISO 4217)")
    currency: str = Field(pattern="^[A-Z]{3}$")
    description: str = Field(min_length=1, max_length=200)
    language: str = Field(default="en", max_length=8)
    success_url: str = Field(pattern="^https?://", max_length=2000)
    cancel_url: str = Field(pattern="^https?://", max_length=2000)
    stated_entries: int | None = Field(
        default=None,
        ge=1,
        description="when `amount_minor` is the claim's whole balance as the portal showed it: the claim's ledger "
        "then, by its number of entries. Paid, it settles the claim even if a charge was booked meanwhile",
    )


class CheckoutOut(BaseModel):
    id: str
    url: str


class CheckoutStatus(BaseModel):
    id: str
    claim_id: UUID
    amount_minor: int
    currency: str
    status: Literal["open", "paid", "expired"]


def _client(request: Request) -> psp.CheckoutClient:
    client: psp.CheckoutClient | None = request.app.state.psp
    if client is None:
        raise Problem(503, "Service Unavailable", "card payments are not configured (KRAFA_PSP_URL)")
    return client


@portal_router.post(
    "",
    status_code=201,
    response_model=CheckoutOut,
    summary="Start a hosted card checkout for (part of) a claim",
    responses=problems(401, 404, 409, 422, _503="the provider is unreachable or not configured"),
)
async def create_checkout(body: CheckoutIn, request: Request, db: DB, clock: CurrentClock) -> CheckoutOut:
    """Called by the web service for a logged-in debtor (service token): opens a hosted card checkout at the
    PSP for all or part of a claim and answers its URL."""
    session = await checkouts.start(db, _client(request), checkouts.CheckoutRequest(**body.model_dump()), clock.now())
    return CheckoutOut(id=session.id, url=session.url)


@portal_router.get(
    "/{checkout_id}", response_model=CheckoutStatus, summary="A checkout's state", responses=problems(401, 404)
)
async def get_checkout(checkout_id: str, db: DB) -> dict[str, Any]:
    """Called by the web service (service token): a card checkout's claim, amount and state."""
    found = await checkouts.status(db, checkout_id)
    if found is None:
        raise Problem(404, "Not Found", "no such checkout")
    return found


@webhook_router.post(
    "/v1/psp/webhook",
    summary="The payment-service provider's webhook (Stripe-Signature)",
    responses=problems(403, 404, 422),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def psp_webhook(request: Request, db: DB, clock: CurrentClock) -> dict[str, bool]:
    """Called by the payment-service provider, signed (`Stripe-Signature`): a paid checkout becomes a payment
    on its claim; a bad signature answers 403."""
    settings = request.app.state.settings
    if settings.psp_webhook_secret is None:
        raise Problem(404, "Not Found", "card payments are not configured")
    payload = await request.body()
    try:
        event = psp.verify(
            payload, request.headers.get("stripe-signature"), settings.psp_webhook_secret.get_secret_value()
        )
    except psp.BadSignature as exc:
        raise Problem(403, "Forbidden", str(exc)) from exc
    applied = await checkouts.completed(db, event, clock.now())
    return {"received": True, "applied": applied}
