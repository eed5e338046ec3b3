"""The trace context: events written while handling a request or an event continue its trace,
and every log line names the request and trace it belongs to."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from uuid import uuid4

from krafa_events import decode
from krafa_events.catalog import ClaimCancelled
from krafa_kit import tracing
from krafa_kit.logs import JsonFormatter
from krafa_kit.outbox import Outbox

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def cancelled() -> ClaimCancelled:
    return ClaimCancelled(
        claim_id=uuid4(),
        creditor_id=uuid4(),
        debtor_id=uuid4(),
        reason="paid elsewhere",
        cancelled_at=datetime.now(UTC),
    )


def traceparent_of(outbox: Outbox, index: int) -> str:
    encoded = outbox.pending[index]
    decoded = decode(list(encoded.headers), encoded.value, encoded.key)
    assert decoded.traceparent is not None
    return decoded.traceparent


def test_events_written_in_a_trace_continue_it_and_others_start_their_own() -> None:
    outbox = Outbox("test")
    with tracing.continued(PARENT) as context:
        outbox.add(cancelled())
        outbox.add_many(
            [cancelled(), cancelled(), cancelled()], time=datetime.now(UTC), event_ids=[str(uuid4()) for _ in range(3)]
        )
    outbox.add(cancelled())
    inside = [tracing.parse(traceparent_of(outbox, i)) for i in range(4)]
    assert inside == [("4bf92f3577b34da6a3ce929d0e0e4736", "01")] * 4
    spans = {traceparent_of(outbox, i).split("-")[2] for i in range(4)}
    assert len(spans) == 4 and context.span_id != "00f067aa0ba902b7"  # each event a span of its own
    outside = tracing.parse(traceparent_of(outbox, 4))
    assert outside is not None and outside[0] != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_missing_or_invalid_traceparent_starts_a_new_trace() -> None:
    for bad in (None, "", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "01-abc", PARENT.upper()):
        with tracing.continued(bad) as context:
            assert len(context.trace_id) == 32 and context.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert tracing.current() is None


def test_log_lines_name_the_request_and_the_trace_without_ansi_noise() -> None:
    formatter = JsonFormatter("claims-api")
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Started server", None, None)
    record.color_message = "Started \x1b[1mserver\x1b[0m"
    with tracing.continued(PARENT, request_id="req-1"):
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and line["request_id"] == "req-1"
    assert "color_message" not in line and "\x1b" not in json.dumps(line)
    assert "trace_id" not in json.loads(formatter.format(record))  # outside any request or event
