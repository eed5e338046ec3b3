"""A claim's timeline from its history: each event named for people, with the channel and a link
to the reminder's delivery where there is one (a claims-api resource the creditor can follow:
everything the services reported about that delivery)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

KINDS = {
    "krafa.claim.created.v1": "created",
    "krafa.dunning.due_date_passed.v1": "due_date_passed",
    "krafa.dunning.reminder_due.v1": "reminder_due",
    "krafa.notification.reminder_sent.v1": "reminder_sent",
    "krafa.notification.reminder_delivered.v1": "reminder_delivered",
    "krafa.notification.delivery_failed.v1": "delivery_failed",
    "krafa.notification.call_outcome_recorded.v1": "call_outcome",
    "krafa.bounce.email_bounced.v1": "bounce",
    "krafa.payment.received.v1": "payment",
    "krafa.claim.paid.v1": "paid",
    "krafa.dunning.fee_charged.v1": "fee",
    "krafa.claim.disputed.v1": "dispute",
    "krafa.claim.dispute_resolved.v1": "dispute_resolved",
    "krafa.claim.held.v1": "hold",
    "krafa.claim.released.v1": "release",
    "krafa.claim.deferred.v1": "deferral",
    "krafa.claim.instalment_plan_agreed.v1": "instalment_plan",
    "krafa.claim.amended.v1": "amendment",
    "krafa.claim.cancelled.v1": "cancelled",
    "krafa.claim.written_off.v1": "written_off",
    "krafa.dunning.claim_escalated.v1": "escalated",
    "krafa.dunning.claim_watch_started.v1": "claim_watch",
    "krafa.dunning.creditor_notice_due.v1": "handover_notice",
    "krafa.portal.arrangement_requested": "arrangement_requested",
    "krafa.portal.arrangement_decided": "arrangement_decided",
}

# GET it with the creditor's key: the delivery's events (sent, delivered, failed, bounced, replaced).
DELIVERY_PATH = "/v1/claims/{}/deliveries/{}"


def item(row: asyncpg.Record, claim_id: UUID) -> dict[str, Any]:
    details: dict[str, Any] = row["details"] or {}
    kind = KINDS.get(row["event_type"], "other")
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
