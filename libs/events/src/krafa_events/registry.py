"""The typed registry: each event with its topic, producer and consumers. Topic subscriptions,
the AsyncAPI document and the contract tests all read it."""

from __future__ import annotations

from dataclasses import dataclass

from krafa_events.base import Event
from krafa_events.catalog import (
    BouncesPersonalDataHandled,
    CallOutcomeRecorded,
    CardInstalmentFailed,
    ClaimAmended,
    ClaimBalanceChanged,
    ClaimCancelled,
    ClaimCreated,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimEscalated,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimPaid,
    ClaimReleased,
    ClaimWatchStarted,
    ClaimWrittenOff,
    CreditorNoticeDue,
    CreditorUpdated,
    DebtorUpdated,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    FeeCharged,
    NotifierPersonalDataHandled,
    PaymentReceived,
    PaymentsPersonalDataHandled,
    PaymentUnmatched,
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
    PersonalDataHandled,
    ReminderDelivered,
    ReminderDue,
    ReminderSent,
    SandboxClockAdvanced,
    SchedulerPersonalDataHandled,
)
from krafa_events.topics import Topic

CLAIMS_API = "claims-api"
SCHEDULER = "scheduler"
NOTIFIER = "notifier"
BOUNCE_HANDLER = "bounce-handler"
PAYMENTS_INGEST = "payments-ingest"
WEB = "web"  # the pages for people: each reminder's personal link, the handover notices


@dataclass(frozen=True, slots=True)
class EventSpec:
    model: type[Event]
    producer: str
    consumers: tuple[str, ...]

    @property
    def type(self) -> str:
        return self.model.TYPE

    @property
    def topic(self) -> Topic:
        return self.model.TOPIC


REGISTRY: tuple[EventSpec, ...] = (
    EventSpec(ClaimCreated, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(ClaimCancelled, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(ClaimPaid, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(DueDatePassed, SCHEDULER, (CLAIMS_API,)),
    EventSpec(ReminderDue, SCHEDULER, (NOTIFIER, CLAIMS_API)),
    EventSpec(ReminderSent, NOTIFIER, (CLAIMS_API, BOUNCE_HANDLER, WEB, SCHEDULER)),
    EventSpec(DeliveryFailed, NOTIFIER, (CLAIMS_API,)),
    EventSpec(EmailBounced, BOUNCE_HANDLER, (NOTIFIER, CLAIMS_API)),
    EventSpec(PaymentReceived, PAYMENTS_INGEST, (CLAIMS_API, NOTIFIER)),
    EventSpec(PaymentUnmatched, PAYMENTS_INGEST, (CLAIMS_API,)),
    EventSpec(CardInstalmentFailed, PAYMENTS_INGEST, (CLAIMS_API,)),
    EventSpec(DebtorUpdated, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(CreditorUpdated, CLAIMS_API, (NOTIFIER,)),
    EventSpec(SandboxClockAdvanced, CLAIMS_API, (SCHEDULER,)),
    EventSpec(ClaimAmended, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(ClaimDisputed, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(ClaimDisputeResolved, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(ClaimDeferred, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(ClaimInstalmentPlanAgreed, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(ClaimHeld, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(ClaimReleased, CLAIMS_API, (SCHEDULER, NOTIFIER)),
    EventSpec(ClaimWrittenOff, CLAIMS_API, (SCHEDULER, NOTIFIER, PAYMENTS_INGEST)),
    EventSpec(FeeCharged, SCHEDULER, (CLAIMS_API,)),
    EventSpec(CreditorNoticeDue, SCHEDULER, (CLAIMS_API, WEB)),
    EventSpec(ClaimEscalated, SCHEDULER, (CLAIMS_API, PAYMENTS_INGEST)),
    EventSpec(ClaimWatchStarted, SCHEDULER, (CLAIMS_API,)),
    EventSpec(ReminderDelivered, NOTIFIER, (CLAIMS_API,)),
    EventSpec(CallOutcomeRecorded, NOTIFIER, (CLAIMS_API,)),
    EventSpec(ClaimBalanceChanged, CLAIMS_API, (PAYMENTS_INGEST, SCHEDULER, NOTIFIER)),
    # The debtor's personal data: every service holding some answers claims-api's requests.
    EventSpec(PersonalDataErasureRequested, CLAIMS_API, (SCHEDULER, NOTIFIER, BOUNCE_HANDLER, PAYMENTS_INGEST)),
    EventSpec(PersonalDataExportRequested, CLAIMS_API, (SCHEDULER, NOTIFIER, BOUNCE_HANDLER, PAYMENTS_INGEST)),
    EventSpec(SchedulerPersonalDataHandled, SCHEDULER, (CLAIMS_API,)),
    EventSpec(NotifierPersonalDataHandled, NOTIFIER, (CLAIMS_API,)),
    EventSpec(BouncesPersonalDataHandled, BOUNCE_HANDLER, (CLAIMS_API,)),
    EventSpec(PaymentsPersonalDataHandled, PAYMENTS_INGEST, (CLAIMS_API,)),
)


def privacy_services() -> tuple[str, ...]:
    """The services that hold personal data besides claims-api: those that must answer an
    erasure before it is complete."""
    return tuple(sorted(next(s for s in REGISTRY if s.model is PersonalDataErasureRequested).consumers))


HANDLED_BY: dict[str, type[PersonalDataHandled]] = {
    SCHEDULER: SchedulerPersonalDataHandled,
    NOTIFIER: NotifierPersonalDataHandled,
    BOUNCE_HANDLER: BouncesPersonalDataHandled,
    PAYMENTS_INGEST: PaymentsPersonalDataHandled,
}

EVENT_TYPES: dict[str, type[Event]] = {spec.type: spec.model for spec in REGISTRY}


def event_type_for(ce_type: str) -> type[Event] | None:
    return EVENT_TYPES.get(ce_type)


def topics_consumed_by(service: str) -> tuple[str, ...]:
    return tuple(sorted({spec.topic.value for spec in REGISTRY if service in spec.consumers}))


def types_consumed_by(service: str) -> frozenset[str]:
    return frozenset(spec.type for spec in REGISTRY if service in spec.consumers)
