"""Request and response bodies of the REST API: deliberately separate from events and tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class ClaimIn(Strict):
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
    history: list[HistoryItem] = Field(default_factory=list)


class BulkClaimsOut(BaseModel):
    created: int
    claims: list[ClaimOut]


class CreditorIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode = "IS"
    currency: CurrencyCode = "ISK"
    default_language: Literal["is", "nb", "et", "en"] = "en"
    contact_phone: str = Field(default="", max_length=32)
    payment_account: str = Field(default="", max_length=64)
    payment_link_template: str | None = Field(default=None, max_length=500)
    sender_email: str = Field(default="", max_length=254)
    slip_fee_minor: int = Field(default=0, ge=0)


class CreditorCreated(BaseModel):
    creditor_id: UUID
    api_key: str = Field(description="shown once; only its hash is stored")
    scopes: list[str]
