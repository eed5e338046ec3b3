"""claims-api's counters of flows (its KPIs read from its tables at scrape time are in kpi.py).

Webhooks to creditors: one count per attempt, by outcome — `delivered`; `failed`, to be retried
on the backoff schedule; `gave_up`, the last retry failed and the delivery is marked failed — and,
for the failures, why (`reason`). Labels are the creditor's id (`krafa_creditor_info` maps it to
the name), the outcome and the reason: all bounded.
"""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_OUTCOMES = ("delivered", "failed", "gave_up")
# http_3xx…http_5xx: the endpoint answered but not 2xx (redirects are not followed, so a 3xx
# fails too); timeout / connection: no answer; refused: the SSRF guard would not call the URL.
WEBHOOK_FAILURE_REASONS = ("http_3xx", "http_4xx", "http_5xx", "timeout", "connection", "refused", "other")

WEBHOOK_ATTEMPTS = Counter(
    "krafa_webhook_attempts_total",
    "Webhook delivery attempts to creditors' endpoints, by outcome (delivered; failed, to be retried;"
    " gave_up, the last retry failed)",
    ["creditor", "outcome"],
)
WEBHOOK_FAILURES = Counter(
    "krafa_webhook_failures_total",
    "Failed webhook delivery attempts by reason (http_4xx, http_5xx, timeout, connection, refused, …)",
    ["creditor", "reason"],
)
_seen: set[str] = set()


def webhook_attempt(creditor: str, outcome: str, reason: str | None) -> None:
    """Count one attempt. A creditor's series all start at 0 on its first attempt, so a rate or
    an increase over them has data (and a first `gave_up` is an increase from 0, not a new series)."""
    if creditor not in _seen:
        _seen.add(creditor)
        for each in WEBHOOK_OUTCOMES:
            WEBHOOK_ATTEMPTS.labels(creditor, each)
        for each in WEBHOOK_FAILURE_REASONS:
            WEBHOOK_FAILURES.labels(creditor, each)
    WEBHOOK_ATTEMPTS.labels(creditor, outcome).inc()
    if reason is not None:
        WEBHOOK_FAILURES.labels(creditor, reason).inc()
