"""Response bodies of the notifier's API, as the OpenAPI document publishes them. Open models
(extra fields pass): the bodies are built by the use cases, and what they add later still goes out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# ISO 8601 as the use cases write it (`+00:00`), not re-serialised.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CallTaskOut(_Open):
    task_id: str
    reminder_id: str
    creditor_id: str
    debtor_id: str
    claim_ids: list[str]
    step: int
    status: str = Field(description="open, claimed or done")
    attempts: int
    window_opens_at: Timestamp
    window_closes_at: Timestamp
    claimed_by: str | None
    debtor_name: str | None
    phone: str | None = Field(description="E.164")
    language: str | None
    time_zone: str | None


class CallsDueOut(_Open):
    items: list[CallTaskOut]


class OutcomeOut(_Open):
    task_id: str
    status: str = Field(description="done, or open when a no-answer call was put back for its next window")
    next_window_opens_at: Timestamp | None


class CaseOut(_Open):
    claim_id: str
    creditor_id: str
    creditor_name: str | None
    debtor_id: str
    debtor_name: str | None
    invoice_no: str
    amount_minor: int = Field(description="principal and fees, integer minor units")
    currency: str
    due_date: Day
    reference: str | None
    status: str


class LookupOut(_Open):
    phone: str = Field(description="the number as E.164")
    cases: list[CaseOut]


class TemplateOut(_Open):
    key: str
    channel: Literal["email", "sms", "letter"]
    language: str
    sample: str = Field(description="the template rendered against a sample reminder")


class StoredTemplateOut(_Open):
    key: str = Field(description="`template` or `template.step`; the step's wins over the template's")
    channel: Literal["email", "sms", "letter"]
    language: str
    subject: str | None = Field(description="email only")
    body: str = Field(description="the creditor's Jinja2 text")
    updated_at: Timestamp


class TemplatesOut(_Open):
    items: list[StoredTemplateOut]


class EmailPreviewOut(_Open):
    channel: Literal["email"]
    language: str
    subject: str
    text: str
    html: str


class SmsPreviewOut(_Open):
    channel: Literal["sms"]
    language: str
    text: str
    encoding: str = Field(description="GSM-7 or UCS-2")
    segments: int


class LetterPreviewOut(_Open):
    channel: Literal["letter", "netbank"]
    language: str
    heading: str
    paragraphs: list[str]
    totals: list[str]
    address: list[str]


PreviewOut = Annotated[EmailPreviewOut | SmsPreviewOut | LetterPreviewOut, Field(discriminator="channel")]


class CostOut(_Open):
    channel: str
    currency: str | None
    messages: int
    segments: int | None
    cost_minor: int | None = Field(description="what the provider charged, integer minor units")


class CostsOut(_Open):
    since: Timestamp
    until: Timestamp
    items: list[CostOut]
