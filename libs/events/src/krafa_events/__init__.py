"""Krafa's event contracts: typed event models, topics, the CloudEvents codec and JSON Schemas.

This package is the contract between services and towards integrators. It imports nothing of
ours and no infrastructure (enforced by import-linter).
"""

from krafa_events.base import Channel, Event, PostalAddress, event_family
from krafa_events.catalog import (
    ClaimCancelled,
    ClaimCreated,
    ClaimPaid,
    CreditorSnapshot,
    DebtorSnapshot,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    PaymentReceived,
    PaymentUnmatched,
    ReminderDue,
    ReminderSent,
)
from krafa_events.envelope import DecodedEvent, EncodedEvent, UndecodableMessage, decode, encode
from krafa_events.registry import EVENT_TYPES, REGISTRY, EventSpec, event_type_for
from krafa_events.topics import Topic, dlq_topic

__all__ = [
    "EVENT_TYPES",
    "REGISTRY",
    "Channel",
    "ClaimCancelled",
    "ClaimCreated",
    "ClaimPaid",
    "CreditorSnapshot",
    "DebtorSnapshot",
    "DecodedEvent",
    "DeliveryFailed",
    "DueDatePassed",
    "EmailBounced",
    "EncodedEvent",
    "Event",
    "EventSpec",
    "PaymentReceived",
    "PaymentUnmatched",
    "PostalAddress",
    "ReminderDue",
    "ReminderSent",
    "Topic",
    "UndecodableMessage",
    "decode",
    "dlq_topic",
    "encode",
    "event_family",
    "event_type_for",
]
