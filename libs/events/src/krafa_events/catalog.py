"""The event catalog. One frozen model per event; the docstring says when it is sent and becomes
the event's description in the JSON Schema and the AsyncAPI document.

Money is always `*_minor: int` (integer minor units) plus an ISO 4217 `currency`.
A breaking change is a new class with a new versioned TYPE, never an edit of an existing one.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from krafa_events import locales
from krafa_events.base import Channel, Contract, Event, PostalAddress
from krafa_events.topics import Topic

Currency = str
Tone = Literal["friendly", "firm", "final"]


class CollectionAgency(Contract):
    """The collection agency that collects a creditor's claims after handover: its letters are
    sent in its own name and name the creditor too."""

    name: str
    org_id: str = Field(default="", description="its national company id (kennitala, org.nr, registrikood)")
    address: PostalAddress | None = None
    phone: str = ""
    email: str = ""


class CreditorSnapshot(Contract):
    """What a debtor-facing message needs to know about the creditor."""

    name: str
    contact_phone: str = ""
    payment_account: str = Field(description="IBAN or national account the debtor pays to")
    payment_link_template: str | None = Field(
        default=None, description="URL with {reference} and {amount_minor} placeholders"
    )
    sender_email: str = ""
    registration_no: str = Field(
        default="",
        description="the creditor's registry id: kennitala (IS), organisasjonsnummer (NO), registrikood (EE)",
    )
    address: PostalAddress | None = Field(default=None, description="the sender address every letter shows")
    agency: CollectionAgency | None = Field(
        default=None, description="the collection agency that takes over the claims at handover"
    )
    sender_name: str = Field(
        default="", description="the name messages are sent in (email From, the letter's header); empty: `name`"
    )
    reply_to: str = Field(default="", description="where the debtor's answer to an email goes; empty: `sender_email`")
    sms_sender_id: str = Field(
        default="", description="the sender a text shows: 3-11 letters and digits, or a number; empty: the agency's"
    )
    sandbox: bool = Field(
        default=False,
        description="a sandbox creditor (an integrator's trial, docs/adr/0015): its messages reach no provider, "
        "its claims no bank",
    )


class PaymentIdentity(Contract):
    """How the debtor pays this claim where they already pay, decided by claims-api when the claim
    is registered. `bank_claim` (Iceland): the claim sits in the payer's netbank, issued through the
    banks' claims interface under the creditor's kennitala, a claim bank and a claim number; the payer
    types nothing. `kid` (Norway): a KID on a transfer to the creditor's account. `reference_number`
    (Estonia, Finland): the 7-3-1 reference number with the IBAN. `rf`: the ISO 11649 reference with
    the account, everywhere else; `plain`: a creditor's own unstructured reference."""

    kind: Literal["bank_claim", "kid", "reference_number", "rf", "plain"]
    reference: str = Field(description="the compact reference payments are matched by (as ClaimCreated.reference)")
    account: str = Field(default="", description="the creditor's account the payer transfers to (none: bank claim)")
    kid_scheme: Literal["mod10", "mod11"] | None = Field(
        default=None, description="KID check digit, per the creditor's agreement"
    )
    claimant_id: str | None = Field(default=None, description="bank claim: the creditor's kennitala it is issued under")
    claim_bank: str | None = Field(default=None, description="bank claim: the four-digit claim bank (branch)")
    claim_number: str | None = Field(default=None, description="bank claim: the six-digit claim number (ledger 66)")
    payor_id: str | None = Field(default=None, description="bank claim: the payer's kennitala (whose netbank shows it)")
    template_code: str | None = Field(default=None, description="bank claim: the creditor's claim template at the bank")
    secondary_template_code: str | None = Field(
        default=None, description="bank claim: the collection agency's template the claim moves to at handover"
    )
    partial_payment_allowed: bool = True


class DebtorSnapshot(Contract):
    """The debtor as the creditor registered them, with the contact points usable for this
    creditor's claims only (purpose limitation)."""

    customer_no: str
    name: str
    kind: Literal["person", "company"] = "person"
    language: str = Field(
        default="en",
        description="ISO 639-1 language we write in: is, nb, nn, et, ru, en; when absent, the country's "
        "(krafa_events.locales), never English by accident",
    )
    time_zone: str = Field(default="UTC", description="IANA time zone; when absent, the country's")
    country: str = Field(min_length=2, max_length=2)
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    address: PostalAddress | None = None
    fallback_channel: Literal["letter", "netbank"] = "letter"
    customer_class: str = Field(default="regular", description="gold, silver, bronze, regular, risky…")
    netbank_opt_in: bool = Field(default=False, description="the debtor accepts documents in the online bank")
    email_verified_at: datetime | None = Field(
        default=None,
        description="when the debtor last proved the email reaches them (a one-time code in the portal): an "
        "address that bounced before that is used again",
    )

    @model_validator(mode="before")
    @classmethod
    def _country_defaults(cls, data: Any) -> Any:
        # A snapshot that names no language or zone gets its country's, not English and UTC.
        if isinstance(data, dict) and data.get("country"):
            country = str(data["country"])
            if not data.get("language"):
                data = {**data, "language": locales.country_language(country)}
            if not data.get("time_zone"):
                data = {**data, "time_zone": locales.country_time_zone(country)}
        return data


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
    reference: str = Field(description="structured payment reference (KID, RF, viitenumber, bank claim id)")
    description: str | None = None
    department: str | None = None
    jurisdiction: str = Field(min_length=2, max_length=2)
    creditor: CreditorSnapshot
    debtor: DebtorSnapshot
    created_at: AwareDatetime
    payment: PaymentIdentity | None = Field(
        default=None, description="how the debtor pays (None in events from before it existed: an RF-style reference)"
    )

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


class LedgerLine(Contract):
    """One entry of a claim's ledger as claims-api booked it. The component fields are signed
    changes of what is outstanding (a fee +950 on fees; a payment of 5,000 allocated −950 fees,
    −50 interest, −4,000 principal); their sum is the entry's effect on the balance."""

    kind: str = Field(
        description="charge (principal and creation fees), fee, interest, payment, reversal, waiver, "
        "write_off, amendment"
    )
    fee_kind: str | None = Field(default=None, description="slip_fee, reminder_fee, collection_fee, late_interest…")
    step: int | None = Field(default=None, description="the reminder step that booked a fee or interest")
    charge_id: UUID | None = Field(default=None, description="the FeeCharged fee_id (also on its waiver)")
    amount_minor: int = Field(description="the entry's own amount: the fee, the payment, the amount written off")
    principal_minor: int = 0
    fees_minor: int = 0
    interest_minor: int = 0
    overpaid_minor: int = 0
    occurred_at: AwareDatetime
    value_date: date | None = Field(default=None, description="payments: the day the money counts from")
    rate_pct: Decimal | None = Field(default=None, description="late interest: the annual rate applied")
    interest_from: date | None = None
    interest_to: date | None = None


class ClaimBalanceChanged(Event):
    """Sent by claims-api whenever its ledger changes what a claim's debtor owes: a fee or late
    interest booked, a payment or reversal applied (with any waiver it caused), the principal
    amended. It carries the balance as booked, by component, so whoever shows or mirrors the amount
    (the claim in the payer's netbank, a message) replaces what it holds instead of recomputing it;
    `ledger_entries` grows with every ledger entry of the claim and orders them."""

    TYPE: ClassVar[str] = "krafa.claim.balance_changed.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    currency: Currency = Field(min_length=3, max_length=3)
    principal_minor: int = Field(description="principal outstanding")
    fees_minor: int = Field(description="fees outstanding (slip fee, reminder and collection fees)")
    interest_minor: int = Field(description="late interest outstanding")
    paid_minor: int = Field(description="everything paid towards the claim so far, net of reversals")
    balance_minor: int = Field(ge=0, description="what the debtor owes now: principal + fees + interest")
    cause: Literal["fee", "interest", "payment", "reversal", "amendment", "write_off"]
    ledger_entries: int = Field(ge=1)
    changed_at: AwareDatetime
    overpaid_minor: int = Field(default=0, ge=0, description="paid beyond what was owed")
    lines: tuple[LedgerLine, ...] = Field(
        default=(),
        description="the whole ledger in booking order (`ledger_entries` of them): what each message itemises — "
        "principal, every fee and interest line with its rate, every payment with what it covered",
    )
    payment_id: UUID | None = Field(
        default=None,
        description="for a payment or reversal: the PaymentReceived.payment_id this change books (the notifier "
        "holds a claim's messages from the payment until claims-api has booked it)",
    )

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


class DeliveryPlan(Contract):
    """One delivery of a reminder: the channel that carries it, and the channels that carry it
    instead, in order, when this one cannot (no usable address, opted out, a hard bounce)."""

    channel: Channel
    fallbacks: tuple[Channel, ...] = ()


class ReminderDue(Event):
    """Sent by the scheduler when a reminder step of a claim's timeline falls due. `deliveries`
    lists each delivery of its own (e.g. an SMS and an email), each with its fallbacks; a reminder
    without `deliveries` (an older producer) is one delivery on the first usable channel in
    `channels`. `notice_kind` names the legal notice kind of the jurisdiction pack (krafa_law): the
    message renders every element that kind requires."""

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
    interest_minor: int = Field(default=0, ge=0, description="late interest accrued up to due_at")
    pay_by: date | None = Field(
        default=None,
        description="the date the reminder asks payment by: a business day of the jurisdiction, at least the notice "
        "kind's minimum days after the step",
    )
    cc: tuple[str, ...] = Field(default=(), description="copy addresses the policy adds (email only)")
    bcc: tuple[str, ...] = Field(
        default=(), description="blind copies the policy adds (email only): envelope recipients, never a header"
    )
    policy: str | None = Field(default=None, description="policy key and version, e.g. 'is-default@3'")
    jurisdiction: str | None = Field(
        default=None, min_length=2, max_length=2, description="the jurisdiction pack the step was planned with"
    )
    notice_kind: str | None = Field(
        default=None,
        description="the pack's legal notice kind (e.g. 'innheimtuvidvorun', 'inkassovarsel'); None: a plain "
        "contact with no legal form",
    )
    stage: Literal["reminder", "collection", "watch"] | None = Field(
        default=None,
        description="reminder: sent in the creditor's name; collection: by the collection agency after the "
        "handover; watch: claim watch (the notice kind's stage)",
    )
    deliveries: tuple[DeliveryPlan, ...] = Field(
        default=(), description="each a delivery of its own; empty: one delivery over `channels`"
    )
    fee_ids: tuple[UUID, ...] = Field(
        default=(),
        description="the FeeCharged ids this step books (its fees and late interest): the message states the "
        "balance with them booked",
    )
    interest_rate_pct: str | None = Field(
        default=None,
        pattern=r"^\d{1,3}(\.\d{1,4})?$",
        description="the annual late-interest rate in force on the step's day, in percent (e.g. '15.50')",
    )
    watch_round: int = Field(default=0, ge=0, description="claim watch: which round of contact this is (1, 2, …)")

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
    dispatched_at: AwareDatetime | None = Field(
        default=None,
        description="when the notifier began the send, right after its last check that every claim was still "
        "open and no payment for it waiting to be booked: nothing that stopped the claim was known to it then",
    )
    cost_minor: int | None = Field(default=None, ge=0, description="what the provider charges (SMS, postage)")
    cost_currency: Currency | None = None
    segments: int | None = Field(default=None, ge=1, description="SMS segments (GSM-7 or UCS-2)")

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
    stated_entries: int | None = Field(
        default=None,
        ge=1,
        description="for a payment of the whole balance as Krafa stated it to the payer (a card checkout for "
        "all that was due, the claim in the payer's netbank paid in full): the claim's ledger as it was then, "
        "by its number of entries (ClaimBalanceChanged.ledger_entries). The payer paid what they were asked: charges "
        "booked after that statement are waived as far as the payment falls short of the balance",
    )

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


class Instalment(Contract):
    """One instalment of a payment plan."""

    due_date: date
    amount_minor: int = Field(gt=0)


class DebtorUpdated(Event):
    """Sent by claims-api when a creditor upserts a debtor or changes a contact point (including
    a contact point marked bounced or opted out). Carries the whole usable snapshot: consumers
    replace what they hold for (creditor, debtor)."""

    TYPE: ClassVar[str] = "krafa.claim.debtor_updated.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    debtor: DebtorSnapshot
    updated_at: AwareDatetime

    def subject(self) -> str:
        return str(self.debtor_id)


class CreditorUpdated(Event):
    """Sent by claims-api when a creditor changes how its messages name it (its sender identity:
    the name, From and Reply-To addresses, SMS sender id, phone). Carries the whole snapshot:
    the notifier sends every later message of the creditor's claims with it, those registered
    before too. About no debtor: `debtor_id` is the nil UUID."""

    TYPE: ClassVar[str] = "krafa.claim.creditor_updated.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    creditor: CreditorSnapshot
    updated_at: AwareDatetime

    def key(self) -> str:
        # One creditor's updates on one partition, in order.
        return f"creditor:{self.creditor_id}"

    def subject(self) -> str:
        return str(self.creditor_id)


class SandboxClockAdvanced(Event):
    """Sent by claims-api when a sandbox creditor moves its own clock forward: from then on the
    sandbox's now is every service's now plus `offset_s`. The offset only grows; a consumer keeps
    the largest it has seen. About no debtor: `debtor_id` is the nil UUID."""

    TYPE: ClassVar[str] = "krafa.claim.sandbox_clock_advanced.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    offset_s: int = Field(gt=0, description="how far the sandbox's clock runs ahead of the service's, in seconds")
    advanced_by_s: int = Field(gt=0, description="how far this advance moved it, in seconds")
    sandbox_now: AwareDatetime = Field(description="the sandbox's now right after the advance")
    advanced_at: AwareDatetime = Field(description="the service's (not the sandbox's) now when it was advanced")

    def key(self) -> str:
        # One sandbox's advances on one partition, in order.
        return f"creditor:{self.creditor_id}"

    def subject(self) -> str:
        return str(self.creditor_id)


class ClaimAmended(Event):
    """Sent by claims-api when the creditor changes a claim's amount or dates; the scheduler
    re-plans the timeline from the new dates."""

    TYPE: ClassVar[str] = "krafa.claim.amended.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    amount_minor: int = Field(ge=0)
    currency: Currency = Field(min_length=3, max_length=3)
    due_date: date
    final_due_date: date
    reason: str | None = None
    amended_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimDisputed(Event):
    """Sent by claims-api when the debtor disputes a claim: dunning pauses until resolved."""

    TYPE: ClassVar[str] = "krafa.claim.disputed.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    reason: str
    disputed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimDisputeResolved(Event):
    """Sent by claims-api when a dispute is settled: `resume` re-plans dunning from now,
    `cancel` is followed by ClaimCancelled."""

    TYPE: ClassVar[str] = "krafa.claim.dispute_resolved.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    outcome: Literal["resume", "cancel"]
    note: str | None = None
    resolved_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimDeferred(Event):
    """Sent by claims-api when the creditor (or an agent's call outcome) moves the due date."""

    TYPE: ClassVar[str] = "krafa.claim.deferred.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    due_date: date
    final_due_date: date
    deferred_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimInstalmentPlanAgreed(Event):
    """Sent by claims-api when a claim is split into instalments; dunning follows the plan and a
    missed instalment re-arms it."""

    TYPE: ClassVar[str] = "krafa.claim.instalment_plan_agreed.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    currency: Currency
    instalments: tuple[Instalment, ...] = Field(min_length=1)
    agreed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimHeld(Event):
    """Sent by claims-api when the creditor holds a claim (e.g. within the 24-hour notice before
    handover): no step fires until released or `until`."""

    TYPE: ClassVar[str] = "krafa.claim.held.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    until: AwareDatetime | None = None
    reason: str | None = None
    held_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimReleased(Event):
    """Sent by claims-api when a hold is lifted; the scheduler re-plans from now."""

    TYPE: ClassVar[str] = "krafa.claim.released.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    released_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimWrittenOff(Event):
    """Sent by claims-api when the creditor writes off what is left of a claim: dunning ends."""

    TYPE: ClassVar[str] = "krafa.claim.written_off.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    claim_id: UUID
    amount_minor: int = Field(ge=0, description="the balance written off")
    currency: Currency
    reason: str | None = None
    written_off_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class FeeCharged(Event):
    """Sent by the scheduler when a step adds a fee (reminder fee, collection fee, the EU €40
    compensation); claims-api adds it to the claim's ledger. `fee_id` is stable per (claim,
    step, kind), so a replay never charges twice."""

    TYPE: ClassVar[str] = "krafa.dunning.fee_charged.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    fee_id: UUID
    claim_id: UUID
    step: int = Field(ge=1)
    kind: str = Field(description="reminder_fee, collection_fee, compensation, …")
    amount_minor: int = Field(gt=0)
    currency: Currency
    charged_at: AwareDatetime
    rate_pct: Decimal | None = Field(
        default=None, description="late interest: the annual rate in percent in force on the day it runs to"
    )
    interest_from: date | None = Field(default=None, description="late interest: the first day it accrued")
    interest_to: date | None = Field(default=None, description="late interest: the last day it accrued")

    def subject(self) -> str:
        return str(self.claim_id)


class CreditorNoticeDue(Event):
    """Sent by the scheduler 24 hours (per policy) before claims are handed over to collection:
    the creditor may hold them until `handover_at`."""

    TYPE: ClassVar[str] = "krafa.dunning.creditor_notice_due.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    notice_id: UUID
    claim_ids: tuple[UUID, ...] = Field(min_length=1)
    handover_at: AwareDatetime
    noticed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.notice_id)


class ClaimEscalated(Event):
    """Sent by the scheduler when a claim moves to a later stage (handover to collection, legal)."""

    TYPE: ClassVar[str] = "krafa.dunning.claim_escalated.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    claim_id: UUID
    stage: str = Field(description="collection, legal, …")
    escalated_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ClaimWatchStarted(Event):
    """Sent by the scheduler when an unpaid claim goes into claim watch: periodic contact until
    paid, recoveries split between creditor and collector."""

    TYPE: ClassVar[str] = "krafa.dunning.claim_watch_started.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING

    claim_id: UUID
    creditor_share_pct: int = Field(default=50, ge=0, le=100)
    interval_days: int = Field(gt=0)
    started_at: AwareDatetime

    def subject(self) -> str:
        return str(self.claim_id)


class ReminderDelivered(Event):
    """Sent by the notifier when a provider confirms delivery (an SMS delivery receipt, a netbank
    document accepted, a letter posted)."""

    TYPE: ClassVar[str] = "krafa.notification.reminder_delivered.v1"
    TOPIC: ClassVar[Topic] = Topic.NOTIFICATIONS

    delivery_id: UUID
    reminder_id: UUID
    claim_ids: tuple[UUID, ...]
    channel: Channel
    delivered_at: AwareDatetime

    def subject(self) -> str:
        return str(self.delivery_id)


class CallOutcomeRecorded(Event):
    """Sent by the notifier when an agent records the outcome of a phone-call task. claims-api
    turns `promise_to_pay`/`deferral` into a deferral, `instalments` into a plan, `dispute` into
    a dispute."""

    TYPE: ClassVar[str] = "krafa.notification.call_outcome_recorded.v1"
    TOPIC: ClassVar[Topic] = Topic.NOTIFICATIONS

    task_id: UUID
    reminder_id: UUID
    claim_ids: tuple[UUID, ...]
    outcome: Literal["reached", "no_answer", "promise_to_pay", "deferral", "instalments", "dispute"]
    promised_date: date | None = None
    instalments: tuple[Instalment, ...] = ()
    note: str | None = None
    agent: str | None = None
    recorded_at: AwareDatetime

    def subject(self) -> str:
        return str(self.task_id)


class CardInstalmentFailed(Event):
    """Sent by payments-ingest when a card processor reports a failed instalment: claims-api
    turns it into a payment-slip claim due today; the next instalment is retried on the card."""

    TYPE: ClassVar[str] = "krafa.payment.card_instalment_failed.v1"
    TOPIC: ClassVar[Topic] = Topic.PAYMENTS

    failure_id: UUID
    customer_no: str = Field(description="the debtor's customer number at the creditor")
    agreement_ref: str = Field(description="the card agreement (subscription) the instalment belongs to")
    instalment_no: int = Field(ge=1)
    amount_minor: int = Field(gt=0)
    currency: Currency
    reason: str
    next_attempt_date: date | None = None
    failed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.failure_id)


# --- the debtor's personal data across services ------------------------------------------------
#
# claims-api owns the debtor; every other service keeps copies (a contact snapshot, the address a
# reminder went to, a returned message, the payer's name and account). An erasure or an access
# request the creditor makes at claims-api goes to every service that holds such copies as a
# request event; each answers with its own "handled" event, which claims-api collects until every
# service has answered. The requests carry no personal data themselves.

PrivacyRequestKind = Literal["erasure", "export"]


class PersonalDataErasureRequested(Event):
    """Sent by claims-api when the creditor erases a debtor's personal data. Every service that
    holds personal data about the debtor pseudonymises its rows in the transaction that records
    this event, and answers with its PersonalDataHandled (request `erasure`)."""

    TYPE: ClassVar[str] = "krafa.claim.personal_data_erasure_requested.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    request_id: UUID
    pseudonym: str = Field(description="the stand-in name the debtor's records carry from now on")
    requested_at: AwareDatetime

    def subject(self) -> str:
        return str(self.request_id)


class PersonalDataExportRequested(Event):
    """Sent by claims-api when the creditor asks for everything held about a debtor (access,
    portability). Every service that holds data about the debtor answers with its part in a
    PersonalDataHandled (request `export`)."""

    TYPE: ClassVar[str] = "krafa.claim.personal_data_export_requested.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    request_id: UUID
    requested_at: AwareDatetime

    def subject(self) -> str:
        return str(self.request_id)


class PersonalDataHandled(Event):
    """A service's answer to a personal-data request (each service sends its own type, on its own
    topic): `erasure`: its rows about the debtor are pseudonymised (`rows` of them); `export`:
    `data` holds what it keeps about the debtor."""

    TYPE: ClassVar[str] = "krafa.privacy.personal_data_handled.v1"
    TOPIC: ClassVar[Topic] = Topic.CLAIMS

    request_id: UUID
    request: PrivacyRequestKind
    service: str
    rows: int = Field(ge=0, description="rows pseudonymised (erasure) or exported (export)")
    data: dict[str, Any] | None = Field(default=None, description="the service's part of an export")
    handled_at: AwareDatetime

    def subject(self) -> str:
        return str(self.request_id)


class SchedulerPersonalDataHandled(PersonalDataHandled):
    """Sent by the scheduler: its answer to a personal-data request (timelines and contacts)."""

    TYPE: ClassVar[str] = "krafa.dunning.personal_data_handled.v1"
    TOPIC: ClassVar[Topic] = Topic.DUNNING


class NotifierPersonalDataHandled(PersonalDataHandled):
    """Sent by the notifier: its answer to a personal-data request (contact snapshots, the
    address each reminder went to, suppressions, call tasks)."""

    TYPE: ClassVar[str] = "krafa.notification.personal_data_handled.v1"
    TOPIC: ClassVar[Topic] = Topic.NOTIFICATIONS


class BouncesPersonalDataHandled(PersonalDataHandled):
    """Sent by the bounce-handler: its answer to a personal-data request (deliveries, returned
    messages, bounces and provider webhooks)."""

    TYPE: ClassVar[str] = "krafa.bounce.personal_data_handled.v1"
    TOPIC: ClassVar[Topic] = Topic.BOUNCES


class PaymentsPersonalDataHandled(PersonalDataHandled):
    """Sent by payments-ingest: its answer to a personal-data request (payments with the payer's
    name and account, card instalment failures)."""

    TYPE: ClassVar[str] = "krafa.payment.personal_data_handled.v1"
    TOPIC: ClassVar[Topic] = Topic.PAYMENTS
