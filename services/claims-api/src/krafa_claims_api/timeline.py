"""A claim's timeline from its history: each event named for people, with the channel and a link
to the reminder's content where there is one."""

from __future__ import annotations

from typing import Any

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

# The notifier serves each delivery (state, channel, and its rendered content) here.
DELIVERY_PATH = "/v1/deliveries/{}"


def item(row: asyncpg.Record) -> dict[str, Any]:
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
        "content_link": DELIVERY_PATH.format(delivery_id) if delivery_id and channel else None,
        "fallback_for": details.get("fallback_for"),
        "details": details,
    }
