"""A claim's timeline from its history: each event named for people, with the channel and a link
to the reminder's delivery where there is one (a claims-api resource the creditor can follow:
everything the services reported about that delivery)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import (
    ClaimCancelled,
    ClaimCreated,
    ClaimPaid,
    DeliveryFailed,
    DueDatePassed,
    EmailBounced,
    PaymentReceived,
    ReminderDue,
    ReminderSent,
    event_family,
)
from krafa_events.catalog import (
    CallOutcomeRecorded,
    ClaimAmended,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimEscalated,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimReleased,
    ClaimWatchStarted,
    ClaimWrittenOff,
    CreditorNoticeDue,
    FeeCharged,
    ReminderDelivered,
)

from krafa_claims_api.portal import domain as portal_domain

# What each event is called on the timeline, by family (every version of an event keeps its name:
# a v2 does not drop out of the timeline).
KINDS: dict[str, str] = {
    ClaimCreated.family(): "created",
    DueDatePassed.family(): "due_date_passed",
    ReminderDue.family(): "reminder_due",
    ReminderSent.family(): "reminder_sent",
    ReminderDelivered.family(): "reminder_delivered",
    DeliveryFailed.family(): "delivery_failed",
    CallOutcomeRecorded.family(): "call_outcome",
    EmailBounced.family(): "bounce",
    PaymentReceived.family(): "payment",
    ClaimPaid.family(): "paid",
    FeeCharged.family(): "fee",
    ClaimDisputed.family(): "dispute",
    ClaimDisputeResolved.family(): "dispute_resolved",
    ClaimHeld.family(): "hold",
    ClaimReleased.family(): "release",
    ClaimDeferred.family(): "deferral",
    ClaimInstalmentPlanAgreed.family(): "instalment_plan",
    ClaimAmended.family(): "amendment",
    ClaimCancelled.family(): "cancelled",
    ClaimWrittenOff.family(): "written_off",
    ClaimEscalated.family(): "escalated",
    ClaimWatchStarted.family(): "claim_watch",
    CreditorNoticeDue.family(): "handover_notice",
    # The portal's own history entries (not events between services).
    portal_domain.ARRANGEMENT_REQUESTED: "arrangement_requested",
    portal_domain.ARRANGEMENT_DECIDED: "arrangement_decided",
}

# GET it with the creditor's key: the delivery's events (sent, delivered, failed, bounced, replaced).
DELIVERY_PATH = "/v1/claims/{}/deliveries/{}"


def item(row: asyncpg.Record, claim_id: UUID) -> dict[str, Any]:
    details: dict[str, Any] = row["details"] or {}
    kind = KINDS.get(event_family(row["event_type"]), "other")
    if kind == "reminder_sent" and details.get("fallback_for"):
        kind = "fallback"
    delivery_id = details.get("delivery_id")
    channel = details.get("channel") or ("email" if kind == "bounce" else None)
    return {
        "at": row["occurred_at"],
        "kind": kind,
        "event_type": row["event_type"],
        "event_id": row["event_id"],
        "channel": channel if isinstance(channel, str) else None,
        "content_link": DELIVERY_PATH.format(claim_id, delivery_id) if delivery_id and channel else None,
        "fallback_for": details.get("fallback_for"),
        "details": details,
    }


def delivery(rows: list[asyncpg.Record], claim_id: UUID, delivery_id: str) -> dict[str, Any] | None:
    """What the claim's history says about one delivery, or None when it names none."""
    items = [item(row, claim_id) for row in rows if (row["details"] or {}).get("delivery_id") == delivery_id]
    if not items:
        return None

    def first(*kinds: str) -> dict[str, Any] | None:
        return next((i for i in items if i["kind"] in kinds), None)

    sent, delivered, failed, bounced = (
        first("reminder_sent", "fallback"),
        first("reminder_delivered"),
        first("delivery_failed"),
        first("bounce"),
    )
    details: dict[str, Any] = sent["details"] if sent else {}
    return {
        "delivery_id": delivery_id,
        "claim_id": claim_id,
        "channel": next((i["channel"] for i in items if i["channel"]), None),
        "step": details.get("step"),
        "fallback_for": details.get("fallback_for"),
        "sent_at": sent["at"] if sent else None,
        "delivered_at": delivered["at"] if delivered else None,
        "failed_at": failed["at"] if failed else None,
        "failure_reason": failed["details"].get("reason") if failed else None,
        "bounced_at": bounced["at"] if bounced else None,
        "bounce_kind": bounced["details"].get("kind") if bounced else None,
        "events": items,
    }
