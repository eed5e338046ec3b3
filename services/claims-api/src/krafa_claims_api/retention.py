"""What claims-api keeps, and for how long (krafa_kit.retention runs the rules).

Claims, their ledger and history, debtors and contact points are the creditor's records and stay
while the creditor keeps them (an erasure pseudonymises the personal data in them). What only
serves the moment goes: an Idempotency-Key's stored answer after its 24 hours, and a webhook
delivery (with its attempts) KRAFA_WEBHOOK_RETENTION_DAYS after it was delivered, failed for good
or was cancelled.
"""

from __future__ import annotations

from krafa_kit.retention import BATCH, Rule

from krafa_claims_api.settings import Settings

_OLD_DELIVERIES = (
    "SELECT id FROM webhook_deliveries WHERE status IN ('delivered', 'failed', 'cancelled')"
    f" AND created_at < $1 LIMIT {BATCH}"
)


def rules(settings: Settings) -> list[Rule]:
    days = settings.webhook_retention_days
    return [
        Rule(
            "idempotency_keys",
            "stored answers of Idempotency-Keys older than their 24 hours",
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys"
            f" WHERE created_at < $1 LIMIT {BATCH}))",
            1,
        ),
        Rule(
            "webhook_attempts",
            f"attempts of webhook deliveries finished more than {days} days ago",
            f"DELETE FROM webhook_attempts WHERE delivery_id = ANY(ARRAY({_OLD_DELIVERIES}))",
            days,
        ),
        Rule(
            "webhook_deliveries",
            f"webhook deliveries delivered, failed or cancelled more than {days} days ago",
            "DELETE FROM webhook_deliveries d WHERE d.id = ANY(ARRAY("
            + _OLD_DELIVERIES
            + ")) AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id)",
            days,
        ),
    ]
