"""CSV bank exports imported with a saved column mapping: matched like any bank file, and
refused whole, with the line, when a row is bad."""

from __future__ import annotations

import pytest
from krafa_events import PaymentReceived
from krafa_kit.testing import TopicReader, eventually

from .conftest import PaymentsIngest
from .test_payments_flow import a_claim

pytestmark = pytest.mark.integration

MAPPING = {
    "delimiter": ";", "decimal_separator": ",", "date_format": "%d.%m.%Y", "has_header": True,
    "columns": {"amount": "Upphæð", "booking_date": "Dags", "default_currency": "ISK", "reference": "Tilvísun",
                "remittance_text": 4, "bank_ref": "Nr"},
}  # fmt: skip


async def test_csv_with_a_saved_mapping_imports_and_matches(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    claim, by_text = a_claim(100_061), a_claim(100_062)
    await payments_ingest.publish(claim, by_text)
    await payments_ingest.wait_indexed(2)
    csv = (
        "Dags;Upphæð;Tilvísun;Texti;Nr\n"
        f"05.03.2026;10390;{claim.reference};;C-1\n"
        "05.03.2026;500,00;;greiðsla INV-100062;C-2\n"
    ).encode()
    async with payments_ingest.client() as client:
        created = await client.put("/v1/payments/csv-mappings/landsbanki", json=MAPPING)
        assert created.status_code == 201, created.text
        replaced = await client.put("/v1/payments/csv-mappings/landsbanki", json=MAPPING)
        assert replaced.status_code == 200, replaced.text
        assert (await client.get("/v1/payments/csv-mappings/landsbanki")).json()["columns"]["remittance_text"] == 4

        response = await client.post(
            "/v1/payments/files", params={"csv_mapping": "landsbanki", "filename": "export.csv"}, content=csv,
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["format"], body["entries"], body["matched"], body["unmatched"]) == ("csv", 2, 2, 0)
        again = await client.post(
            "/v1/payments/files", params={"csv_mapping": "landsbanki"}, files={"file": ("export.csv", csv)}
        )
        assert again.status_code == 200 and again.json()["duplicates"] == 2

    await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
    received = {event.amount_minor: event for event in payments_topic.of_type(PaymentReceived)}
    assert (received[10_390].claim_id, received[10_390].bank_ref) == (claim.claim_id, "C-1")
    assert received[50_000 // 100].claim_id == by_text.claim_id


async def test_bad_csv_and_bad_mappings_are_problems_and_nothing_is_applied(operator_api: PaymentsIngest) -> None:
    async with operator_api.client() as client:
        assert (await client.put("/v1/payments/csv-mappings/bank", json=MAPPING)).status_code == 201
        rows = "".join(f"0{day}.03.2026;{day}00;;;C-{day}\n" for day in range(1, 6))
        csv = ("Dags;Upphæð;Tilvísun;Texti;Nr\n" + rows + "06.03.2026;12x;;;C-6\n").encode()
        bad = await client.post("/v1/payments/files", params={"csv_mapping": "bank"}, content=csv,
                                headers={"Content-Type": "text/csv"})  # fmt: skip
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["detail"] == "line 7: amount '12x' is not a number"
        assert bad.json()["line"] == 7

        unknown = await client.post("/v1/payments/files", params={"csv_mapping": "nope"}, content=csv,
                                    headers={"Content-Type": "text/csv"})  # fmt: skip
        assert unknown.status_code == 422

        no_currency = {**MAPPING, "columns": {"amount": 1, "booking_date": 2}}
        assert (await client.put("/v1/payments/csv-mappings/x", json=no_currency)).status_code == 422
        extra = {**MAPPING, "quote": "'"}
        assert (await client.put("/v1/payments/csv-mappings/x", json=extra)).status_code == 422
        assert (await client.put("/v1/payments/csv-mappings/bad%20name", json=MAPPING)).status_code == 422
        assert (await client.get("/v1/payments/csv-mappings/x")).status_code == 404
    assert await operator_api.count("SELECT count(*) FROM payments") == 0
    assert await operator_api.count("SELECT count(*) FROM imports") == 0
