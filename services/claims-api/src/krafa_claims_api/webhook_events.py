"""What each creditor webhook carries: one model per event type. `webhooks.enqueue_webhook`
validates every payload against its model before it is queued, and the OpenAPI document's
`webhooks` section is built from the same models, so the documented payload is the one sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimPaidData(_Data):
    """The claim is paid in full (an overpayment is reported, never kept silently)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "claim_id": "4f1c8b0e-2f0b-4e0e-9a51-0f5d3c2b9a10",
                    "invoice_no": "INV-2026-0042",
                    "amount_paid_minor": 10390,
                    "overpaid_minor": 0,
                    "currency": "ISK",
                    "paid_at": "2026-03-04T09:12:00+00:00",
                }
            ]
        },
    )

    claim_id: UUID
    invoice_no: str = Field(description="the creditor's own invoice number")
    amount_paid_minor: int = Field(description="all paid on the claim, in minor units of `currency`")
    overpaid_minor: int = Field(ge=0, description="paid beyond the balance, in minor units")
    currency: str = Field(description="ISO 4217 code")
    paid_at: datetime


class ClaimDisputedData(_Data):
    """The debtor disputes the claim: reminders pause until the creditor resolves it."""

    claim_id: UUID
    invoice_no: str
    reason: str | None = Field(description="the debtor's words, if any")
    source: str = Field(description="where the dispute came from (api, portal, ...)")


class HandoverClaim(_Data):
    claim_id: UUID
    invoice_no: str


class ClaimHandoverPendingData(_Data):
    """Claims are about to be handed over to collection: the creditor may still hold them until
    `handover_at`."""

    notice_id: UUID
    claims: list[HandoverClaim]
    handover_at: datetime


class PaymentUnmatchedData(_Data):
    """A payment to the creditor that no claim could be matched to: it waits for the creditor."""

    payment_id: UUID
    amount_minor: int
    currency: str
    reference: str | None
    remittance_text: str | None
    booking_date: date | None
    bank_ref: str | None
    reason: str = Field(description="why it was not matched")


class ContactBouncedData(_Data):
    """A debtor's email address bounced (sent once, when its state changes)."""

    debtor_id: UUID
    address: str
    kind: Literal["hard", "soft"]
    status: str | None = Field(description="RFC 3463 enhanced status code")
    reason: str
    claim_ids: list[UUID]
    bounced_at: datetime


class RequestedInstalmentData(_Data):
    due_date: date
    amount_minor: int


class ArrangementRequestedData(_Data):
    """The debtor asks for more time or instalments beyond the creditor's terms: the creditor decides."""

    claim_id: UUID
    invoice_no: str
    request_id: UUID
    kind: Literal["deferral", "instalments"]
    due_date: date | None
    instalments: list[RequestedInstalmentData]
    reasons: list[str] = Field(description="why it is beyond the creditor's terms")
    note: str | None
    source: Literal["debtor_request"]


DATA: dict[str, type[_Data]] = {
    "claim.paid": ClaimPaidData,
    "claim.disputed": ClaimDisputedData,
    "claim.handover_pending": ClaimHandoverPendingData,
    "payment.unmatched": PaymentUnmatchedData,
    "contact.bounced": ContactBouncedData,
    "arrangement.requested": ArrangementRequestedData,
}


def validate(event_type: str, data: dict[str, Any]) -> None:
    """A ValueError unless `data` is what the event type's model documents."""
    model = DATA.get(event_type)
    if model is None:
        raise ValueError(f"unknown webhook type {event_type!r}")
    model.model_validate(data)  # pydantic's ValidationError is a ValueError
