"""What the bounce-handler keeps, and for how long (krafa_kit.retention runs the rules).

A returned message is kept whole KRAFA_RAW_MESSAGE_RETENTION_DAYS (90) for an operator to read,
then only what was concluded from it (verdict, the bounce, its hash); a provider webhook's body
likewise. The address a reminder went to is needed to attribute a bounce only while one can still
come: deliveries older than KRAFA_BOUNCE_DELIVERY_RETENTION_DAYS (180) go.
"""

from __future__ import annotations

from krafa_kit.retention import BATCH, Rule

from krafa_bounce_handler.settings import Settings

EMPTIED = "'\\x'::bytea"


def rules(settings: Settings) -> list[Rule]:
    raw, deliveries = settings.raw_message_retention_days, settings.bounce_delivery_retention_days
    return [
        Rule(
            "inbound_messages",
            f"returned messages received more than {raw} days ago (emptied; verdict and hash kept)",
            f"UPDATE inbound_messages SET raw = {EMPTIED} WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbound_messages"
            f" WHERE received_at < $1 AND raw <> {EMPTIED} LIMIT {BATCH}))",
            raw,
            clock="service",  # received_at is the service's time of receipt
        ),
        Rule(
            "webhook_events",
            f"provider webhook bodies received more than {raw} days ago (emptied; outcome and hash kept)",
            f"UPDATE webhook_events SET body = {EMPTIED} WHERE ctid = ANY(ARRAY(SELECT ctid FROM webhook_events"
            f" WHERE received_at < $1 AND body <> {EMPTIED} LIMIT {BATCH}))",
            raw,
            clock="service",
        ),
        Rule(
            "deliveries",
            f"deliveries sent more than {deliveries} days ago (no bounce comes that late)",
            "DELETE FROM deliveries WHERE ctid = ANY(ARRAY(SELECT ctid FROM deliveries"
            f" WHERE recorded_at < $1 LIMIT {BATCH}))",
            deliveries,
        ),
    ]
