"""Request and response bodies of the scheduler's operator API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

# ISO 8601 as the use cases write it (`+00:00`, not re-serialised as `Z`).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Open(BaseModel):
    # Bodies the use cases build: documented here, and whatever they add later still passes.
    model_config = ConfigDict(extra="allow")


class FeeOut(_Open):
    kind: str
    amount_minor: int = Field(description="integer minor units of the claim's currency")


class PlannedStepOut(_Open):
    step: int = Field(description="1-based position in the policy")
    name: str
    kind: str = Field(description="reminder, call, creditor_notice, handover or claim_watch")
    at: Timestamp = Field(description="when it falls due (UTC)")
    local_time: Timestamp = Field(description="the same moment in the debtor's time zone")
    channels: list[str]
    template: str
    tone: str
    fees: list[FeeOut]
    interest_minor: int = Field(description="late interest accrued by then, integer minor units")
    pay_by: date | None
    currency: str


class ScheduleOut(_Open):
    claim_id: UUID
    creditor_id: UUID
    status: str = Field(description="active, paused, plan (instalments), completed or stopped")
    pause_reason: str | None
    policy: str = Field(description="the policy planned with, `key@version`")
    jurisdiction: str
    as_of: Timestamp
    interest_minor_today: int
    steps: list[PlannedStepOut] = Field(description="empty unless the timeline is active")


class PlanIn(BaseModel):
    """A claim that does not exist yet, to preview a policy on."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(pattern="^[A-Za-z]{2}$", description="the jurisdiction; any but IS, NO, EE: the EU pack")
    amount_minor: int = Field(gt=0, le=10**15, description="the principal in integer minor units")
    currency: str = Field(pattern="^[A-Z]{3}$")
    due_date: date
    final_due_date: date | None = Field(default=None, description="eindagi; default: the due date")
    policy: str | None = Field(
        default=None, max_length=80, description="a shipped policy, `key` or `key@version`; default: the pack's"
    )
    customer_class: str = Field(default="regular", max_length=40)
    debtor_kind: Literal["person", "company"] = "person"
    pays_on: date | None = Field(default=None, description="the claim is paid in full that day")
    watch_rounds: int = Field(default=2, ge=0, le=12)


class CreditorPlanIn(BaseModel):
    """A sample claim of a creditor, to preview one of its own policies on (or the one its scope gets)."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(gt=0, le=10**15, description="the principal in integer minor units")
    currency: str = Field(pattern="^[A-Z]{3}$")
    due_date: date
    final_due_date: date | None = Field(default=None, description="eindagi; default: the due date")
    policy: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}@[1-9][0-9]{0,8}$",
        description="one of the creditor's stored policies as `key@version`; default: the one its scope gets",
    )
    department: str | None = Field(default=None, max_length=100, description="the scope: the claim's department")
    customer_class: str = Field(default="regular", max_length=40, description="the scope: the debtor's class")
    jurisdiction: str = Field(
        default="IS", pattern="^[A-Za-z]{2}$", description="the country whose default applies when none is stored"
    )
    debtor_kind: Literal["person", "company"] = "person"
    pays_on: date | None = Field(default=None, description="the claim is paid in full that day")
    watch_rounds: int = Field(default=2, ge=0, le=12)


class PlanOut(_Open):
    jurisdiction: str
    policy: str
    time_zone: str
    steps: list[PlannedStepOut]


class CreditorPlanOut(PlanOut):
    source: Literal["creditor", "shipped"] = Field(description="the creditor's own policy, or the country's default")
    department: str | None = Field(default=None, description="the scope of the creditor's policy used")
    customer_class: str | None = None


class PolicyPut(BaseModel):
    creditor_id: UUID
    department: str | None
    customer_class: str | None
    policy: dict[str, Any] = Field(description="the policy as stored, with its new `version`")


class PolicyGot(BaseModel):
    source: Literal["creditor", "shipped"] = Field(description="the creditor's own, or the jurisdiction's default")
    department: str | None = None
    customer_class: str | None = None
    policy: dict[str, Any]


class StoredPolicyOut(BaseModel):
    key: str
    version: int = Field(description="versions count per key; a running claim keeps the one it started with")
    department: str | None = Field(description="the scope: claims of this department, or any")
    customer_class: str | None = Field(description="the scope: debtors of this customer class, or any")
    created_at: Timestamp
    current: bool | None = Field(
        default=None, description="in a listing: the newest of its scope, the one new claims of that scope get"
    )
    policy: dict[str, Any] = Field(description="the policy document as stored")


class PoliciesOut(BaseModel):
    items: list[StoredPolicyOut]


class ClockOut(BaseModel):
    now: Timestamp


POLICY_EXAMPLES: dict[str, Any] = {
    "gentle": {
        "summary": "a friendly SMS and email 3 days after the due date, the collection warning 10 days after eindagi",
        "value": {
            "key": "gentle",
            "jurisdiction": "IS",
            "steps": [
                {
                    "name": "friendly",
                    "notice": "aminning",
                    "when": {"after": "due_date", "days": 3},
                    "channels": ["sms", "email"],
                },
                {
                    "name": "warning",
                    "notice": "innheimtuvidvorun",
                    "when": {"after": "final_due_date", "days": 10},
                    "channels": ["email"],
                    "fallbacks": {"email": ["letter"]},
                    "tone": "firm",
                    "pay_within_days": 10,
                    "fees": [{"kind": "collection_fee", "rule": "collection_warning"}],
                },
            ],
        },
    }
}
