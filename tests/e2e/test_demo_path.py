"""The thin path across all five services: claims in over REST; reminders out by SMTP; a bounce
turned into a letter; a bank file paying claims so that their reminders stop. One trace follows
each claim: the trace its POST started is the trace of the reminders sent for it."""

from __future__ import annotations

import uuid

import pytest
from krafa.observer import Observer
from krafa.scenario import Scenario
from krafa.stack import Stack
from krafa_events import ClaimCreated, ReminderSent, Topic, decode
from krafa_kit.testing import TopicReader

# On Apache Kafka only (the `kafka` marker): on both brokers these three stacks would take make test
# past its ten minutes, and Tansu runs the same pipeline in the other e2e modules and the chaos run.
pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(600)]


def _trace_ids(reader: TopicReader) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, set[str]]]:
    """The trace id of each claim's ClaimCreated, and those of the ReminderSent naming it."""
    created: dict[uuid.UUID, str] = {}
    sent: dict[uuid.UUID, set[str]] = {}
    for record in reader.raw:
        decoded = decode(list(record.headers or ()), record.value)  # type: ignore[attr-defined]
        trace = (decoded.traceparent or "").split("-")
        if len(trace) != 4:
            continue
        if isinstance(decoded.event, ClaimCreated):
            created[decoded.event.claim_id] = trace[1]
        elif isinstance(decoded.event, ReminderSent) and len(decoded.event.claim_ids) == 1:
            # (A letter for several claims continues the trace of one of them.)
            sent.setdefault(decoded.event.claim_ids[0], set()).add(trace[1])
    return created, sent


async def test_every_expected_outcome_of_the_demo_happens(stack: Stack) -> None:
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    try:
        async with TopicReader(stack.broker.bootstrap, Topic.CLAIMS.value, Topic.NOTIFICATIONS.value) as reader:
            verdict = await Scenario(stack, observer, claims=30).run(timeout=180)
    finally:
        await observer.stop()
    failed = [f"{c.name}: {c.detail}" for c in verdict.checks if not c.ok]
    assert not failed, failed

    created, sent = _trace_ids(reader)
    single = {claim_id: traces for claim_id, traces in sent.items() if claim_id in created}
    assert single, "no ReminderSent for a claim whose ClaimCreated was read"
    lost = {str(c): (created[c], sorted(t)) for c, t in single.items() if created[c] not in t}
    assert not lost, f"reminders that left their claim's trace: {lost}"
