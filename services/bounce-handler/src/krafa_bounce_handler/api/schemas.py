"""Response bodies of the operator API: deliberately separate from events and tables."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class BounceOut(BaseModel):
    id: UUID
    delivery_id: UUID
    state: Literal["emitted", "awaiting_delivery", "duplicate"]
    recipient: str | None = Field(description="the address the reminder was sent to; null while awaiting")
    reported_address: str | None = Field(description="the address the report names (differs when forwarded)")
    kind: Literal["hard", "soft"] | None
    status: str | None = Field(description="RFC 3463 enhanced status code")
    reason: str | None
    source: Literal["dsn", "webhook"]
    received_at: datetime
    emitted_at: datetime | None
    event_id: UUID | None = Field(description="the EmailBounced event, when emitted")
    inbound_message_id: UUID | None
    raw_sha256: str
    creditor_id: UUID | None = Field(default=None, description="the delivery's creditor; null while awaiting it")
    debtor_id: UUID | None = Field(default=None, description="the delivery's debtor; null while awaiting it")
    claim_ids: list[UUID] = Field(default_factory=list, description="the claims the bounced reminder was about")


class BounceList(BaseModel):
    items: list[BounceOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class RecipientOut(BaseModel):
    address: str
    kind: Literal["hard", "soft"]
    status: str | None
    reason: str


class ParseOut(BaseModel):
    is_bounce: bool
    kind: Literal["hard", "soft", "mixed", "none"]
    recipients: list[RecipientOut]
    not_bounce_reason: str | None
