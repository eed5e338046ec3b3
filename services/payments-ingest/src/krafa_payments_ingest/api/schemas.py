"""Response bodies of the operator API: deliberately separate from events and tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from krafa_events.currencies import CurrencyCode
from krafa_kit.inputs import BoundedDate, Integer, check_datetime
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

BoundedAwareDatetime = Annotated[AwareDatetime, AfterValidator(check_datetime)]


class ImportOut(BaseModel):
    import_id: UUID
    format: str = Field(examples=["camt.054"])
    entries: int = Field(description="credit entries in the file")
    new: int = Field(description="entries recorded by this import")
    duplicates: int = Field(description="entries recorded before, by an earlier or overlapping file")
    matched: int = Field(description="new entries matched to a claim (PaymentReceived)")
    unmatched: int = Field(description="new entries left for the operator queue (PaymentUnmatched)")
    reversals: int = Field(
        default=0,
        description="credits charged back (camt DBIT with RvslInd) that reversed an earlier payment: a negative "
        "PaymentReceived for its claim, or a negative PaymentUnmatched when it was unmatched",
    )


class ImportSummary(ImportOut):
    filename: str | None
    sha256: str
    size_bytes: int
    repeat_of: UUID | None = Field(description="the first import of the very same file, if this repeated it")
    imported_at: datetime


class CandidateClaimOut(BaseModel):
    claim_id: UUID
    creditor_id: UUID
    currency: str
    status: str
    account: str | None = Field(description="the creditor's collection account, when it gave one")


class UnmatchedPaymentOut(BaseModel):
    payment_id: UUID
    import_id: UUID
    amount_minor: int = Field(description="integer minor units; negative for a correction")
    currency: str
    booking_date: date | None
    value_date: date | None
    reference: str | None
    remittance_text: str | None
    bank_ref: str | None
    end_to_end_id: str | None
    debtor_name: str | None
    debtor_account: str | None
    reason: str = Field(
        description="no_reference, unknown_reference, currency_mismatch, ambiguous_reference (the reference or the "
        "remittance text fits several claims) or account_mismatch (the claims it names belong to creditors "
        "collecting on other accounts)"
    )
    explanation: str | None = Field(description="why the payment waits here, in words, naming the claims weighed")
    candidates: list[CandidateClaimOut] = Field(description="the claims the payment was weighed against")
    account: str | None = Field(description="the account the payment was made into, when the file says")
    received_at: datetime


class UnmatchedPage(BaseModel):
    items: list[UnmatchedPaymentOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class PaymentNotificationIn(BaseModel):
    """One payment reported by a real-time source."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "pmt-2026-03-05-000123",
                    "amount_minor": 10_390,
                    "currency": "ISK",
                    "reference": "RF18539007547034",
                    "remittance_text": "INV-1001",
                    "booked_at": "2026-03-05T09:14:00+00:00",
                    "payer_account": "0133-26-012345",
                }
            ]
        },
    )

    id: str = Field(min_length=1, max_length=200, description="the source's own unique id of the payment")
    # Bounded like every amount here: a bigint column, and far beyond any real payment.
    amount_minor: Integer = Field(
        ge=-(10**15), le=10**15, description="a JSON integer in minor units; negative for a correction"
    )
    currency: CurrencyCode
    reference: str | None = Field(max_length=35, description="structured reference (RF, KID, ...), or null")
    remittance_text: str | None = Field(default=None, max_length=1000)
    booked_at: BoundedAwareDatetime | BoundedDate | None = Field(
        default=None, description="when the source booked it; its calendar date is the booking date"
    )
    payer_account: str | None = Field(default=None, max_length=70)
    account: str | None = Field(
        default=None,
        max_length=70,
        description="the creditor's collection account the payment was made into (IBAN or national): only "
        "claims of the creditor collecting on it can take the payment",
    )


Column = Annotated[str, Field(min_length=1, max_length=200)] | Annotated[int, Field(ge=1)]


class CsvColumnsIn(BaseModel):
    """Where each field is: a header name (with `has_header`) or a 1-based column number."""

    model_config = ConfigDict(extra="forbid")

    amount: Column
    booking_date: Column
    currency: Column | None = None
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="when no currency column")
    reference: Column | None = None
    remittance_text: Column | None = None
    bank_ref: Column | None = None


class CsvMappingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "delimiter": ";",
                    "decimal_separator": ",",
                    "date_format": "%d.%m.%Y",
                    "columns": {
                        "amount": "Upphæð",
                        "booking_date": "Dagsetning",
                        "default_currency": "ISK",
                        "reference": "Tilvísun",
                        "remittance_text": "Skýring",
                    },
                    "has_header": True,
                }
            ]
        },
    )

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal_separator: str = Field(default=".", pattern=r"^[.,]$")
    date_format: str = Field(default="%Y-%m-%d", min_length=2, max_length=50, description="strptime format")
    columns: CsvColumnsIn
    has_header: bool = True


class CsvMappingOut(CsvMappingIn):
    model_config = ConfigDict(json_schema_extra=None)

    name: str


class OperatorMatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: UUID = Field(description="an indexed claim in the payment's currency")


class QueueActionOut(BaseModel):
    payment_id: UUID
    state: str = Field(description="matched or refund_requested")
    claim_id: UUID | None
    handled_at: datetime


class CardInstalmentFailedIn(BaseModel):
    """A card processor's report: one instalment of a card agreement was not authorised."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "evt_1QbX7c2eZvKYlo2C",
                    "creditor_id": "0b6c4c1e-6a39-4c8e-9d3c-2f1f5b0e8a11",
                    "customer_no": "C-00042",
                    "agreement_ref": "SUB-2026-0042",
                    "instalment_no": 3,
                    "instalment_count": 5,
                    "amount_minor": 10_000,
                    "currency": "ISK",
                    "reason": "insufficient_funds",
                    "next_attempt_date": "2026-04-01",
                    "failed_at": "2026-03-01T06:12:00+00:00",
                }
            ]
        },
    )

    id: str = Field(min_length=1, max_length=200, description="the processor's own unique id of this report")
    creditor_id: UUID = Field(description="the Krafa creditor whose card agreement it is")
    customer_no: str = Field(min_length=1, max_length=64, description="the debtor's customer number at the creditor")
    agreement_ref: str = Field(min_length=1, max_length=100, description="the card agreement (subscription)")
    instalment_no: Integer = Field(ge=1, le=10_000, description="which instalment failed, 1-based")
    instalment_count: Integer | None = Field(default=None, ge=1, le=10_000, description="instalments in the agreement")
    amount_minor: Integer = Field(gt=0, le=10**15, description="the instalment as a JSON integer in minor units")
    currency: CurrencyCode
    reason: str = Field(min_length=1, max_length=200, description="the processor's decline reason")
    next_attempt_date: BoundedDate | None = Field(
        description="when the card is charged again (the next instalment); null when none is left"
    )
    failed_at: BoundedAwareDatetime | None = Field(default=None, description="when authorisation failed; default: now")

    @model_validator(mode="after")
    def _consistent(self) -> CardInstalmentFailedIn:
        if self.instalment_count is not None:
            if self.instalment_no > self.instalment_count:
                raise ValueError("instalment_no exceeds instalment_count")
            if self.instalment_no == self.instalment_count and self.next_attempt_date is not None:
                raise ValueError("the last instalment has no next attempt: next_attempt_date must be null")
        if (
            self.failed_at is not None
            and self.next_attempt_date is not None
            and self.next_attempt_date <= self.failed_at.date()
        ):
            raise ValueError("next_attempt_date must be after the day the instalment failed")
        return self


class CardInstalmentFailureOut(BaseModel):
    failure_id: UUID = Field(description="Krafa's id of the failure (the event's failure_id)")
    id: str = Field(description="the processor's id")
    creditor_id: UUID
    debtor_id: UUID | None = Field(
        description="the debtor of the customer when a claim of theirs was indexed here; else null, and claims-api "
        "finds the debtor by customer_no"
    )
    customer_no: str
    agreement_ref: str
    instalment_no: int
    instalment_count: int | None
    amount_minor: int
    currency: str
    reason: str
    next_attempt_date: date | None = Field(description="the retry on the card: when the next instalment is charged")
    failed_at: datetime
    received_at: datetime
