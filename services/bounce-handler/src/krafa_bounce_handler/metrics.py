"""The bounce-handler's own KPIs (the kit owns the consumer, outbox and HTTP metrics)."""

from prometheus_client import Counter, Histogram

BOUNCES_RECEIVED = Counter(
    "krafa_bounces_received_total",
    "Inbound reports per return path, by verdict (hard, soft, not_bounce, bad_signature)",
    ["kind", "source"],
)
BOUNCES_EMITTED = Counter("krafa_bounce_emitted_total", "EmailBounced events written to the outbox", ["kind"])
BOUNCE_DELAY = Histogram(
    "krafa_bounce_delay_seconds",
    "Seconds from the delivery's sent_at to the bounce report",
    ["kind"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600),
)
SMTP_MESSAGES = Counter(
    "krafa_bounce_smtp_messages_total",
    "SMTP transactions by answer (accepted, tempfail, rejected_recipient, shutting_down)",
    ["outcome"],
)
WEBHOOKS = Counter(
    "krafa_bounce_webhooks_total",
    "Provider webhook requests by outcome (bounce, ignored, unmatched, bad_signature, stale, replayed,"
    " invalid, not_configured)",
    ["provider", "outcome"],
)
