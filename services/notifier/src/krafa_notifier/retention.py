"""What the notifier keeps, and for how long (krafa_kit.retention runs the rules).

A delivery is the record that a legal notice went out (which channel, to which address, when):
evidence for as long as the claim could come before a court, KRAFA_DELIVERY_RETENTION_DAYS (six
years: the longest limitation period of our countries, with the year it runs out in). Receipts
that arrived before their send was recorded and finished soft-bounce re-sends only serve the
moment: 30 days.
"""

from __future__ import annotations

from krafa_kit.retention import BATCH, Rule

from krafa_notifier.settings import Settings


def rules(settings: Settings) -> list[Rule]:
    days = settings.delivery_retention_days
    return [
        Rule(
            "deliveries",
            f"deliveries finished more than {days} days ago",
            "DELETE FROM deliveries WHERE ctid = ANY(ARRAY(SELECT ctid FROM deliveries"
            " WHERE status NOT IN ('pending', 'sending')"
            f" AND created_at < $1 LIMIT {BATCH}))",
            days,
        ),
        Rule(
            "early_receipts",
            "provider receipts older than 30 days",
            "DELETE FROM early_receipts WHERE ctid = ANY(ARRAY(SELECT ctid FROM early_receipts"
            f" WHERE received_at < $1 LIMIT {BATCH}))",
            30,
        ),
        Rule(
            "soft_retries",
            "soft-bounce re-sends done more than 30 days ago",
            "DELETE FROM soft_retries WHERE ctid = ANY(ARRAY(SELECT ctid FROM soft_retries"
            f" WHERE status <> 'scheduled' AND created_at < $1 LIMIT {BATCH}))",
            30,
        ),
    ]
