"""Request and response bodies of the debtor, contact-point, upload, credit-status and GDPR routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from krafa_events.currencies import CurrencyCode
from krafa_kit.inputs import IDENTIFIER_PATTERN, BoundedDatetime, Integer
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from krafa_claims_api.debtors import domain
from krafa_claims_api.debtors.service import DebtorRow

CountryCode = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$", examples=["IS"])]
CustomerNo = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="the creditor's own customer number: no '/', control characters or surrounding spaces, so "
        "it reads back by URL",
        examples=["C-1001"],
    ),
]
CustomerClass = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="gold, silver, bronze, regular, risky, or a class of the creditor's own",
        examples=["gold"],
    ),
]
Kind = Literal["email", "phone", "netbank"]
Origin = Literal["creditor_upload", "debtor_opt_in"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def no_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here as a 422 rather than fail in the database.
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class PostalAddressIn(Strict):
    lines: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=4)
    postcode: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=100)
    country: CountryCode


class Money(Strict):
    amount_minor: Integer = Field(ge=0, le=10**15, description="a JSON integer in the currency's minor unit")
    currency: CurrencyCode


class Thresholds(Strict):
    warn_days: Integer | None = Field(default=None, ge=1, le=3650, description="overdue days that warn the seller")
    block_days: Integer | None = Field(default=None, ge=1, le=3650, description="overdue days that block new sales")
    warn_minor: Integer | None = Field(default=None, ge=0, le=10**15, description="overdue amount that warns")
    block_minor: Integer | None = Field(default=None, ge=0, le=10**15, description="overdue amount that blocks")


class ConsentIn(Strict):
    source: str | None = Field(default=None, max_length=100, examples=["terms of business §7"])
    at: BoundedDatetime | None = Field(default=None, description="when consent was given")
    terms_version: str | None = Field(default=None, max_length=50, examples=["2026-01"])

    @field_validator("at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone offset")
        return value

    def value(self) -> domain.Consent:
        return domain.Consent(self.source, self.at, self.terms_version)


class ContactConsentOut(BaseModel):
    source: str
    terms_version: str
    terms_date: date
    recorded_at: datetime


DEBTOR_EXAMPLE: JsonDict = {
    "name": "Jón Jónsson",
    "kind": "person",
    "national_id": "120174-3399",
    "language": "is",
    "time_zone": "Atlantic/Reykjavik",
    "country": "IS",
    "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
    "customer_class": "silver",
    "credit_limit": {"amount_minor": 50000000, "currency": "ISK"},
    "overdue_thresholds": {"warn_days": 10, "block_days": 45},
    "email": "jon@example.is",
    "phone": "+3545551234",
    "consent": {"source": "terms of business", "terms_version": "2026-01", "at": "2026-01-01T00:00:00Z"},
}


class DebtorIn(Strict):
    """The debtor's master data; a PUT replaces it whole. `email`, `phone` and `netbank_opt_in`
    add contact points (never remove them: use the contact-point routes for that)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEBTOR_EXAMPLE]})

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["person", "company"] = "person"
    national_id: str | None = Field(
        default=None,
        max_length=32,
        description="validated for IS (kennitala), NO (fødselsnummer / organisasjonsnummer) and EE "
        "(isikukood / registrikood); other countries are stored as given",
    )
    language: Literal["is", "nb", "nn", "et", "ru", "en"] = "en"
    time_zone: str = Field(default="UTC", max_length=64, examples=["Atlantic/Reykjavik"])
    country: CountryCode
    address: PostalAddressIn | None = Field(default=None, description="the legal (postal) address for letters")
    fallback_channel: Literal["letter", "netbank"] = "letter"
    customer_class: CustomerClass = "regular"
    credit_limit: Money | None = None
    overdue_thresholds: Thresholds | None = None
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32, description="E.164, or national in the debtor's country")
    netbank_opt_in: bool | None = Field(default=None, description="true adds the netbank e-document opt-in")
    consent: ConsentIn | None = Field(default=None, description="consent for the email/phone given here")

    @model_validator(mode="after")
    def normalise(self) -> DebtorIn:
        try:
            domain.check_time_zone(self.time_zone)
            if self.national_id is not None:
                self.national_id = domain.normalize_national_id(self.country, self.kind, self.national_id)
            if self.email is not None:
                self.email = domain.normalize_email(self.email)
            if self.phone is not None:
                self.phone = domain.normalize_phone(self.phone, self.country)
        except domain.InvalidValue as exc:
            raise ValueError(f"{exc.field}: {exc.message}") from exc
        return self

    def row(self, customer_no: str) -> DebtorRow:
        limit = self.credit_limit
        thresholds = self.overdue_thresholds or Thresholds()
        master: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "national_id": self.national_id,
            "language": self.language,
            "time_zone": self.time_zone,
            "country": self.country,
            "address": self.address.model_dump() if self.address else None,
            "fallback_channel": self.fallback_channel,
            "customer_class": self.customer_class,
            "credit_limit_minor": limit.amount_minor if limit else None,
            "credit_limit_currency": limit.currency if limit else None,
            "overdue_warn_days": thresholds.warn_days,
            "overdue_block_days": thresholds.block_days,
            "overdue_warn_minor": thresholds.warn_minor,
            "overdue_block_minor": thresholds.block_minor,
        }
        consent = self.consent.value() if self.consent else domain.Consent()
        offers = [
            domain.ContactOffer(kind, value, consent=consent, source_if_new="api")
            for kind, value in (
                (domain.ContactKind.EMAIL, self.email),
                (domain.ContactKind.PHONE, self.phone),
                (domain.ContactKind.NETBANK, "" if self.netbank_opt_in else None),
            )
            if value is not None
        ]
        return DebtorRow(customer_no, master, tuple(offers))


class DebtorCreateIn(DebtorIn):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"customer_no": "C-1001", **DEBTOR_EXAMPLE}]}
    )

    customer_no: CustomerNo


class ContactPointIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "email",
                    "value": "jon@example.is",
                    "origin": "creditor_upload",
                    "verified": True,
                    "consent": {"source": "terms", "terms_version": "2026-01", "at": "2026-01-01T00:00:00Z"},
                }
            ]
        },
    )

    kind: Kind
    value: str | None = Field(default=None, max_length=254, description="the address; empty for netbank")
    origin: Literal["creditor_upload"] = Field(
        default="creditor_upload",
        description="always creditor_upload: an address the creditor supplies. The debtor's own opt-in "
        "(`debtor_opt_in`, the only one that re-activates an opted-out or bounced address) is made by the debtor "
        "in the portal, never with a creditor's key",
    )
    verified: bool | None = None
    consent: ConsentIn | None = Field(
        default=None,
        description="evidence that the creditor's terms allow sharing this address (terms version and date); "
        "without it the creditor's contact consent (PUT /v1/contact-consent) applies, and without either the "
        "address is kept but not used",
    )

    @field_validator("origin", mode="before")
    @classmethod
    def creditor_origin(cls, value: Any) -> Any:
        if value == "debtor_opt_in":
            raise ValueError(
                "only the debtor opts in (through the debtor portal, with a one-time code); a creditor's key "
                "supplies creditor_upload addresses, and cannot undo an opt-out or a bounce"
            )
        return value


class ContactPointPatch(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"verified": True, "consent": {"terms_version": "2026-02"}}]}
    )

    verified: bool | None = None
    consent: ConsentIn | None = None


class OptOutIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "asked by phone"}]})

    reason: str | None = Field(default=None, max_length=500)


class ConsentOut(BaseModel):
    source: str | None
    at: datetime | None
    terms_version: str | None


class ContactPointOut(BaseModel):
    id: UUID
    kind: Kind
    value: str
    origin: Origin
    state: Literal["active", "bounced", "opted_out"]
    state_reason: str | None
    verified: bool
    consent: ConsentOut
    usable: bool = Field(description="used for digital delivery: active, and the debtor's opt-in or consented")
    unusable_reason: str | None = Field(description="why it is not used, if it is not")
    listed_at: datetime = Field(description="when the creditor (or debtor) last named it as current")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, cp: domain.ContactPoint) -> ContactPointOut:
        return cls(
            id=cp.id,
            kind=cp.kind,
            value=cp.value,
            origin=cp.origin,
            state=cp.state,
            state_reason=cp.state_reason,
            verified=cp.verified,
            consent=ConsentOut(source=cp.consent_source, at=cp.consent_at, terms_version=cp.terms_version),
            usable=cp.usable,
            unusable_reason=cp.unusable_reason,
            listed_at=cp.listed_at,
            created_at=cp.created_at,
            updated_at=cp.updated_at,
        )


class UsableContacts(BaseModel):
    email: str | None
    phone: str | None
    netbank_opt_in: bool


class AddressOut(BaseModel):
    lines: list[str]
    postcode: str
    city: str
    country: str


class DebtorOut(BaseModel):
    id: UUID
    customer_no: str
    kind: Literal["person", "company"]
    name: str
    national_id: str | None
    language: str
    time_zone: str
    country: str
    address: AddressOut | None
    fallback_channel: Literal["letter", "netbank"]
    customer_class: str
    credit_limit: Money | None
    overdue_thresholds: Thresholds
    created_at: datetime
    erased_at: datetime | None = Field(description="set once the debtor's personal data was erased")
    usable: UsableContacts = Field(description="what reminders for this creditor's claims will use")
    contact_points: list[ContactPointOut]

    @classmethod
    def of(cls, debtor: domain.Debtor) -> DebtorOut:
        m = debtor.master
        snap = domain.snapshot(debtor)
        return cls(
            id=debtor.id,
            customer_no=debtor.customer_no,
            kind=m["kind"],
            name=m["name"],
            national_id=m["national_id"],
            language=m["language"],
            time_zone=m["time_zone"],
            country=m["country"],
            address=AddressOut(**m["address"]) if m["address"] else None,
            fallback_channel=m["fallback_channel"],
            customer_class=m["customer_class"],
            credit_limit=Money(amount_minor=m["credit_limit_minor"], currency=m["credit_limit_currency"])
            if m["credit_limit_minor"] is not None and m["credit_limit_currency"]
            else None,
            overdue_thresholds=Thresholds(
                warn_days=m["overdue_warn_days"],
                block_days=m["overdue_block_days"],
                warn_minor=m["overdue_warn_minor"],
                block_minor=m["overdue_block_minor"],
            ),
            created_at=debtor.created_at,
            erased_at=debtor.erased_at,
            usable=UsableContacts(email=snap.email, phone=snap.phone, netbank_opt_in=snap.netbank_opt_in),
            contact_points=[
                ContactPointOut.of(cp)
                for cp in sorted(debtor.contact_points, key=lambda cp: (cp.created_at, cp.kind, cp.value))
            ],
        )


class DebtorPage(BaseModel):
    items: list[DebtorOut] = Field(description="debtors in (created_at, id) order")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CurrencyExposure(BaseModel):
    currency: str
    open_minor: int = Field(description="unpaid balance of the debtor's open claims")
    overdue_minor: int = Field(description="of which past the due date")


class CreditStatusOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "debtor_id": "6f1c1c8e-1d7b-4f4e-9a53-1f0f0c8a2b11",
                    "customer_no": "C-1001",
                    "as_of": "2026-03-01",
                    "customer_class": "regular",
                    "currencies": [{"currency": "ISK", "open_minor": 20780, "overdue_minor": 10390}],
                    "oldest_overdue_days": 12,
                    "credit_limit": {"amount_minor": 20000, "currency": "ISK"},
                    "limit_used_minor": 20780,
                    "limit_used_percent": 103,
                    "thresholds": {"warn_days": 7, "block_days": 30, "warn_minor": None, "block_minor": None},
                    "verdict": "block",
                    "reasons": ["credit limit exceeded (103% used)", "overdue 12 days (warn at 7)"],
                }
            ]
        }
    )

    debtor_id: UUID
    customer_no: str
    name: str | None = Field(default=None, description="the debtor's name (in lists, so a row says whom it is about)")
    as_of: date = Field(description="today in the debtor's time zone")
    customer_class: str
    currencies: list[CurrencyExposure]
    oldest_overdue_days: int
    credit_limit: Money | None
    limit_used_minor: int | None = Field(description="open balance in the credit limit's currency")
    limit_used_percent: int | None
    thresholds: Thresholds = Field(description="effective: the debtor's own, else its customer class's")
    verdict: Literal["ok", "warn", "block"]
    reasons: list[str]


class CreditStatusPage(BaseModel):
    items: list[CreditStatusOut] = Field(description="in the debtors list's order: (created_at, id)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ExportClaim(BaseModel):
    id: UUID
    invoice_no: str
    status: str
    amount_minor: int
    fees_minor: int
    paid_minor: int
    currency: str
    issue_date: date
    due_date: date
    final_due_date: date
    reference: str
    description: str | None
    department: str | None
    created_at: datetime


class ExportHistoryItem(BaseModel):
    claim_id: UUID
    event_type: str
    occurred_at: datetime
    details: dict[str, object]


class DebtorChange(BaseModel):
    event_id: UUID
    source: str = Field(description="api, upload, claims, bounce or erasure")
    occurred_at: datetime
    details: dict[str, object] = Field(description="which fields changed (names only)")


class DebtorExport(BaseModel):
    """Everything held on the debtor for this creditor (GDPR Art. 15 and 20)."""

    exported_at: datetime
    debtor: DebtorOut
    claims: list[ExportClaim]
    claim_history: list[ExportHistoryItem]
    debtor_history: list[DebtorChange]


class ServiceAnswerOut(BaseModel):
    service: str
    status: Literal["pending", "done"]
    rows: int | None = Field(description="rows the service pseudonymised (erasure) or exported (export)")
    handled_at: datetime | None


class PersonalDataRequestOut(BaseModel):
    """A request every service holding personal data about the debtor must answer."""

    id: UUID
    debtor_id: UUID
    kind: Literal["erasure", "export"]
    status: Literal["pending", "complete"] = Field(description="complete once every service has answered")
    requested_at: datetime
    completed_at: datetime | None
    services: list[ServiceAnswerOut] = Field(description="claims-api itself, then every other service")


class ErasureOut(BaseModel):
    debtor_id: UUID
    pseudonym: str = Field(description="the name the financial records now carry")
    erased_at: datetime
    erased_now: bool = Field(description="false when an earlier call had already erased the data")
    request: PersonalDataRequestOut = Field(description="the erasure across the services: done when complete")


class DebtorExportOut(PersonalDataRequestOut):
    """Everything held on the debtor for this creditor, across the services (GDPR Art. 15 and 20):
    `parts` has claims-api's part and each service's as it answers."""

    parts: dict[str, dict[str, Any]] = Field(
        description="by service: claims-api (debtor, contact points with consent, claims, their history, webhooks, "
        "arrangement requests), notifier (contact snapshot, every delivery with its address, suppressions, call "
        "tasks), bounce-handler (deliveries, bounces, the returned messages), payments-ingest (payments with the "
        "payer's name and account, card checkouts and failures), scheduler (timelines, contacts)"
    )


class UploadReject(BaseModel):
    line: int = Field(description="1-based line of the row in the file (CSV: the header is line 1)")
    customer_no: str | None
    field: str | None
    detail: str


class UploadJobOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6c2f0e-6a3e-4f57-9a0e-2a8f7f0c1d11",
                    "status": "done",
                    "format": "csv",
                    "size_bytes": 1834,
                    "rows_total": 40,
                    "rows_accepted": 39,
                    "rows_rejected": 1,
                    "debtors_created": 3,
                    "debtors_updated": 5,
                    "rows_unchanged": 31,
                    "rows_without_consent": 0,
                    "failure": None,
                    "created_at": "2026-03-01T10:00:00Z",
                    "started_at": "2026-03-01T10:00:00Z",
                    "finished_at": "2026-03-01T10:00:01Z",
                    "rejects": [{"line": 7, "customer_no": "C-7", "field": "email", "detail": "not an email address"}],
                    "next_rejects_after": None,
                }
            ]
        }
    )

    id: UUID
    status: Literal["queued", "running", "done", "failed"]
    format: Literal["csv", "json", "ndjson"]
    size_bytes: int
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    debtors_created: int
    debtors_updated: int
    rows_unchanged: int
    rows_without_consent: int = Field(
        description="accepted rows naming an email or phone that has no consent evidence: kept, not used"
    )
    failure: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rejects: list[UploadReject] = Field(description="rejected rows in line order, one page")
    next_rejects_after: int | None = Field(description="pass as `rejects_after` for the next page of rejects")
