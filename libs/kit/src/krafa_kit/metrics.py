"""Prometheus metrics owned by the kit, named krafa_<thing>_<unit> with service/topic/outcome
labels. Services define their own KPIs beside their code."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "krafa_events_consumed_total",
    "Events handled by a consumer, by outcome (processed, duplicate, ignored, dead_lettered)",
    ["service", "topic", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "krafa_event_handler_seconds",
    "Time to handle one event, inbox check and commit included",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERED = Counter("krafa_events_dead_lettered_total", "Records sent to a dead-letter topic", ["service", "topic"])
CONSUMER_LAG = Gauge(
    "krafa_consumer_lag_messages", "Records behind the end of the partition", ["service", "topic", "partition"]
)
OUTBOX_PUBLISHED = Counter("krafa_outbox_published_total", "Outbox rows published to the broker", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("krafa_outbox_backlog_rows", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "krafa_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
HTTP_REQUESTS = Counter("krafa_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram(
    "krafa_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETENTION_ROWS = Counter(
    "krafa_retention_rows_total", "Rows deleted or emptied by the retention sweeper", ["service", "table"]
)
