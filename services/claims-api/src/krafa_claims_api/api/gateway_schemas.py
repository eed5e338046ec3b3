"""Bodies of a creditor's reads of what the notifier and the scheduler own (api/gateway.py). claims-api
publishes its own schemas for them: the owner's answer is validated into these before it reaches the
creditor, so only what is documented here goes out."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel

# ISO 8601 as the owners write it (`+00:00`), passed on unchanged.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

TemplateChannel = Literal["email", "sms", "letter"]
PreviewChannel = Literal["email", "sms", "letter", "netbank"]
Language = Literal["is", "nb", "et", "en"]
Tone = Literal["friendly", "firm", "final"]
# A template's key: the notice template (`reminder`, or the one a policy step names), or
# `template.step` for one step of it, which wins over the template's.
TEMPLATE_KEY = r"^[a-z0-9_-]{1,40}(\.[0-9]{1,2})?$"
TEMPLATE_NAME = r"^[a-z0-9_-]{1,40}$"
MAX_TEMPLATE_CHARS = 20_000


# -- templates ------------------------------------------------------------------------------------


class StoredTemplate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "reminder.2",
                    "channel": "sms",
                    "language": "is",
                    "subject": None,
                    "body": "{{ v.debtor_name }}, reikningur {{ v.invoice_nos }} er enn ógreiddur.",
                    "updated_at": "2026-03-02T09:15:00+00:00",
                }
            ]
        }
    )

    key: str = Field(description="`template` or `template.step`; the step's wins over the template's")
    channel: TemplateChannel
    language: str = Field(description="the language it is written in (is, nb, et, en)")
    subject: str | None = Field(description="an email's subject; null on other channels")
    body: str = Field(description="the creditor's Jinja2 text (sandboxed), as stored")
    updated_at: Timestamp


class TemplateList(BaseModel):
    items: list[StoredTemplate] = Field(description="by key, channel and language; empty: Krafa's own wording")


# -- previews -------------------------------------------------------------------------------------


class ReminderPreviewIn(BaseModel):
    """The notice some of the creditor's claims (of one debtor) would get, rendered, not sent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "claim_ids": ["0b6c2f0e-6a3e-4f57-9a0e-2a8f7f0c1d11"],
                    "step": 2,
                    "channel": "email",
                    "fee_minor": 950,
                    "body": "Kæri {{ v.debtor_name }}, við minnum aftur á greiðsluna.",
                }
            ]
        },
    )

    claim_ids: list[UUID] = Field(min_length=1, max_length=100, description="claims of one debtor")
    step: int = Field(default=1, ge=1, le=99, description="the policy step (the tone rises with it)")
    channel: PreviewChannel = "email"
    language: Language | None = Field(default=None, description="default: the debtor's, else the creditor's")
    template: str = Field(default="reminder", pattern=TEMPLATE_NAME, description="the notice template's key")
    tone: Tone | None = Field(default=None, description="default: friendly at step 1, firm at 2, final later")
    fee_minor: int = Field(default=0, ge=0, le=10**15, description="a fee to show, integer minor units")
    interest_minor: int = Field(default=0, ge=0, le=10**15, description="late interest to show, integer minor units")
    pay_by: date | None = None
    body: str | None = Field(
        default=None,
        max_length=MAX_TEMPLATE_CHARS,
        description="an unsaved template to try out; without it the creditor's saved one, else Krafa's",
    )
    subject: str | None = Field(default=None, max_length=500, description="with `body`: an email's subject")


class SamplePreviewIn(BaseModel):
    """The notice a sample debtor with two claims (fees and interest, every field set) would get."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"language": "is", "step": 1, "channel": "sms"}]},
    )

    language: Language
    step: int = Field(default=1, ge=1, le=99)
    channel: PreviewChannel = "email"
    template: str = Field(default="reminder", pattern=TEMPLATE_NAME)
    body: str | None = Field(
        default=None,
        max_length=MAX_TEMPLATE_CHARS,
        description="an unsaved template to try out; without it the creditor's saved one, else Krafa's",
    )
    subject: str | None = Field(default=None, max_length=500)


class EmailPreview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "email",
                    "language": "is",
                    "subject": "Áminning: ógreiddur reikningur INV-1001",
                    "text": "Góðan dag Jón Jónsson,\n\nreikningur INV-1001 er enn ógreiddur …",
                    "html": "<p>Góðan dag Jón Jónsson,</p>",
                }
            ]
        }
    )

    channel: Literal["email"]
    language: str
    subject: str
    text: str
    html: str


class SmsPreview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "language": "en",
                    "text": "Invoice INV-1001 of 10,000 ISK is overdue. Pay by 3 Apr.",
                    "encoding": "GSM-7",
                    "segments": 1,
                }
            ]
        }
    )

    channel: Literal["sms"]
    language: str
    text: str
    encoding: str = Field(description="GSM-7 or UCS-2")
    segments: int = Field(description="what the provider bills")


class LetterPreview(BaseModel):
    channel: Literal["letter", "netbank"]
    language: str
    heading: str
    paragraphs: list[str]
    totals: list[str]
    address: list[str] = Field(description="the debtor's postal address as printed")


class ReminderPreview(RootModel[Annotated[EmailPreview | SmsPreview | LetterPreview, Field(discriminator="channel")]]):
    """A notice as it would go out: by `channel`, an email, an SMS or a letter (or netbank document)."""


# -- policies and schedules -----------------------------------------------------------------------

POLICY_EXAMPLE: dict[str, Any] = {
    "key": "gentle",
    "version": 2,
    "jurisdiction": "IS",
    "steps": [
        {"name": "friendly", "notice": "aminning", "when": {"after": "due_date", "days": 3}, "channels": ["sms"]}
    ],
}


class StoredPolicy(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "gentle",
                    "version": 2,
                    "department": None,
                    "customer_class": None,
                    "created_at": "2026-03-02T09:15:00+00:00",
                    "current": True,
                    "policy": POLICY_EXAMPLE,
                }
            ]
        }
    )

    key: str
    version: int = Field(description="a running claim keeps the version it started with (`key@version`)")
    department: str | None = Field(description="the scope: claims of this department; null: any")
    customer_class: str | None = Field(description="the scope: debtors of this customer class; null: any")
    created_at: Timestamp
    current: bool | None = Field(
        default=None, description="in the list: the newest of its scope, the one new claims of that scope get"
    )
    policy: dict[str, Any] = Field(description="the policy document as stored (steps, channels, fees, tone)")


class PolicyList(BaseModel):
    items: list[StoredPolicy] = Field(
        description="every version, by scope, newest first; empty: the creditor follows the country's default"
    )


class CurrentPolicy(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"source": "creditor", "department": None, "customer_class": None, "policy": POLICY_EXAMPLE}]
        }
    )

    source: Literal["creditor", "shipped"] = Field(description="the creditor's own, or the country's default")
    department: str | None = None
    customer_class: str | None = None
    policy: dict[str, Any]


class PlannedFee(BaseModel):
    kind: str
    amount_minor: int = Field(description="integer minor units of the claim's currency")


class PlannedStep(BaseModel):
    step: int = Field(description="1-based position in the policy")
    name: str
    kind: str = Field(description="reminder, call, creditor_notice, handover or claim_watch")
    at: Timestamp = Field(description="when it falls due (UTC)")
    local_time: Timestamp = Field(description="the same moment in the debtor's time zone")
    notice_kind: str | None = Field(default=None, description="the legal notice kind of the jurisdiction")
    notice_name: str | None = None
    stage: str | None = None
    channels: list[str]
    template: str
    tone: str
    fees: list[PlannedFee]
    interest_minor: int = Field(description="late interest accrued by then, integer minor units")
    total_minor: int | None = Field(
        default=None, description="what the debtor is told: principal outstanding with every fee and interest"
    )
    pay_by: date | None
    gap_days: int | None = Field(default=None, description="days since the previous contact with the debtor")
    currency: str


class ClaimSchedule(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "claim_id": "0b6c2f0e-6a3e-4f57-9a0e-2a8f7f0c1d11",
                    "status": "active",
                    "pause_reason": None,
                    "policy": "IS-standard@1",
                    "jurisdiction": "IS",
                    "as_of": "2026-03-05T10:00:00+00:00",
                    "interest_minor_today": 0,
                    "steps": [
                        {
                            "step": 1,
                            "name": "reminder",
                            "kind": "reminder",
                            "at": "2026-03-06T10:00:00+00:00",
                            "local_time": "2026-03-06T10:00:00+00:00",
                            "notice_kind": "aminning",
                            "channels": ["email"],
                            "template": "reminder",
                            "tone": "friendly",
                            "fees": [],
                            "interest_minor": 0,
                            "total_minor": 10000,
                            "pay_by": "2026-03-16",
                            "gap_days": None,
                            "currency": "ISK",
                        }
                    ],
                }
            ]
        }
    )

    claim_id: UUID
    status: str = Field(description="active, paused, plan (instalments), completed or stopped")
    pause_reason: str | None
    policy: str = Field(description="the policy planned with, `key@version` (GET /v1/policies/{key}/{version})")
    jurisdiction: str
    as_of: Timestamp
    interest_minor_today: int = Field(description="late interest accrued today, integer minor units")
    steps: list[PlannedStep] = Field(description="what comes next and when; empty unless the timeline is active")


# A sample claim's dates: wide enough for any real claim, and far from the calendar's end.
EARLIEST, LATEST = date(2000, 1, 1), date(2199, 12, 31)


class PolicyPlanIn(BaseModel):
    """A sample claim to preview a policy on: nothing is registered, sent or stored."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount_minor": 2500000, "currency": "ISK", "due_date": "2026-03-02", "department": "golf"}]
        },
    )

    amount_minor: int = Field(gt=0, le=10**15, description="the principal in integer minor units")
    currency: str = Field(pattern="^[A-Z]{3}$")
    due_date: date = Field(ge=EARLIEST, le=LATEST)
    final_due_date: date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="eindagi; default: what registering the claim gives (the department's rule, else the country's)",
    )
    policy: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}@[1-9][0-9]{0,8}$",
        description="one of the creditor's policies as `key@version`; default: the one the scope gets",
    )
    department: str | None = Field(default=None, max_length=100, description="the claim's department")
    customer_class: str = Field(default="regular", max_length=40, description="the debtor's customer class")
    debtor_kind: Literal["person", "company"] = "person"
    pays_on: date | None = Field(default=None, ge=EARLIEST, le=LATEST, description="paid in full that day")
    watch_rounds: int = Field(default=2, ge=0, le=12, description="claim-watch rounds after a handover")


class PolicyPlan(BaseModel):
    source: Literal["creditor", "shipped"] = Field(description="the creditor's own policy, or the country's default")
    department: str | None = Field(default=None, description="the scope of the creditor's policy planned with")
    customer_class: str | None = None
    policy: str = Field(description="the policy planned with, `key@version`")
    jurisdiction: str
    time_zone: str = Field(description="the time zone the sample debtor's local times are in")
    steps: list[PlannedStep] = Field(description="each step the sample claim would get, in order")
