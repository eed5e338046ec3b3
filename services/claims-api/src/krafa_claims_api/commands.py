"""The commands claims-api's use cases take: validated values, no HTTP. The REST API accepts them
as request bodies (api/schemas.py re-exports them), so their field descriptions are the API's."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from krafa_events.currencies import CurrencyCode
from krafa_kit.inputs import IDENTIFIER_PATTERN, LABEL_PATTERN, BoundedDate, Integer
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.config import JsonDict

from krafa_claims_api import domain
from krafa_claims_api.debtors import domain as debtor_domain

CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$", examples=["IS"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(Strict):
    lines: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=4)
    postcode: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=100)
    country: CountryCode


class ClaimDebtorIn(Strict):
    """The debtor of a claim: found or created by the creditor's customer number."""

    customer_no: str = Field(
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="the creditor's own customer number: no '/', control characters or surrounding spaces, so "
        "GET /v1/debtors/by-customer-no/{customer_no} reads it back",
    )
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["person", "company"] = "person"
    country: CountryCode
    national_id: str | None = Field(
        default=None,
        max_length=32,
        description="validated for IS (kennitala), NO (fødselsnummer / organisasjonsnummer) and EE (isikukood / "
        "registrikood); other countries are stored as given",
    )
    language: Literal["is", "nb", "nn", "et", "ru", "en"] = "en"
    time_zone: str = Field(default="UTC", max_length=64)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+[1-9][0-9]{6,14}$")
    address: AddressIn | None = None
    fallback_channel: Literal["letter", "netbank"] = "letter"

    @field_validator("national_id")
    @classmethod
    def valid_national_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Checked here, so that every bad national id of a bulk is reported at once (by pointer).
        country, kind = info.data.get("country"), info.data.get("kind", "person")
        if value is None or country is None:
            return value
        try:
            return debtor_domain.normalize_national_id(country, kind, value)
        except debtor_domain.InvalidValue as exc:
            raise ValueError(exc.message) from exc

    @field_validator("phone")
    @classmethod
    def valid_phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        try:
            return debtor_domain.normalize_phone_cached(value, info.data.get("country"))
        except debtor_domain.InvalidValue as exc:
            raise ValueError(exc.message) from exc

    @field_validator("time_zone")
    @classmethod
    def known_time_zone(cls, value: str) -> str:
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

    invoice_no: str = Field(
        min_length=1,
        max_length=64,
        pattern=LABEL_PATTERN,
        description="unique per creditor; no control characters or surrounding spaces",
        examples=["INV-2026-0001"],
    )
    debtor: ClaimDebtorIn
    amount_minor: Integer = Field(
        gt=0,
        le=10**13,
        description="a JSON integer in the currency's minor unit (1200 EUR cents = 12.00 EUR; ISK has none); "
        '12.0, "1200" and true are refused',
        examples=[1_000_000],
    )
    currency: CurrencyCode
    issue_date: BoundedDate | None = None
    due_date: BoundedDate = Field(description="on or after the issue date; within 100 years of today")
    final_due_date: BoundedDate | None = Field(
        default=None,
        description="on or after the due date; default: due date + the department's or the country's offset "
        "(IS: 10 days)",
    )
    reference: str | None = Field(
        default=None,
        max_length=35,
        description="the creditor's own payment reference (KID, RF, viitenumber, Icelandic claim number), validated "
        "and unique across all creditors; if absent one is drawn at random for the creditor's country",
    )
    description: str | None = Field(default=None, max_length=500)
    department: str | None = Field(default=None, max_length=64)

    @field_validator("due_date")
    @classmethod
    def due_after_issue(cls, value: date, info: ValidationInfo) -> date:
        issue = info.data.get("issue_date")
        if issue is not None and value < issue:
            raise ValueError(f"before the issue date {issue.isoformat()}")
        return value

    @field_validator("final_due_date")
    @classmethod
    def final_after_due(cls, value: date | None, info: ValidationInfo) -> date | None:
        due = info.data.get("due_date")
        if value is not None and due is not None and value < due:
            raise ValueError(f"before the due date {due.isoformat()}")
        return value


class BankClaimsIn(Strict):
    """The creditor's agreement with its claim bank: Icelandic debtors with a kennitala get the claim
    in their netbank (created through the banks' claims interface) instead of a reference to type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"claim_bank": "0133", "template_code": "001", "partial_payment_allowed": True}]
        },
    )

    claim_bank: str = Field(pattern=r"^[0-9]{4}$", description="the bank (branch) that holds the creditor's claims")
    template_code: str = Field(pattern=r"^[0-9A-Z]{3}$", description="the creditor's claim template at that bank")
    partial_payment_allowed: bool = Field(default=True, description="the netbank lets the payer pay part of the claim")
    secondary_template_code: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z]{3}$",
        description="the collection agency's template the claim moves to at handover (the bank's default if unset)",
    )


class ContactConsentIn(Strict):
    """The creditor's attestation that its terms of business allow sharing its customers' email
    addresses and phone numbers with us for its collection letters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"source": "terms of business §7", "terms_version": "2026-01", "terms_date": "2026-01-01"}]
        },
    )

    source: str = Field(default="terms of business", min_length=1, max_length=100)
    terms_version: str = Field(min_length=1, max_length=50, description="the version of the terms that allow it")
    terms_date: BoundedDate = Field(description="the date those terms took effect")

    @field_validator("source", "terms_version")
    @classmethod
    def no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL: refuse it here as a 422 rather than fail in the database.
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value


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
    default_language: Literal["is", "nb", "nn", "et", "ru", "en"] = "en"
    contact_phone: str = Field(default="", max_length=32)
    payment_account: str = Field(default="", max_length=64)
    payment_link_template: str | None = Field(default=None, max_length=500)
    sender_email: str = Field(default="", max_length=254)
    slip_fee_minor: Integer = Field(default=0, ge=0, le=10**13)
    cancellation_fee_minor: Integer = Field(
        default=0,
        ge=0,
        le=10**13,
        description="charged to the creditor for each cancelled claim, set off against its next settlement "
        "(docs/domain.md, Icelandic payment slips: 290 ISK)",
    )
    registration_no: str = Field(
        default="",
        max_length=32,
        description="the creditor's registry id, shown on every letter: kennitala (IS), organisasjonsnummer (NO), "
        "registrikood (EE); required for bank claims",
    )
    kid_scheme: Literal["mod10", "mod11"] = Field(
        default="mod10", description="Norway: the KID check digit the creditor's agreement with Nets uses"
    )
    bank_claims: BankClaimsIn | None = Field(
        default=None, description="Iceland: create each claim in the payer's netbank through this claim bank"
    )
    contact_consent: ContactConsentIn | None = Field(
        default=None,
        description="the creditor's terms allow sharing its customers' addresses (PUT /v1/contact-consent later); "
        "without it, or consent given with each address, reminders go by letter",
    )

    @model_validator(mode="after")
    def _registration(self) -> CreditorIn:
        if self.registration_no:
            self.registration_no = domain.normalize_registration_no(self.country, self.registration_no)
        if self.bank_claims is not None:
            if self.country != "IS":
                raise ValueError("bank claims are Icelandic: set them only for a creditor in IS")
            if not self.registration_no:
                raise ValueError("bank claims are issued under the creditor's kennitala: set registration_no")
        return self
