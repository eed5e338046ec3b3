"""Base model for every event, and value objects shared by several events."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from krafa_events.topics import Topic


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    NETBANK = "netbank"
    CALL = "call"


class Contract(BaseModel):
    # extra="ignore" lets an old consumer read an event that gained fields (additive change).
    model_config = ConfigDict(frozen=True, extra="ignore")


class PostalAddress(Contract):
    """A legal (postal) address, used for letters."""

    name: str
    lines: tuple[str, ...] = ()
    postcode: str = ""
    city: str = ""
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")


class Event(Contract):
    """An event: a fact in the past tense. Subclasses set TYPE (versioned) and TOPIC."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[Topic]

    creditor_id: UUID
    debtor_id: UUID

    def key(self) -> str:
        # Every event about one debtor lands on one partition, so consumers see them in order.
        return f"{self.creditor_id}:{self.debtor_id}"

    def subject(self) -> str | None:
        """The CloudEvents subject: the id of the thing the event is about."""
        return None

    @classmethod
    def family(cls) -> str:
        """TYPE without its version (`krafa.claim.created`): what every version of the event
        shares, so a reader that keys on it (a timeline, a KPI) keeps counting a v2."""
        return event_family(cls.TYPE)


def event_family(event_type: str) -> str:
    """An event type without its version: `krafa.claim.created.v2` → `krafa.claim.created`; a
    type without a version is its own family."""
    head, dot, version = event_type.rpartition(".")
    return head if dot and version[:1] == "v" and version[1:].isdigit() else event_type
