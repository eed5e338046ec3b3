"""Request and response bodies of the REST API: deliberately separate from events and tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$", examples=["IS"])]
CurrencyCode = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$", examples=["ISK"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(Strict):
    lines: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=4)
    postcode: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=100)
    country: CountryCode


class DebtorIn(Strict):
    customer_no: str = Field(min_length=1, max_length=64, description="the creditor's own customer number")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["person", "company"] = "person"
    national_id: str | None = Field(default=None, max_length=32)
    language: Literal["is", "nb", "et", "en"] = "en"
    time_zone: str = Field(default="UTC", max_length=64)
    country: CountryCode
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+[1-9][0-9]{6,14}$")
    address: AddressIn | None = None
    fallback_channel: Literal["letter", "netbank"] = "letter"

    @field_validator("time_zone")
    @classmethod
    def known_time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


CLAIM_EXAMPLE: JsonDict = {
    "invoice_no": "INV-2026-0001",
    "amount_minor": 10000,
    "currency": "ISK",
    "issue_date": "2026-01-15",
    "due_date": "2026-02-01",
    "description": "Æfingagjöld vor 2026",
    "department": "football",
    "debtor": {
        "customer_no": "C-1001",
        "name": "Jón Jónsson",
        "kind": "person",
        "language": "is",
        "time_zone": "Atlantic/Reykjavik",
        "country": "IS",
        "email": "jon@example.is",
        "phone": "+3545551234",
        "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
    },
}


class ClaimIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CLAIM_EXAMPLE]})

    invoice_no: str = Field(min_length=1, max_length=64, examples=["INV-2026-0001"])
    debtor: DebtorIn
    amount_minor: int = Field(gt=0, le=10**13, description="integer minor units", examples=[1_000_000])
    currency: CurrencyCode
    issue_date: date | None = None
    due_date: date
    final_due_date: date | None = Field(
        default=None, description="default: due date + the country's offset (IS: 10 days)"
    )
    reference: str | None = Field(default=None, max_length=35, description="validated if given, generated if not")
    description: str | None = Field(default=None, max_length=500)
    department: str | None = Field(default=None, max_length=64)


class BulkClaimsIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"claims": [CLAIM_EXAMPLE]}]})

    claims: list[ClaimIn] = Field(min_length=1, max_length=10_000)


class HistoryItem(BaseModel):
    event_type: str
    occurred_at: datetime
    details: dict[str, object]


class ClaimOut(BaseModel):
    id: UUID
    invoice_no: str
    status: Literal["open", "paid", "cancelled"]
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
    paid_at: datetime | None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    history: list[HistoryItem] = Field(default_factory=list)


class BulkClaimsOut(BaseModel):
    created: int
    claims: list[ClaimOut]


class CancelIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "paid in cash at the desk"}]})

    reason: str | None = Field(default=None, max_length=500, description="why the creditor cancels the claim")


class CreditorIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Íþróttafélagið Fram",
                    "country": "IS",
                    "currency": "ISK",
                    "default_language": "is",
                    "contact_phone": "+3545871234",
                    "payment_account": "0115-26-012345",
                    "sender_email": "innheimta@fram.is",
                    "slip_fee_minor": 390,
                    "cancellation_fee_minor": 290,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    country: CountryCode = "IS"
    currency: CurrencyCode = "ISK"
    default_language: Literal["is", "nb", "et", "en"] = "en"
    contact_phone: str = Field(default="", max_length=32)
    payment_account: str = Field(default="", max_length=64)
    payment_link_template: str | None = Field(default=None, max_length=500)
    sender_email: str = Field(default="", max_length=254)
    slip_fee_minor: int = Field(default=0, ge=0)
    cancellation_fee_minor: int = Field(
        default=0,
        ge=0,
        description="charged to the creditor for each cancelled claim, set off against its next settlement "
        "(seed 003: 290 ISK)",
    )


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
