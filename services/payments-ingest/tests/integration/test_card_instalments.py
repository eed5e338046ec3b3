"""A card processor reports a failed instalment (docs/domain.md: Icelandic payment slips): CardInstalmentFailed goes
out once per processor id, with the creditor's own debtor for the customer and the date the card is retried;
a bad report is an RFC 9457 problem and nothing is recorded or emitted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from krafa_events.catalog import CardInstalmentFailed
from krafa_kit.testing import TopicReader, eventually

from .conftest import NOW, PaymentsIngest
from .test_payments_flow import a_claim

pytestmark = pytest.mark.integration


def a_failure(creditor: UUID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "evt_0001", "creditor_id": str(creditor), "customer_no": "C-1", "agreement_ref": "SUB-42",
        "instalment_no": 3, "instalment_count": 5, "amount_minor": 10_000, "currency": "ISK",
        "reason": "insufficient_funds", "next_attempt_date": "2026-04-01", "failed_at": "2026-03-05T06:12:00+00:00",
    }  # fmt: skip
    body.update(overrides)
    return body


async def test_failed_instalment_is_emitted_once_for_the_creditors_own_debtor(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    # The same customer number at two creditors: a report for creditor A must name A's debtor.
    mine = a_claim(100_061)
    theirs = a_claim(100_062, debtor=mine.debtor)
    await payments_ingest.publish(mine, theirs)
    await payments_ingest.wait_indexed(2)
    async with payments_ingest.client() as client:
        first = await client.post("/v1/card-instalments/failed", json=a_failure(mine.creditor_id))
        assert first.status_code == 201, first.text
        body = first.json()
        assert first.headers["location"] == f"/v1/card-instalments/failed/{body['failure_id']}"
        assert (body["debtor_id"], body["next_attempt_date"], body["instalment_no"]) == (
            str(mine.debtor_id), "2026-04-01", 3,
        )  # fmt: skip

        # The processor retries its webhook, even with other content: the first report wins.
        again = await client.post("/v1/card-instalments/failed", json=a_failure(mine.creditor_id, amount_minor=1))
        assert again.status_code == 200, again.text
        assert again.json() == body
        read = await client.get(first.headers["location"])
        assert read.status_code == 200 and read.json() == body

        # A customer with no indexed claim: no debtor id to give; claims-api resolves it by customer_no.
        stranger = a_failure(
            mine.creditor_id, id="evt_0002", customer_no="C-999", instalment_no=5, next_attempt_date=None,
            failed_at=None,
        )  # fmt: skip
        last = await client.post("/v1/card-instalments/failed", json=stranger)
        assert last.status_code == 201, last.text
        assert (last.json()["debtor_id"], last.json()["next_attempt_date"]) == (None, None)
        assert last.json()["failed_at"] == NOW.isoformat().replace("+00:00", "Z")

        missing = await client.get(f"/v1/card-instalments/failed/{uuid4()}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

    await eventually(lambda: len(payments_topic.of_type(CardInstalmentFailed)) >= 2, timeout=60)
    await payments_ingest.wait_published()
    events = payments_topic.of_type(CardInstalmentFailed)
    assert len(events) == 2  # the retried webhook emitted nothing
    known, unknown = sorted(events, key=lambda e: e.instalment_no)
    assert (known.creditor_id, known.debtor_id, known.failure_id) == (
        mine.creditor_id, mine.debtor_id, UUID(body["failure_id"]),
    )  # fmt: skip
    assert known.debtor_id != theirs.debtor_id
    assert (known.customer_no, known.agreement_ref) == ("C-1", "SUB-42")
    assert (known.amount_minor, known.currency) == (10_000, "ISK")
    assert (known.reason, known.next_attempt_date) == ("insufficient_funds", date(2026, 4, 1))
    assert known.failed_at == datetime(2026, 3, 5, 6, 12, tzinfo=UTC)
    assert (unknown.creditor_id, unknown.debtor_id.int, unknown.customer_no) == (mine.creditor_id, 0, "C-999")
    assert (unknown.next_attempt_date, unknown.failed_at) == (None, NOW)
    assert await payments_ingest.count("SELECT count(*) FROM card_instalment_failures") == 2


CREDITOR = uuid4()


@pytest.mark.parametrize(
    "body",
    [
        a_failure(CREDITOR, iban="IS1"),  # unknown field
        {k: v for k, v in a_failure(CREDITOR).items() if k != "id"},
        {k: v for k, v in a_failure(CREDITOR).items() if k != "next_attempt_date"},  # must be explicit
        a_failure(CREDITOR, amount_minor=0),
        a_failure(CREDITOR, amount_minor="12x"),
        a_failure(CREDITOR, currency="isk"),
        a_failure(CREDITOR, creditor_id="not-a-uuid"),
        a_failure(CREDITOR, instalment_no=6),  # beyond the count
        a_failure(CREDITOR, instalment_no=5),  # the last one has no next attempt
        a_failure(CREDITOR, next_attempt_date="2026-03-05"),  # not after the failure
        a_failure(CREDITOR, failed_at="2026-03-05T06:12:00"),  # no offset
        a_failure(CREDITOR, failed_at=None, next_attempt_date=NOW.date().isoformat()),
        [a_failure(CREDITOR)],
    ],
)
async def test_bad_reports_are_problems_and_nothing_is_recorded(operator_api: PaymentsIngest, body: object) -> None:
    async with operator_api.client() as client:
        response = await client.post("/v1/card-instalments/failed", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Validation failed"
    assert await operator_api.count("SELECT count(*) FROM card_instalment_failures") == 0
    assert await operator_api.count("SELECT count(*) FROM outbox") == 0


async def test_reports_need_the_token(operator_api: PaymentsIngest) -> None:
    async with operator_api.client(token=None) as anonymous, operator_api.client(token="wrong") as wrong:  # noqa: S106
        for client in (anonymous, wrong):
            response = await client.post("/v1/card-instalments/failed", json=a_failure(CREDITOR))
            assert response.status_code == 401
    assert await operator_api.count("SELECT count(*) FROM card_instalment_failures") == 0
