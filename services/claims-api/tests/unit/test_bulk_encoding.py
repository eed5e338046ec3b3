"""The shortcuts of the bulk path are exact: Outbox.add_many makes the records Outbox.add makes,
and the garbage collector's pause nests and always ends."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime

from krafa_events import ClaimCreated, CreditorSnapshot, DebtorSnapshot, decode
from krafa_events.catalog import DebtorUpdated
from krafa_kit import tracing
from krafa_kit.outbox import Outbox

NOW = datetime(2026, 1, 10, 12, 30, 15, 123456, tzinfo=UTC)
TRACEPARENT = re.compile(rb"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
TRACEPARENT_IN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def claim_created(n: int, debtor: DebtorSnapshot) -> ClaimCreated:
    return ClaimCreated(
        creditor_id=uuid.uuid4(),
        debtor_id=uuid.uuid4(),
        claim_id=uuid.uuid4(),
        invoice_no=f"INV-{n}",
        amount_minor=1000 + n,
        currency="ISK",
        fees_minor=250,
        issue_date=date(2026, 1, 10),
        due_date=date(2026, 2, 1),
        final_due_date=date(2026, 2, 11),
        reference="RF18539007547034",
        description="Árgjald" if n % 2 else None,
        jurisdiction="IS",
        creditor=CreditorSnapshot(name="Fram", payment_account="0101-26-1234"),
        debtor=debtor,
        created_at=NOW,
    )


def test_add_many_makes_the_records_add_makes() -> None:
    debtor = DebtorSnapshot(customer_no="C-1", name="Jón", country="IS", email="jon@example.is")
    events = [
        claim_created(0, debtor),
        claim_created(1, debtor),
        DebtorUpdated(creditor_id=uuid.uuid4(), debtor_id=uuid.uuid4(), debtor=debtor, updated_at=NOW),
        claim_created(2, debtor),
    ]
    ids = [str(uuid.uuid4()) for _ in events]
    one_by_one, batched = Outbox("/krafa/claims"), Outbox("/krafa/claims")
    for event, event_id in zip(events, ids, strict=True):
        one_by_one.add(event, time=NOW, event_id=event_id)
    batched.add_many(events, time=NOW, event_ids=ids)

    assert len(batched.pending) == len(events)
    for expected, got, event in zip(one_by_one.pending, batched.pending, events, strict=True):
        assert (got.event_id, got.topic, got.key, got.value) == (
            expected.event_id,
            expected.topic,
            expected.key,
            expected.value,
        )
        # The same headers in the same order; only the trace differs (a fresh one per event).
        assert [name for name, _ in got.headers] == [name for name, _ in expected.headers]
        assert [h for h in got.headers if h[0] != "traceparent"] == [
            h for h in expected.headers if h[0] != "traceparent"
        ]
        assert TRACEPARENT.match(dict(got.headers)["traceparent"])
        assert decode(got.headers, got.value, got.key).event == event
    traces = {dict(e.headers)["traceparent"] for e in batched.pending}
    assert len(traces) == len(events)
    # The rows written are the same text too (the headers' JSON is spliced, not dumped, in a batch).
    for expected_row, got_row in zip(one_by_one.rows, batched.rows, strict=True):
        assert got_row[:4] == expected_row[:4] and got_row[5] == expected_row[5]
        assert _untraced(got_row[4]) == _untraced(expected_row[4])
        assert TRACEPARENT.match(dict(json.loads(got_row[4]))["traceparent"].encode())


def test_add_many_in_a_trace_continues_it_and_writes_what_add_writes() -> None:
    debtor = DebtorSnapshot(customer_no="C-2", name="Anna Þórsdóttir", country="IS", email=None)
    events = [claim_created(n, debtor) for n in range(3)]
    ids = [str(uuid.uuid4()) for _ in events]
    with tracing.continued(TRACEPARENT_IN):
        one_by_one, batched = Outbox("/krafa/claims"), Outbox("/krafa/claims")
        for event, event_id in zip(events, ids, strict=True):
            one_by_one.add(event, time=NOW, event_id=event_id)
        batched.add_many(events, time=NOW, event_ids=ids)
    for expected_row, got_row in zip(one_by_one.rows, batched.rows, strict=True):
        assert got_row[:4] == expected_row[:4] and got_row[5] == expected_row[5]
        assert _untraced(got_row[4]) == _untraced(expected_row[4])
        trace = dict(json.loads(got_row[4]))["traceparent"]
        assert trace.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and trace.endswith("-01")


def _untraced(headers: str) -> str:
    return re.sub(r'"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"', '"trace"', headers)
