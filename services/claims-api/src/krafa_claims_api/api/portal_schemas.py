"""Bodies of the portal routes (the web service's calls on a debtor's behalf) and of the
creditor's self-service terms and arrangement requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from krafa_claims_api.api.debtor_schemas import DebtorOut
from krafa_claims_api.api.schemas import ClaimOut, LedgerOut, TimelineOut
from krafa_claims_api.portal import domain
from krafa_claims_api.portal import repository as portal_repository


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TermsIn(Strict):
    max_deferral_days: int = Field(ge=0, le=365, description="a deferral up to this many days from today")
    max_instalments: int = Field(ge=0, le=60, description="at most this many instalments (0: no plans)")
    max_plan_days: int = Field(ge=0, le=1825, description="the last instalment within this many days from today")
    min_instalment_minor: int = Field(ge=0, description="each instalment at least this, minor units")
    interval_days: int = Field(default=30, ge=1, le=366, description="days between the instalments proposed")
    requests_allowed: bool = Field(
        default=True, description="beyond the terms the debtor may send a request (else it is refused)"
    )

    def value(self) -> domain.Terms:
        return domain.Terms(**self.model_dump())


class TermsOut(TermsIn):
    department: str | None = None


class CreditorOut(BaseModel):
    id: UUID
    name: str
    country: str
    currency: str
    contact_phone: str
    payment_account: str
    sender_email: str


class PortalDebtorOut(BaseModel):
    creditor: CreditorOut
    debtor: DebtorOut
    terms: TermsOut


class RequestedInstalment(BaseModel):
    due_date: date
    amount_minor: int


class RequestOut(BaseModel):
    id: UUID
    claim_id: UUID
    kind: Literal["deferral", "instalments"]
    due_date: date | None
    instalments: list[RequestedInstalment]
    note: str | None
    reasons: list[str] = Field(description="why it is beyond the creditor's terms")
    status: Literal["pending", "approved", "refused"]
    created_at: datetime
    decided_at: datetime | None
    decision_note: str | None

    @classmethod
    def of(cls, row: Any) -> RequestOut:
        return cls(
            id=row["id"],
            claim_id=row["claim_id"],
            kind=row["kind"],
            due_date=row["due_date"],
            instalments=[
                RequestedInstalment(due_date=d, amount_minor=a) for d, a in portal_repository.instalments_of(row)
            ],
            note=row["note"],
            reasons=list(row["reasons"]),
            status=row["status"],
            created_at=row["created_at"],
            decided_at=row["decided_at"],
            decision_note=row["decision_note"],
        )


class PortalClaimOut(BaseModel):
    claim: ClaimOut
    jurisdiction: str
    requests: list[RequestOut]


class PortalClaimsOut(BaseModel):
    items: list[PortalClaimOut]


class PortalClaimDetailOut(PortalClaimOut):
    ledger: LedgerOut
    timeline: TimelineOut


class PortalDisputeIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class ArrangementIn(Strict):
    kind: Literal["deferral", "instalments"]
    due_date: date | None = Field(default=None, description="deferral: the new due date")
    count: int | None = Field(default=None, ge=2, le=60, description="instalments: how many")
    first_due_date: date | None = Field(default=None, description="instalments: the first one's date (today)")
    note: str | None = Field(default=None, max_length=500, description="the debtor's words to the creditor")


class ArrangementOut(BaseModel):
    outcome: Literal["granted", "requested"]
    request_id: UUID | None
    reasons: list[str]
    claim: ClaimOut


class PortalContactIn(Strict):
    kind: Literal["email", "phone", "netbank"]
    value: str | None = Field(default=None, max_length=254, description="email or phone; none for netbank")
    consent_source: str = Field(min_length=1, max_length=100, description="what the debtor agreed to")
    terms_version: str | None = Field(default=None, max_length=50)


class PortalOptOutIn(Strict):
    reason: str = Field(default="revoked by the debtor in the portal", min_length=1, max_length=200)


class IdentityIn(Strict):
    national_id: str = Field(min_length=4, max_length=32)


class IdentityMatch(BaseModel):
    creditor_id: UUID
    debtor_id: UUID
    creditor_name: str


class IdentityOut(BaseModel):
    items: list[IdentityMatch]


class DecisionIn(Strict):
    note: str | None = Field(default=None, max_length=500)


class RequestsOut(BaseModel):
    items: list[RequestOut]
