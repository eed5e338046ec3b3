"""Contact-list uploads (docs/domain.md: digital letters) over the real PostgreSQL: CSV and JSON as a whole-list upsert,
a line-numbered report of rejected rows, the same file twice applied twice (changing nothing),
large files as a background job, and oversized or unknown uploads refused with problem+json."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from krafa_kit.testing import eventually

from .conftest import Api

pytestmark = pytest.mark.integration

FIRST = (
    "customer_no;name;country;email;phone;verified;address_line1;postcode;city\n"
    "C-1;Jón Jónsson;IS;jon@example.is;5551234;yes;Laugavegur 1;101;Reykjavík\n"
    "C-2;Anna Sigurðardóttir;IS;anna@example.is;;;;;\n"
    "C-3;Missing Email;IS;not-an-email;;;;;\n"
    "C-4;;;;;;;;\n"
    "\n"
    "C-5;Guðrún;IS;gudrun@example.is;12;;;;\n"
    "C-6;Bad Line;IS\n"
)
TERMS_AT = "2025-12-01T00:00:00Z"


async def upload(client: httpx.AsyncClient, content: bytes | str, media: str, **params: Any) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await client.post("/v1/contact-uploads", content=data, headers={"Content-Type": media}, params=params)


async def debtor(client: httpx.AsyncClient, customer_no: str) -> dict[str, Any]:
    response = await client.get(f"/v1/debtors/by-customer-no/{customer_no}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_csv_and_json_uploads_upsert_report_and_deduplicate(api: Api) -> None:
    _, client = await api.creditor("Motus client")
    first = await upload(client, FIRST, "text/csv; charset=utf-8", terms_version="2026-01", consent_at=TERMS_AT)
    assert first.status_code == 201, first.text
    job = first.json()
    assert first.headers["Location"] == f"/v1/contact-uploads/{job['id']}"
    assert job["status"] == "done" and job["format"] == "csv"
    assert (job["rows_total"], job["rows_accepted"], job["rows_rejected"]) == (6, 2, 4)
    assert job["debtors_created"] == 2
    rejects = {r["line"]: (r["customer_no"], r["field"]) for r in job["rejects"]}
    assert rejects == {
        4: ("C-3", "email"),
        5: ("C-4", "name"),  # unknown customer without name and country
        7: ("C-5", "phone"),
        8: (None, None),  # too few columns
    }
    assert all(r["detail"] for r in job["rejects"])
    jon = await debtor(client, "C-1")
    assert jon["usable"] == {"email": "jon@example.is", "phone": "+3545551234", "netbank_opt_in": False}
    email = next(c for c in jon["contact_points"] if c["kind"] == "email")
    assert email["verified"] is True and email["origin"] == "creditor_upload"
    assert email["consent"] == {"source": "creditor upload", "at": TERMS_AT, "terms_version": "2026-01"}
    assert jon["address"] == {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"}

    # The same file again is a list of its own, and changes nothing here.
    again = await upload(client, FIRST, "text/csv", terms_version="2026-01", consent_at=TERMS_AT)
    assert again.status_code == 201 and again.json()["id"] != job["id"]
    assert (again.json()["rows_accepted"], again.json()["rows_unchanged"]) == (2, 2)
    assert (await debtor(client, "C-1"))["contact_points"] == jon["contact_points"]

    # A new whole list as JSON: C-2 is left out and kept; C-1 has a new address that becomes current;
    # a known debtor needs no name; rows that change nothing are counted as unchanged.
    second = [
        {"customer_no": "C-1", "email": "jon.new@example.is", "customer_class": "gold"},
        {"customer_no": "C-7", "name": "Ný", "country": "NO", "phone": "+4741234567", "netbank": True},
        {"customer_no": "C-1", "email": "jon.new@example.is"},
        ["not", "an", "object"],
        {"customer_no": "C-8", "name": "X", "country": "IS", "colour": "blue"},
    ]
    text = json.dumps(second, indent=2, ensure_ascii=False)
    result = await upload(client, text, "application/json")
    assert result.status_code == 201, result.text
    job2 = result.json()
    assert (job2["rows_total"], job2["rows_accepted"], job2["rows_rejected"]) == (5, 3, 2)
    assert (job2["debtors_created"], job2["debtors_updated"]) == (1, 1)
    lines = text.splitlines()
    reject_lines = {r["line"]: r["field"] for r in job2["rejects"]}
    assert set(reject_lines.values()) == {None, "colour"}
    assert all(lines[line - 1].strip() in ("{", "[") for line in reject_lines)
    jon = await debtor(client, "C-1")
    assert jon["usable"]["email"] == "jon.new@example.is" and jon["customer_class"] == "gold"
    assert {c["value"] for c in jon["contact_points"] if c["kind"] == "email"} == {
        "jon@example.is",
        "jon.new@example.is",
    }
    assert (await debtor(client, "C-2"))["usable"]["email"] == "anna@example.is"
    assert (await debtor(client, "C-7"))["usable"]["netbank_opt_in"] is True

    # NDJSON, and the report of a re-sent list that changes nothing.
    ndjson = '{"customer_no": "C-2", "email": "anna@example.is"}\n\n{"customer_no": "C-2"\n'
    result = await upload(client, ndjson, "application/x-ndjson")
    job3 = result.json()
    assert (job3["rows_accepted"], job3["rows_unchanged"], job3["debtors_updated"]) == (1, 1, 0)
    assert [r["line"] for r in job3["rejects"]] == [3]

    # Whole-file problems fail the job; unknown media types and oversized files are refused.
    broken = await upload(client, '[{"customer_no": "C-1"', "application/json")
    assert broken.json()["status"] == "failed" and "JSON" in broken.json()["failure"]
    latin1 = await upload(client, "customer_no;name;country\nC-9;Þór;IS\n".encode("latin-1"), "text/csv")
    assert latin1.json()["status"] == "failed" and "UTF-8" in latin1.json()["failure"]
    unsupported = await upload(client, "x", "application/xml")
    assert unsupported.status_code == 415 and unsupported.headers["content-type"] == "application/problem+json"
    api.app.state.contact_upload_max_bytes = 64
    too_big = await upload(client, FIRST, "text/csv")
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["max_bytes"] == 64

    async def chunked() -> Any:
        yield FIRST[:50].encode()
        yield FIRST[50:].encode()

    streamed = await client.post("/v1/contact-uploads", content=chunked(), headers={"Content-Type": "text/csv"})
    assert streamed.status_code == 413


async def test_large_upload_runs_as_a_background_job(api: Api) -> None:
    _, client = await api.creditor("Big list")
    api.app.state.contact_upload_inline_bytes = 1024
    rows = "".join(f"K-{i},Debtor {i},IS,d{i}@example.is\n" for i in range(1200))
    content = "customer_no,name,country,email\n" + rows + "K-x,,,\n"
    response = await upload(client, content, "text/csv", consent_source="web form")
    assert response.status_code == 202, response.text
    job_url = response.headers["Location"]
    assert response.json()["status"] in ("queued", "running", "done")

    async def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(job_url)).json()
        return body if body["status"] in ("done", "failed") else None

    job = await eventually(finished, timeout=120)
    assert job["status"] == "done", job
    assert (job["rows_total"], job["rows_accepted"], job["debtors_created"]) == (1201, 1200, 1200)
    assert job["rejects"] == [
        {"line": 1202, "customer_no": "K-x", "field": "name", "detail": job["rejects"][0]["detail"]}
    ]
    page = (await client.get(job_url, params={"rejects_limit": 1, "rejects_after": 1202})).json()
    assert page["rejects"] == [] and page["next_rejects_after"] is None
    assert (await debtor(client, "K-1199"))["usable"]["email"] == "d1199@example.is"
    # A retry with the same Idempotency-Key is answered with the first job, before any work is queued.
    keyed = {"Content-Type": "text/csv", "Idempotency-Key": "big-list"}
    first = await client.post("/v1/contact-uploads", content=content.encode(), headers=keyed)
    retry = await client.post("/v1/contact-uploads", content=content.encode(), headers=keyed)
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"] != job["id"]
