"""What operators are alerted on, read from the service's own tables at scrape time: the queue of
unmatched payments nobody has handled, and when the last bank file of each format arrived (a
real-time notification or a card payment is no bank file)."""

from __future__ import annotations

import pytest
from krafa_payments_ingest import kpi

from .conftest import NOW, PaymentsIngest
from .test_payments_flow import UNKNOWN_REFERENCE, a_credit, a_notification

pytestmark = pytest.mark.integration


async def samples(service: PaymentsIngest, name: str, label: str) -> dict[str, float]:
    async with service.db.connection() as conn:
        rows = await kpi.snapshot(conn)
    [family] = [family for family in kpi.families(rows) if family.name == name]
    return {sample.labels[label]: sample.value for sample in family.samples}


async def test_the_unmatched_queue_and_the_last_bank_file_are_exported(payments_ingest: PaymentsIngest) -> None:
    last_file = "krafa_bank_file_last_imported_timestamp_seconds"
    assert await samples(payments_ingest, last_file, "format") == {}  # no file yet: no series, no false alarm
    statement = a_notification(a_credit(10_390, UNKNOWN_REFERENCE, "K-1"), a_credit(500, None, "K-2"))
    async with payments_ingest.client() as client:
        response = await client.post("/v1/payments/files", content=statement, headers={"Content-Type": "text/xml"})
        assert response.status_code == 201, response.text
    assert await samples(payments_ingest, "krafa_collection_unmatched_queue", "currency") == {"ISK": 2}
    assert await samples(payments_ingest, last_file, "format") == {"camt.054": NOW.timestamp()}
