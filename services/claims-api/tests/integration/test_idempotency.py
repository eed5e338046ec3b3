"""Idempotency-Key over the real PostgreSQL: replay, reuse with another body, per-creditor scope,
expiry, and a concurrent duplicate while the first request still holds the key."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from krafa_events import ClaimCreated

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration


async def count(api: Api, sql: str, *args: object) -> int:
    async with api.db.connection() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_same_key_same_body_replays_without_a_second_effect(api: Api) -> None:
    creditor_id, client = await api.creditor()
    headers = {"Idempotency-Key": "k-1"}
    first = await client.post("/v1/claims", json=claim_body(), headers=headers)
    assert first.status_code == 201, first.text
    # Same body with other key order: the canonical JSON hashes the same.
    reordered = dict(reversed(list(claim_body().items())))
    again = await client.post("/v1/claims", json=reordered, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", creditor_id) == 1
    assert await count(api, "SELECT count(*) FROM outbox WHERE event_type = $1", ClaimCreated.TYPE) == 1


async def test_same_key_other_body_is_422(api: Api) -> None:
    _, client = await api.creditor()
    headers = {"Idempotency-Key": "k-2"}
    assert (await client.post("/v1/claims", json=claim_body(), headers=headers)).status_code == 201
    other = await client.post("/v1/claims", json=claim_body(amount=20_000), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"].endswith("/idempotency-key-reused")
    # Same key on another path is another request too.
    bulk = await client.post("/v1/claims/bulk", json={"claims": [claim_body()]}, headers=headers)
    assert bulk.status_code == 422


async def test_bulk_replay_and_keys_scoped_per_creditor(api: Api) -> None:
    a_id, a = await api.creditor("A")
    b_id, b = await api.creditor("B")
    body = {"claims": [claim_body("INV-1"), claim_body("INV-2", customer_no="C-2")]}
    headers = {"Idempotency-Key": "shared"}
    first = await a.post("/v1/claims/bulk", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (await a.post("/v1/claims/bulk", json=body, headers=headers)).json() == first.json()
    # The same key from another creditor is that creditor's own key: a fresh effect.
    other = await b.post("/v1/claims/bulk", json=body, headers=headers)
    assert other.status_code == 201
    assert other.json() != first.json()
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", a_id) == 2
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", b_id) == 2


async def test_failed_request_does_not_keep_its_key(api: Api) -> None:
    _, client = await api.creditor()
    assert (await client.post("/v1/claims", json=claim_body("X"))).status_code == 201
    headers = {"Idempotency-Key": "k-3"}
    # A duplicate invoice fails (409) and rolls its key back with it...
    assert (await client.post("/v1/claims", json=claim_body("X"), headers=headers)).status_code == 409
    assert await count(api, "SELECT count(*) FROM idempotency_keys WHERE key = 'k-3'") == 0
    # ...so the key is free for the corrected request.
    assert (await client.post("/v1/claims", json=claim_body("Y"), headers=headers)).status_code == 201


async def test_expired_key_runs_again(api: Api) -> None:
    creditor_id, client = await api.creditor()
    headers = {"Idempotency-Key": "k-4"}
    assert (await client.post("/v1/claims", json=claim_body("A"), headers=headers)).status_code == 201
    async with api.db.connection() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = created_at - $1::interval", timedelta(hours=25))
    # After 24 h the key is forgotten: another body is accepted, not 422.
    again = await client.post("/v1/claims", json=claim_body("B"), headers=headers)
    assert again.status_code == 201, again.text
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", creditor_id) == 2


async def test_concurrent_duplicate_gets_409_in_progress(api: Api) -> None:
    creditor_id, client = await api.creditor()
    # Another request holds the key in its open transaction.
    async with api.db.connection() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(
            "INSERT INTO idempotency_keys (creditor_id, key, request_hash) VALUES ($1, 'k-5', 'x')", creditor_id
        )
        duplicate = await client.post("/v1/claims", json=claim_body(), headers={"Idempotency-Key": "k-5"})
        await tx.rollback()
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/idempotency-key-in-progress")
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", creditor_id) == 0


async def test_concurrent_duplicates_have_one_effect(api: Api) -> None:
    creditor_id, client = await api.creditor()
    headers = {"Idempotency-Key": "k-6"}
    results = await asyncio.gather(*[client.post("/v1/claims", json=claim_body(), headers=headers) for _ in range(5)])
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}
    created = [r.json() for r in results if r.status_code == 201]
    assert created and all(c == created[0] for c in created)
    assert await count(api, "SELECT count(*) FROM claims WHERE creditor_id = $1", creditor_id) == 1


async def test_invalid_key_is_422(api: Api) -> None:
    _, client = await api.creditor()
    response = await client.post("/v1/claims", json=claim_body(), headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 422
