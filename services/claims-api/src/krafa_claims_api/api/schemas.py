"""Request and response bodies of the REST API: deliberately separate from events and tables. The
bodies that are use-case commands live in krafa_claims_api.commands and are re-exported here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args
from uuid import UUID

from krafa_events import ClaimCreated, ReminderSent
from krafa_kit.inputs import BoundedDate, BoundedDatetime, Integer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from krafa_claims_api.commands import (
    CLAIM_EXAMPLE,
    AddressIn,
    BankClaimsIn,
    ClaimDebtorIn,
    ClaimIn,
    ContactConsentIn,
    CountryCode,
    CreditorIn,
    Strict,
)

__all__ = [
    "CLAIM_EXAMPLE",
    "AddressIn",
    "BankClaimsIn",
    "ClaimDebtorIn",
    "ClaimIn",
    "ContactConsentIn",
    "CountryCode",
    "CreditorIn",
]


class BulkClaimsIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"claims": [CLAIM_EXAMPLE]}]})

    claims: list[ClaimIn] = Field(min_length=1, max_length=10_000)


class HistoryItem(BaseModel):
    event_type: str
    occurred_at: datetime
    details: dict[str, object]


class InstalmentOut(BaseModel):
    no: int
    due_date: date
    amount_minor: int


ClaimStatusName = Literal["open", "disputed", "held", "paid", "cancelled", "written_off"]


class ClaimOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11",
                    "invoice_no": "INV-2026-0001",
                    "status": "disputed",
                    "overdue": False,
                    "debtor_id": "0f7d3b8a-1c2e-4a5b-8d9e-6f1a2b3c4d5e",
                    "customer_no": "C-1001",
                    "amount_minor": 10000,
                    "fees_minor": 390,
                    "paid_minor": 0,
                    "balance_minor": 10390,
                    "overpaid_minor": 0,
                    "currency": "ISK",
                    "issue_date": "2026-01-15",
                    "due_date": "2026-02-01",
                    "final_due_date": "2026-02-11",
                    "reference": "RF18100001",
                    "description": "Æfingagjöld vor 2026",
                    "department": "knattspyrna",
                    "created_at": "2026-01-15T10:00:00Z",
                    "updated_at": "2026-01-15T10:00:00Z",
                    "paid_at": None,
                    "dispute_reason": "the course was cancelled",
                    "actions": ["amend", "cancel", "resolve"],
                    "history": [
                        {
                            "event_type": ClaimCreated.TYPE,
                            "occurred_at": "2026-01-15T10:00:00Z",
                            "details": {"amount_minor": 10000, "fees_minor": 390, "currency": "ISK"},
                        }
                    ],
                }
            ]
        }
    )

    id: UUID
    invoice_no: str
    status: ClaimStatusName
    overdue: bool
    debtor_id: UUID
    customer_no: str
    amount_minor: int
    fees_minor: int
    paid_minor: int
    balance_minor: int
    overpaid_minor: int
    currency: str
    issue_date: date
    due_date: date
    final_due_date: date
    reference: str
    description: str | None
    department: str | None
    created_at: datetime
    updated_at: datetime | None = Field(
        default=None,
        description="when Krafa last changed the claim (status, balance, dates): the watermark for "
        "GET /v1/claims?updated_since=",
    )
    paid_at: datetime | None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    interest_minor: int = 0
    written_off_minor: int = 0
    dispute_reason: str | None = None
    held_until: datetime | None = None
    stage: str | None = Field(default=None, description="collection stage: collection, legal, watch …")
    actions: list[str] = Field(
        default_factory=list,
        description="what the claim's status allows now (the paths under /v1/claims/{id}/ to post to; "
        "`instalments` is `split`): a disputed claim is resolved, amended or cancelled — a cancellation "
        "upholds the dispute — before anything else",
        examples=[["amend", "cancel", "resolve"]],
    )
    payment: PaymentOut | None = Field(default=None, description="how the debtor pays: the netbank claim, KID, …")
    instalments: list[InstalmentOut] = Field(default_factory=list, description="the agreed payment plan, if any")
    history: list[HistoryItem] = Field(default_factory=list)


class BulkClaimsOut(BaseModel):
    created: int
    claims: list[ClaimOut]


class CancelIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "paid in cash at the desk"}]})

    reason: str | None = Field(default=None, max_length=500, description="why the creditor cancels the claim")


class PaymentOut(BaseModel):
    """How the debtor pays this claim (see krafa_events.catalog.PaymentIdentity)."""

    kind: Literal["bank_claim", "kid", "reference_number", "rf", "plain"]
    reference: str
    account: str = ""
    kid_scheme: Literal["mod10", "mod11"] | None = None
    claimant_id: str | None = None
    claim_bank: str | None = None
    claim_number: str | None = None


class CreditorProfile(BaseModel):
    id: UUID
    name: str
    country: str
    currency: str
    default_language: str
    slip_fee_minor: int = Field(description="the payment slip fee the debtor pays, minor units")
    cancellation_fee_minor: int = Field(
        description="what cancelling a claim costs the creditor (set off against its next settlement), minor units"
    )
    sender_name: str = Field(default="", description="the name messages are sent in; empty: `name`")
    sender_email: str = Field(default="", description="the email From address; empty: the agency's")
    reply_to: str = Field(default="", description="where debtors' answers to emails go; empty: `sender_email`")
    sms_sender_id: str = Field(default="", description="the sender a text shows; empty: the agency's")
    contact_phone: str = Field(default="", description="the phone number messages give debtors to call")


class CreditorSenderIn(Strict):
    """The fields to change (those left out stay); an empty string returns a field to its default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"sender_name": "Fram – innheimta", "reply_to": "gjaldkeri@fram.is", "sms_sender_id": "FRAM"}]
        },
    )

    sender_name: str | None = Field(default=None, max_length=200)
    sender_email: str | None = Field(default=None, max_length=254)
    reply_to: str | None = Field(default=None, max_length=254)
    sms_sender_id: str | None = Field(default=None, max_length=32)
    contact_phone: str | None = Field(default=None, max_length=32)


class CreditorChange(BaseModel):
    at: datetime
    actor: str = Field(description='who: "API key <prefix>" or "creditor web: <user>"')
    changes: dict[str, list[str]] = Field(description="field → [before, after]")


class CreditorChangeList(BaseModel):
    items: list[CreditorChange] = Field(description="newest first")


class CreditorCreated(BaseModel):
    creditor_id: UUID
    api_key: str = Field(description="shown once; only its hash is stored")
    scopes: list[str]


class ClaimPage(BaseModel):
    items: list[ClaimOut] = Field(description="claims in (created_at, id) order, without their history")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class AgingBucket(BaseModel):
    bucket: Literal["current", "1-30", "31-60", "61-90", "90+"] = Field(description="days past the due date")
    count: int
    balance_minor: int


class AgingCurrency(BaseModel):
    currency: str
    count: int
    balance_minor: int
    buckets: list[AgingBucket]


class AgingReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-03-01",
                    "currencies": [
                        {
                            "currency": "ISK",
                            "count": 3,
                            "balance_minor": 31170,
                            "buckets": [
                                {"bucket": "current", "count": 1, "balance_minor": 10390},
                                {"bucket": "1-30", "count": 1, "balance_minor": 10390},
                                {"bucket": "31-60", "count": 1, "balance_minor": 10390},
                                {"bucket": "61-90", "count": 0, "balance_minor": 0},
                                {"bucket": "90+", "count": 0, "balance_minor": 0},
                            ],
                        }
                    ],
                }
            ]
        }
    )

    as_of: date
    currencies: list[AgingCurrency]


class ProblemOut(BaseModel):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field(description="a URI naming the problem, or about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")
    errors: list[dict[str, str]] | None = Field(default=None, description="validation errors, with JSON pointers")


# --- lifecycle -------------------------------------------------------------------------------


def _example(body: JsonDict) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [body]})


def _response_example(body: JsonDict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [body]})


class AmendIn(Strict):
    model_config = _example({"amount_minor": 8000, "due_date": "2026-02-15", "reason": "one training missed"})

    amount_minor: Integer | None = Field(default=None, gt=0, le=10**13, description="the new principal")
    due_date: BoundedDate | None = None
    final_due_date: BoundedDate | None = Field(default=None, description="default: keeps the gap to the due date")
    reason: str | None = Field(default=None, max_length=500)


class DisputeIn(Strict):
    model_config = _example({"reason": "the debtor says the course was cancelled"})

    reason: str = Field(min_length=1, max_length=500)


class CorrectionIn(Strict):
    model_config = _example({"amount_minor": 6000})

    amount_minor: Integer | None = Field(default=None, gt=0, le=10**13, description="the corrected principal")
    due_date: BoundedDate | None = None
    final_due_date: BoundedDate | None = Field(default=None, description="default: keeps the gap to the due date")


class ResolveIn(Strict):
    model_config = _example({"outcome": "resume", "note": "attendance records confirm the claim"})

    outcome: Literal["resume", "cancel"] = Field(description="resume dunning, or cancel the claim")
    note: str | None = Field(default=None, max_length=500)
    correction: CorrectionIn | None = Field(
        default=None,
        description="only with `resume`: the dispute is upheld in part and the claim corrected (as `/amend`, "
        "ClaimAmended) before dunning resumes on the corrected claim, in the same transaction; a correction the "
        "amend rules refuse leaves the claim disputed",
    )


class DeferIn(Strict):
    model_config = _example({"due_date": "2026-03-01"})

    due_date: BoundedDate = Field(description="the new due date, after the current one")
    final_due_date: BoundedDate | None = Field(default=None, description="default: keeps the gap to the due date")


class InstalmentIn(Strict):
    due_date: BoundedDate
    amount_minor: Integer = Field(gt=0, le=10**13)


class SplitIn(Strict):
    model_config = _example(
        {
            "instalments": [
                {"due_date": "2026-03-01", "amount_minor": 5195},
                {"due_date": "2026-04-01", "amount_minor": 5195},
            ]
        }
    )

    instalments: list[InstalmentIn] = Field(
        min_length=1, max_length=60, description="ascending due dates; the amounts must add up to the balance"
    )


class HoldIn(Strict):
    model_config = _example({"until": "2026-03-10T12:00:00Z", "reason": "agreed with the parents"})

    until: BoundedDatetime | None = Field(default=None, description="lift the hold by itself at this time")
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("until")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value


class WriteOffIn(Strict):
    model_config = _example({"reason": "debtor deceased, no estate"})

    reason: str | None = Field(default=None, max_length=500)


class LedgerEntryOut(BaseModel):
    kind: Literal["charge", "fee", "interest", "payment", "reversal", "amendment", "write_off", "waiver"]
    amount_minor: int = Field(description="the movement's own amount (a payment: what was paid)")
    principal_minor: int = Field(description="change of the outstanding principal")
    fees_minor: int = Field(description="change of the outstanding fees")
    interest_minor: int = Field(description="change of the outstanding interest")
    overpaid_minor: int = Field(description="change of the overpaid credit")
    currency: str
    occurred_at: datetime
    details: dict[str, object]


class LedgerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "claim_id": "7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11",
                    "currency": "ISK",
                    "principal_minor": 10000,
                    "fees_minor": 390,
                    "interest_minor": 0,
                    "payments_minor": 0,
                    "written_off_minor": 0,
                    "outstanding": {"principal_minor": 10000, "fees_minor": 390, "interest_minor": 0},
                    "balance_minor": 10390,
                    "overpaid_minor": 0,
                    "entries": [
                        {
                            "kind": "charge",
                            "amount_minor": 10390,
                            "principal_minor": 10000,
                            "fees_minor": 390,
                            "interest_minor": 0,
                            "overpaid_minor": 0,
                            "currency": "ISK",
                            "occurred_at": "2026-01-15T10:00:00Z",
                            "details": {"fees_kind": "slip_fee"},
                        }
                    ],
                }
            ]
        }
    )

    claim_id: UUID
    currency: str
    principal_minor: int = Field(description="principal charged (after amendments)")
    fees_minor: int = Field(description="fees charged (net of waivers)")
    interest_minor: int = Field(description="interest charged (net of waivers)")
    payments_minor: int = Field(description="paid in total (net of reversals)")
    written_off_minor: int
    outstanding: dict[str, int] = Field(description="what is still owed per component")
    balance_minor: int
    overpaid_minor: int
    agency_commission_minor: int = Field(
        default=0,
        description="claim watch (kröfuvakt): the collection agency's share of what was collected since the claim "
        "went into claim watch (net of reversals), per the agency's terms; each such payment's entry shows its "
        "split under details.watch_split. The creditor is paid out payments_minor less this",
    )
    entries: list[LedgerEntryOut]


class TimelineItem(BaseModel):
    at: datetime
    kind: str = Field(
        description="created, reminder_due, reminder_sent, reminder_delivered, delivery_failed, bounce, payment, "
        "paid, fee, dispute, dispute_resolved, hold, release, deferral, instalment_plan, amendment, cancelled, "
        "written_off, escalated, claim_watch, handover_notice, call_outcome, due_date_passed, other"
    )
    event_type: str
    event_id: UUID
    channel: str | None = None
    content_link: str | None = Field(
        default=None,
        description="the reminder's delivery at this API (GET it with the same key): when it was sent, delivered, "
        "refused or bounced, and what replaced it",
    )
    fallback_for: str | None = Field(default=None, description="the delivery a fallback replaces")
    details: dict[str, object]


class DeliveryOut(BaseModel):
    delivery_id: UUID
    claim_id: UUID
    channel: str | None
    step: int | None
    fallback_for: str | None = Field(description="the delivery this one replaced (a letter after a bounce)")
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    bounced_at: datetime | None
    bounce_kind: str | None
    events: list[TimelineItem] = Field(description="the timeline's items of this delivery")


class TimelineOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "claim_id": "7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11",
                    "items": [
                        {
                            "at": "2026-02-21T09:00:00Z",
                            "kind": "reminder_sent",
                            "event_type": ReminderSent.TYPE,
                            "event_id": "5b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                            "channel": "email",
                            "content_link": "/v1/claims/7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11/deliveries/"
                            "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
                            "fallback_for": None,
                            "details": {"step": 1, "channel": "email"},
                        }
                    ],
                }
            ]
        }
    )

    claim_id: UUID
    items: list[TimelineItem]


# --- departments -----------------------------------------------------------------------------


class DepartmentIn(Strict):
    model_config = _example(
        {"key": "knattspyrna", "name": "Knattspyrnudeild", "final_due_offset_days": 10, "policy_key": "is-sports"}
    )

    key: str = Field(min_length=1, max_length=64, pattern=r"^[^\s/]+$", description="what claims reference")
    name: str = Field(min_length=1, max_length=200)
    final_due_offset_days: Integer = Field(default=10, ge=0, le=365, description="final due date = due date + N days")
    policy_key: str | None = Field(default=None, max_length=64, description="the dunning policy for its claims")


class DepartmentOut(BaseModel):
    model_config = _response_example(
        {
            "id": "5b1f0c2e-8d4a-4e7b-9c3f-1a2b3c4d5e6f",
            "key": "knattspyrna",
            "name": "Knattspyrnudeild",
            "final_due_offset_days": 10,
            "policy_key": None,
            "created_at": "2026-01-10T09:00:00Z",
        }
    )

    id: UUID
    key: str
    name: str
    final_due_offset_days: int
    policy_key: str | None
    created_at: datetime


class DepartmentList(BaseModel):
    items: list[DepartmentOut]


# --- webhooks --------------------------------------------------------------------------------

WebhookType = Literal[
    "claim.paid",
    "claim.disputed",
    "claim.handover_pending",
    "payment.unmatched",
    "contact.bounced",
    "arrangement.requested",
]


class WebhookIn(Strict):
    model_config = _example(
        {"url": "https://erp.example.is/krafa/webhooks", "event_types": ["claim.paid", "claim.disputed"]}
    )

    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    event_types: list[WebhookType] = Field(
        default_factory=lambda: list(get_args(WebhookType)),
        min_length=1,
        max_length=5,
    )
    description: str | None = Field(default=None, max_length=200)


_WEBHOOK_EXAMPLE: JsonDict = {
    "id": "2c4e6a8b-0d1f-4a3c-8e5b-7d9f1a3c5e7b",
    "url": "https://erp.example.is/krafa/webhooks",
    "event_types": ["claim.paid", "claim.disputed"],
    "description": None,
    "created_at": "2026-01-10T09:00:00Z",
    "disabled_at": None,
}


class WebhookOut(BaseModel):
    model_config = _response_example(_WEBHOOK_EXAMPLE)

    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime
    disabled_at: datetime | None


class WebhookCreated(WebhookOut):
    model_config = _response_example({**_WEBHOOK_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

    secret: str = Field(description="whsec_…: shown once; verify `webhook-signature` with it")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookTypeOut(BaseModel):
    type: str = Field(description="the value of `event_types` and of a delivery's `type`")
    description: str = Field(description="what happened when it is sent")


class WebhookTypeList(BaseModel):
    model_config = _response_example(
        {
            "items": [
                {
                    "type": "claim.paid",
                    "description": "The claim is paid in full (an overpayment is reported, never kept silently).",
                }
            ]
        }
    )

    items: list[WebhookTypeOut]


class WebhookAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    id: UUID
    message_id: str = Field(description="the webhook-id header (the same on every retry)")
    event_type: str
    payload: dict[str, object]
    status: Literal["pending", "delivered", "failed", "cancelled"] = Field(
        description="cancelled: the endpoint was disabled before it was delivered"
    )
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    attempt_log: list[WebhookAttemptOut]


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryOut]


class WebhookRecoverIn(Strict):
    model_config = _example({"since": "2026-01-10T09:00:00Z"})

    since: BoundedDatetime = Field(description="send again the deliveries given up that were created at or after this")


class WebhookRecovered(BaseModel):
    model_config = _response_example({"requeued": 3})

    requeued: int = Field(description="deliveries queued again, each with a fresh retry schedule and its webhook-id")


class GivenUpDeliveryOut(BaseModel):
    id: UUID
    message_id: str = Field(description="the webhook-id header it was sent with (and is sent with again)")
    creditor_id: UUID
    creditor_name: str
    endpoint_id: UUID
    url: str
    endpoint_disabled: bool = Field(description="disabled endpoints cannot be recovered: the creditor registers anew")
    event_type: str
    attempts: int = Field(description="attempts made before it was given up")
    last_status_code: int | None = Field(description="the endpoint's last answer; none: no answer (timeout, refused)")
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None


class GivenUpList(BaseModel):
    model_config = _response_example(
        {
            "total": 1,
            "items": [
                {
                    "id": "9b1f0c3e-5d52-4f7e-9c1a-2b8f6c1e4a10",
                    "message_id": "msg_2Yx1cVQ4mB0",
                    "creditor_id": "0b7e9f5c-8c4f-4b8e-9a55-3f3e2c1d0a11",
                    "creditor_name": "Fram hf.",
                    "endpoint_id": "5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f",
                    "url": "https://erp.fram.is/krafa/webhooks",
                    "endpoint_disabled": False,
                    "event_type": "claim.paid",
                    "attempts": 8,
                    "last_status_code": 503,
                    "last_error": "HTTP 503",
                    "created_at": "2026-03-02T09:00:00Z",
                    "last_attempt_at": "2026-03-03T12:30:00Z",
                }
            ],
        }
    )

    total: int = Field(description="given-up deliveries matching the filters (items holds at most `limit`)")
    items: list[GivenUpDeliveryOut]


class OperatorRecoverIn(Strict):
    model_config = _example({"delivery_id": "9b1f0c3e-5d52-4f7e-9c1a-2b8f6c1e4a10"})

    delivery_id: UUID | None = Field(default=None, description="only this given-up delivery of the endpoint")
    since: BoundedDatetime | None = Field(
        default=None, description="only those created at or after this; with neither, every one of the endpoint's"
    )


# --- API keys --------------------------------------------------------------------------------

Scope = Literal["claims:write", "contacts:write", "read"]


class ApiKeyIn(Strict):
    model_config = _example({"name": "ERP read-only", "scopes": ["read"]})

    name: str | None = Field(default=None, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    sandbox: bool = Field(
        default=False,
        description="a key of the creditor's sandbox instead (made on first use, a copy of the creditor's "
        "settings): claims registered with it never reach a debtor, a provider or a bank, and it has its own clock "
        "(`POST /v1/sandbox/clock`)",
    )


_API_KEY_EXAMPLE: JsonDict = {
    "id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
    "prefix": "k3J9xQ2m",
    "name": "ERP read-only",
    "scopes": ["read"],
    "created_at": "2026-01-10T09:00:00Z",
    "revoked_at": None,
}


class ApiKeyOut(BaseModel):
    model_config = _response_example(_API_KEY_EXAMPLE)

    id: UUID
    prefix: str
    name: str | None
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    model_config = _response_example(
        {
            **_API_KEY_EXAMPLE,
            "api_key": "krf_k3J9xQ2m_<the secret, shown once>",
            "creditor_id": "2f4c6e8a-1b3d-4f5a-8c7e-9d0b1a2c3e4f",
            "sandbox": False,
        }
    )

    api_key: str = Field(description="shown once; only its hash is stored")
    creditor_id: UUID = Field(description="the creditor the key acts for: the sandbox's own id for a sandbox key")
    sandbox: bool = Field(default=False, description="a key of the creditor's sandbox")


class SandboxClockOut(BaseModel):
    model_config = _response_example(
        {"now": "2026-04-01T09:00:12Z", "offset_s": 2592000, "service_now": "2026-03-02T09:00:12Z"}
    )

    now: datetime = Field(description="the sandbox's now: what its claims' timelines run on")
    offset_s: int = Field(description="how far the sandbox's clock runs ahead of the service's, in seconds")
    service_now: datetime = Field(description="the service's now, which live creditors run on")


class SandboxClockAdvanceIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"advance": "P30D"}, {"to": "2026-04-01T09:00:00Z"}]},
    )

    advance: str | None = Field(
        default=None,
        max_length=40,
        description="an ISO 8601 duration of weeks, days, hours, minutes or seconds to move forward by "
        "(P30D, PT12H, P1DT6H); years and months have no fixed length and are refused",
        examples=["P30D"],
    )
    to: BoundedDatetime | None = Field(
        default=None, description="an instant (with its time zone) to move to; after the sandbox's now"
    )


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


class SandboxPaymentIn(Strict):
    model_config = _example({"claim_id": "7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11", "amount_minor": 5000})

    claim_id: UUID = Field(description="a claim of the sandbox")
    amount_minor: Integer = Field(gt=0, le=10**13, description="in the claim's currency, integer minor units")


class SandboxPaymentOut(BaseModel):
    model_config = _response_example(
        {
            "payment_id": "c3a1e7f2-8d4b-4e6a-9f10-2b3c4d5e6f70",
            "claim_id": "7d0f1f8e-3c2a-4d8b-9a71-2f0e4f0b5a11",
            "amount_minor": 5000,
            "currency": "ISK",
            "paid_at": "2026-04-01T09:00:12Z",
            "status": "open",
            "balance_minor": 5390,
        }
    )

    payment_id: UUID
    claim_id: UUID
    amount_minor: int
    currency: str
    paid_at: datetime = Field(description="the sandbox's now when it was paid")
    status: str = Field(description="the claim's status after it: paid when nothing is left")
    balance_minor: int = Field(description="what is left to pay, fees and interest included")
