"""payments-ingest over the real PostgreSQL and broker: claims from krafa.claims fill the
reference index, an uploaded bank file becomes one event per new payment on krafa.payments, and
nothing is applied twice or from a malformed file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from krafa_events import ClaimCreated, ClaimPaid, PaymentReceived, PaymentUnmatched
from krafa_events.references import rf_from
from krafa_events.testing import a_claim_created
from krafa_kit.testing import TopicReader, eventually, shared_dir
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from .conftest import MAX_UPLOAD, NOW, PaymentsIngest

pytestmark = pytest.mark.integration

IBAN = "IS140159260076545510730339"
UNKNOWN_REFERENCE = rf_from(999_999)


def a_claim(number: int, **overrides: Any) -> ClaimCreated:
    return a_claim_created(reference=rf_from(number), invoice_no=f"INV-{number}", **overrides)


def a_notification(*credits: GeneratedCredit, msg_id: str = "MSG-1") -> bytes:
    return camt054(credits, account_iban=IBAN, msg_id=msg_id, created=datetime(2026, 3, 5, 8, tzinfo=NOW.tzinfo))


def a_credit(amount_minor: int, reference: str | None, bank_ref: str, **overrides: Any) -> GeneratedCredit:
    values: dict[str, Any] = {
        "amount_minor": amount_minor, "currency": "ISK", "reference": reference,
        "booking_date": date(2026, 3, 5), "bank_ref": bank_ref, "debtor_name": "Jón Jónsson",
    }  # fmt: skip
    values.update(overrides)
    return GeneratedCredit(**values)


async def test_file_pays_one_claim_and_leaves_an_unknown_reference_unmatched_once(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    paid, other = a_claim(100_001), a_claim(100_002)
    await payments_ingest.publish(paid, other)
    await payments_ingest.wait_indexed(2)
    owed = paid.amount_minor + paid.fees_minor
    notification = a_notification(a_credit(owed, paid.reference, "B-1"), a_credit(5_000, UNKNOWN_REFERENCE, "B-2"))

    async with payments_ingest.client() as client:
        first = await client.post(
            "/v1/payments/files", params={"filename": "notification.xml"}, content=notification,
            headers={"Content-Type": "application/xml"},
        )  # fmt: skip
        assert first.status_code == 201, first.text
        body = first.json()
        import_id = body.pop("import_id")
        assert body == {
            "format": "camt.054", "entries": 2, "new": 2, "duplicates": 0, "matched": 1, "unmatched": 1, "reversals": 0,
        }  # fmt: skip
        assert first.headers["location"] == f"/v1/payments/imports/{import_id}"

        await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
        [received] = payments_topic.of_type(PaymentReceived)
        [unmatched] = payments_topic.of_type(PaymentUnmatched)
        assert (received.creditor_id, received.debtor_id, received.claim_id) == (
            paid.creditor_id, paid.debtor_id, paid.claim_id,
        )  # fmt: skip
        assert (received.amount_minor, received.currency, received.reference) == (owed, "ISK", paid.reference)
        assert (received.bank_ref, received.booking_date) == ("B-1", date(2026, 3, 5))
        assert received.source == import_id
        assert received.received_at == NOW
        assert unmatched.creditor_id.int == 0 and unmatched.debtor_id.int == 0
        assert (unmatched.amount_minor, unmatched.reference, unmatched.reason) == (
            5_000, UNKNOWN_REFERENCE, "unknown_reference",
        )  # fmt: skip

        again = await client.post(
            "/v1/payments/files", content=notification, headers={"Content-Type": "application/octet-stream"}
        )
        assert again.status_code == 200, again.text
        assert again.json()["new"] == 0 and again.json()["duplicates"] == 2
        assert again.json()["matched"] == 0 and again.json()["unmatched"] == 0

        # Events leave only through the outbox, so two rows there means no event was added.
        assert await payments_ingest.count("SELECT count(*) FROM outbox") == 2
        await payments_ingest.wait_published()
        assert len(payments_topic.events) == 2
        assert await payments_ingest.count("SELECT count(*) FROM payments") == 2

        summary = (await client.get(f"/v1/payments/imports/{import_id}")).json()
        assert summary["filename"] == "notification.xml"
        assert (summary["entries"], summary["new"], summary["matched"], summary["unmatched"]) == (2, 2, 1, 1)
        assert summary["repeat_of"] is None
        repeat = (await client.get(f"/v1/payments/imports/{again.json()['import_id']}")).json()
        assert repeat["repeat_of"] == import_id

        queue = (await client.get("/v1/payments/unmatched", params={"limit": 10})).json()
        assert [item["payment_id"] for item in queue["items"]] == [str(unmatched.payment_id)]
        assert queue["items"][0]["reason"] == "unknown_reference"
        assert queue["next_cursor"] is None


async def test_paid_claim_still_takes_a_late_payment_and_a_shared_reference_waits(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    closed = a_claim(100_011)
    shared_a, shared_b = a_claim(100_012), a_claim(100_012)  # same reference, two creditors
    settled = ClaimPaid(
        creditor_id=closed.creditor_id, debtor_id=closed.debtor_id, claim_id=closed.claim_id,
        amount_paid_minor=10_390, currency="ISK", paid_at=NOW,
    )  # fmt: skip
    await payments_ingest.publish(closed, shared_a, shared_b, settled)
    await payments_ingest.wait_indexed(3, closed=1)

    async with payments_ingest.client() as client:
        response = await client.post(
            "/v1/payments/files",
            files={"file": ("late.xml", a_notification(a_credit(500, closed.reference, "B-7"),
                                                      a_credit(700, shared_a.reference, "B-8")))},
        )  # fmt: skip
    assert response.status_code == 201, response.text
    assert (response.json()["matched"], response.json()["unmatched"]) == (1, 1)
    await eventually(lambda: len(payments_topic.events) >= 2, timeout=60)
    [received] = payments_topic.of_type(PaymentReceived)
    [unmatched] = payments_topic.of_type(PaymentUnmatched)
    assert (received.claim_id, received.amount_minor) == (closed.claim_id, 500)
    assert unmatched.reason == "ambiguous_reference"


async def test_malformed_file_is_refused_with_its_line_and_nothing_is_applied(
    operator_api: PaymentsIngest,
) -> None:
    good = a_notification(a_credit(10_390, rf_from(100_021), "B-1"), a_credit(5_000, rf_from(100_022), "B-2"))
    broken = good.replace(b">5000</Amt>", b">5O00</Amt>")
    assert broken != good
    async with operator_api.client() as client:
        response = await client.post("/v1/payments/files", content=broken, headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Malformed bank file"
    assert isinstance(problem["line"], int) and problem["line"] > 1
    assert problem["detail"].startswith(f"line {problem['line']}")
    assert "5O00" in problem["reason"]
    assert await operator_api.count("SELECT count(*) FROM payments") == 0
    assert await operator_api.count("SELECT count(*) FROM imports") == 0
    assert await operator_api.count("SELECT count(*) FROM outbox") == 0


# PostFinance's camt.054 notifies three credits that its camt.053 statement (earlier in the
# manifest) books as well, with the same AcctSvcrRef, batch position, amount and date.
BOOKED_AGAIN = {"ch_postfinance_test_camt054_v04.xml": 3}


def _corpus() -> list[tuple[Path, dict[str, Any]]]:
    shared = shared_dir()
    manifest = json.loads((shared / "corpus" / "bank" / "manifest.json").read_text(encoding="utf-8"))
    return [(shared / spec["file"], spec) for spec in manifest["files"]]


def _expected_entries(spec: dict[str, Any]) -> int:
    """Credit entries per the manifest; a batched camt entry (TxDtls with amounts) is one per detail."""
    if not spec["format"].startswith("camt."):
        return int(spec["n_credit_entries"])
    total = 0
    for statement in spec["statements"]:
        for entry in statement["credit_entries"]:
            details = entry["transactions"]
            batched = len(details) > 1 and all(tx["amount"] is not None for tx in details)
            total += len(details) if batched else 1
    return total


async def test_every_corpus_bank_file_imports_once(operator_api: PaymentsIngest) -> None:
    corpus = _corpus()
    assert len(corpus) == 15
    async with operator_api.client() as client:
        recorded = 0
        for path, spec in corpus:
            response = await client.post("/v1/payments/files", files={"file": (path.name, path.read_bytes())})
            assert response.status_code == 201, (path.name, response.text)
            body = response.json()
            assert body["entries"] == _expected_entries(spec), path.name
            # No entry is mistaken for another file's, except the real overlap below.
            overlap = BOOKED_AGAIN.get(path.name, 0)
            assert (body["new"], body["duplicates"]) == (body["entries"] - overlap, overlap), path.name
            assert body["matched"] == 0 and body["unmatched"] == body["new"]
            summary = (await client.get(f"/v1/payments/imports/{body['import_id']}")).json()
            assert summary["filename"] == path.name
            recorded += body["new"]
        for path, _ in corpus:
            response = await client.post("/v1/payments/files", files={"file": (path.name, path.read_bytes())})
            assert response.status_code == 200, (path.name, response.text)
            assert response.json()["new"] == 0, path.name
    assert await operator_api.count("SELECT count(*) FROM payments") == recorded
    assert await operator_api.count("SELECT count(*) FROM outbox") == recorded


async def test_operator_api_requires_the_operator_token(operator_api: PaymentsIngest) -> None:
    async with operator_api.client(token=None) as anonymous:
        missing = await anonymous.get("/v1/payments/unmatched")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        upload = await anonymous.post(
            "/v1/payments/files", content=a_notification(), headers={"Content-Type": "application/xml"}
        )
        assert upload.status_code == 401
    wrong_token = "not-the-token"  # noqa: S105 (a test value)
    async with operator_api.client(token=wrong_token) as stranger:
        assert (await stranger.get("/v1/payments/unmatched")).status_code == 401
    async with operator_api.client() as operator:
        page = await operator.get("/v1/payments/unmatched")
        assert page.status_code == 200
        assert page.json() == {"items": [], "next_cursor": None}
        assert (await operator.get(f"/v1/payments/imports/{UUID(int=1)}")).status_code == 404
    assert await operator_api.count("SELECT count(*) FROM imports") == 0


async def test_oversized_file_is_refused_without_being_read(operator_api: PaymentsIngest) -> None:
    too_big = b"<" + b"x" * MAX_UPLOAD

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse up front
        for start in range(0, len(too_big), 16 * 1024):
            yield too_big[start : start + 16 * 1024]

    async with operator_api.client() as client:
        declared = await client.post("/v1/payments/files", content=too_big, headers={"Content-Type": "application/xml"})
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        chunked = await client.post(
            "/v1/payments/files", content=streamed(), headers={"Content-Type": "application/xml"}
        )
        assert chunked.status_code == 413
        multipart = await client.post("/v1/payments/files", files={"file": ("big.xml", too_big)})
        assert multipart.status_code == 413
        json_body = await client.post("/v1/payments/files", json={"file": "x"})
        assert json_body.status_code == 415
    assert await operator_api.count("SELECT count(*) FROM imports") == 0


async def test_payment_that_arrives_before_its_claim_is_matched_when_the_claim_arrives(
    payments_topic: TopicReader, payments_ingest: PaymentsIngest
) -> None:
    late = a_claim(100_077)
    owed = late.amount_minor + late.fees_minor
    async with payments_ingest.client() as client:
        response = await client.post(
            "/v1/payments/files", content=a_notification(a_credit(owed, late.reference, "B-77"), msg_id="EARLY"),
            headers={"Content-Type": "application/xml"},
        )  # fmt: skip
        assert response.json()["unmatched"] == 1
    await eventually(lambda: len(payments_topic.of_type(PaymentUnmatched)) == 1, timeout=60)
    await payments_ingest.publish(late, late)  # the redelivered copy must not match it twice
    await eventually(lambda: len(payments_topic.of_type(PaymentReceived)) == 1, timeout=60)
    [received] = payments_topic.of_type(PaymentReceived)
    assert (received.claim_id, received.amount_minor) == (late.claim_id, owed)
