"""The event catalog. One frozen model per event; the docstring says when it is sent and becomes
the event's description in the JSON Schema and the AsyncAPI document.

Money is always `*_minor: int` (integer minor units) plus an ISO 4217 `currency`.
A breaking change is a new class with a new versioned TYPE, never an edit of an existing one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from krafa_events.base import Channel, Contract, Event, PostalAddress
from krafa_events.topics import Topic

Currency = str
Tone = Literal["friendly", "firm", "final"]


class CreditorSnapshot(Contract):
    """What a debtor-facing message needs to know about the creditor."""

    name: str
    contact_phone: str = ""
    payment_account: str = Field(description="IBAN or national account the debtor pays to")
    payment_link_template: str | None = Field(
        default=None, description="URL with {reference} and {amount_minor} placeholders"
    )
    sender_email: str = ""


class DebtorSnapshot(Contract):
    """The debtor as the creditor registered them, with the contact points usable for this
    creditor's claims only (purpose limitation)."""

    customer_no: str
    name: str
    kind: Literal["person", "company"] = "person"
    language: str = Field(default="en", description="BCP 47 primary language: is, nb, et, en")
    time_zone: str = "UTC"
    country: str = Field(min_length=2, max_length=2)
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    address: PostalAddress | None = None
    fallback_channel: Literal["letter", "netbank"] = "letter"


class ClaimCreated(Event):
    """Sent by claims-api when a creditor registers a claim (an invoice or payment slip)."""

    TYPE: ClassVar[str] = "krafa.claim.created.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    invoice_no: str
    amount_minor: int = Field(ge=0)
    currency: Currency = Field(min_length=3, max_length=3)
    fees_minor: int = Field(default=0, ge=0, description="fees added at creation, e.g. a slip fee")
    issue_date: date
    due_date: date
    final_due_date: date
    reference: str = Field(description="structured payment reference (KID, RF, viitenumber)")
    description: str | None = None
    department: str | None = None
    jurisdiction: str = Field(min_length=2, max_length=2)
    creditor: CreditorSnapshot
    debtor: DebtorSnapshot
    created_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimCancelled(Event):
    """Sent by claims-api when the creditor cancels a claim; no further reminder may go out."""

    TYPE: ClassVar[str] = "krafa.claim.cancelled.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    reason: str | None = None
    cancelled_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimPaid(Event):
    """Sent by claims-api when payments have brought a claim's balance to zero."""

    TYPE: ClassVar[str] = "krafa.claim.paid.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    amount_paid_minor: int
    overpaid_minor: int = 0
    currency: Currency
    paid_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class DueDatePassed(Event):
    """Sent by the scheduler when a claim's due date has passed without full payment."""

    TYPE: ClassVar[str] = "krafa.dunning.due_date_passed.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    claim_id: UUID
    due_date: date
    passed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ReminderDue(Event):
    """Sent by the scheduler when a reminder step of a claim's timeline falls due: the notifier
    sends it on the first usable channel in `channels`."""

    TYPE: ClassVar[str] = "krafa.dunning.reminder_due.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    reminder_id: UUID = Field(description="stable per (claims, step): the delivery identity")
    claim_ids: tuple[UUID, ...] = Field(min_length=1)
    step: int = Field(ge=1)
    channels: tuple[Channel, ...] = Field(min_length=1)
    template: str
    tone: Tone = "friendly"
    fee_minor: int = Field(default=0, ge=0)
    currency: Currency
    due_at: AwareDatetime

    def subject(self) -> str:
        return str(self.reminder_id)


class ReminderSent(Event):
    """Sent by the notifier when a reminder has been handed to a channel (the SMTP server
    accepted it, the SMS or print provider took it)."""

    TYPE: ClassVar[str] = "krafa.notification.reminder_sent.v1"
    TOPIC: ClassVar[Topic] = Topic.NOTIFICATIONS

    delivery_id: UUID
    reminder_id: UUID
    claim_ids: tuple[UUID, ...]
    step: int
    channel: Channel
    recipient: str = Field(description="email address, phone number or postal name")
    message_id: str | None = Field(default=None, description="RFC 5322 Message-ID for email")
    return_path: str | None = Field(default=None, description="VERP envelope sender for email")
    fallback_for: UUID | None = Field(
        default=None, description="the delivery this one replaces (e.g. a letter after a bounce)"
    )
    sent_at: AwareDatetime

    def subject(self) -> str:
        return str(self.delivery_id)


class DeliveryFailed(Event):
    """Sent by the notifier when a channel refused a reminder for good, or no channel was
    usable; `fallback_channel` says what it does instead, if anything."""

    TYPE: ClassVar[str] = "krafa.notification.delivery_failed.v1"
    TOPIC: ClassVar[Topic] = Topic.NOTIFICATIONS

    delivery_id: UUID
    reminder_id: UUID
    claim_ids: tuple[UUID, ...]
    channel: Channel
    reason: str
    fallback_channel: Channel | None = None
    failed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.delivery_id)


class EmailBounced(Event):
    """Sent by the bounce-handler when a delivery status notification (or a provider webhook)
    reports that a reminder email could not be delivered."""

    TYPE: ClassVar[str] = "krafa.bounce.email_bounced.v1"
    TOPIC: ClassVar[Topic] = Topic.BOUNCES

    bounce_id: UUID
    delivery_id: UUID
    reminder_id: UUID
    claim_ids: tuple[UUID, ...]
    step: int
    recipient: str
    kind: Literal["hard", "soft"]
    status: str | None = Field(default=None, description="RFC 3463 enhanced status code")
    reason: str
    source: Literal["dsn", "webhook"] = "dsn"
    bounced_at: AwareDatetime

    def subject(self) -> str:
        return str(self.delivery_id)


class PaymentReceived(Event):
    """Sent by payments-ingest for each allocation of a bank payment to a claim."""

    TYPE: ClassVar[str] = "krafa.payment.received.v1"
    TOPIC: ClassVar[Topic] = Topic.PAYMENTS

    payment_id: UUID
    claim_id: UUID
    amount_minor: int = Field(description="allocated to this claim; negative for a reversal")
    currency: Currency
    reference: str | None
    booking_date: date | None
    value_date: date | None
    bank_ref: str | None
    source: str = Field(description="file id or 'api'")
    received_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class PaymentUnmatched(Event):
    """Sent by payments-ingest when a payment matches no open claim; it waits in the operator
    queue. `creditor_id` and `debtor_id` are the nil UUID when nothing is known."""

    TYPE: ClassVar[str] = "krafa.payment.unmatched.v1"
    TOPIC: ClassVar[Topic] = Topic.PAYMENTS

    payment_id: UUID
    amount_minor: int
    currency: Currency
    reference: str | None
    remittance_text: str | None
    booking_date: date | None
    bank_ref: str | None
    reason: str
    received_at: datetime

    def key(self) -> str:
        if self.creditor_id.int == 0:
            return f"unmatched:{self.payment_id}"
        return super().key()

    def subject(self) -> str:
        return str(self.payment_id)
