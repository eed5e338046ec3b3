"""Topics are per aggregate stream, not per event type; integrators filter on `ce_type`."""

from enum import StrEnum


class Topic(StrEnum):
    CLAIMS = "krafa.claims"
    DUNNING = "krafa.dunning"
    NOTIFICATIONS = "krafa.notifications"
    BOUNCES = "krafa.bounces"
    PAYMENTS = "krafa.payments"


def dlq_topic(topic: str) -> str:
    """Where a consumer parks a message it cannot decode or handle, with the reason."""
    return f"{topic}.dlq"


# Partition counts used when the topics are created (embedded broker, compose, k8s).
PARTITIONS: dict[Topic, int] = {topic: 6 for topic in Topic}
