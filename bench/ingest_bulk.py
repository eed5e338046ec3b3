"""ingest_claims_per_s: one POST /v1/claims/bulk of 10,000 claims (each its own debtor) to
claims-api running as its own process over a durable EmbeddedPostgres and an EmbeddedBroker;
timed from sending the request to the 201. claims/s.

Component: asyncpg `copy_records_to_table` of 10,000 rows of the same shape (claim fields plus the
debtor flattened, address as jsonb) into a plain table without indexes, on the same server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx

from bench.claims_stack import claim, claims_api, new_creditor
from bench.common import Figure, Options, say

KEY = "ingest_claims_per_s"

_PLAIN_TABLE = """
CREATE TABLE IF NOT EXISTS public.bench_claims_copy (
    id uuid, invoice_no text, amount_minor bigint, currency char(3), due_date date,
    description text, customer_no text, name text, kind text, country char(2), language text,
    time_zone text, email text, phone text, address jsonb
)"""
_COLUMNS = [
    "id",
    "invoice_no",
    "amount_minor",
    "currency",
    "due_date",
    "description",
    "customer_no",
    "name",
    "kind",
    "country",
    "language",
    "time_zone",
    "email",
    "phone",
    "address",
]


async def _post_bulk(base: str, token: str, claims: list[dict[str, Any]]) -> float:
    body = json.dumps({"claims": claims}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        started = time.perf_counter()
        response = await client.post("/v1/claims/bulk", content=body, headers=headers)
        seconds = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"bulk POST answered {response.status_code}: {response.text[:500]}")
    if response.json().get("created") != len(claims):
        raise RuntimeError("bulk POST did not create every claim")
    return seconds


async def _copy(dsn: str, claims: list[dict[str, Any]]) -> float:
    rows = []
    for c in claims:
        d = c["debtor"]
        rows.append(
            (
                uuid.uuid4(),
                c["invoice_no"],
                c["amount_minor"],
                c["currency"],
                date.fromisoformat(c["due_date"]),
                c["description"],
                d["customer_no"],
                d["name"],
                d["kind"],
                d["country"],
                d["language"],
                d["time_zone"],
                d["email"],
                d["phone"],
                json.dumps(d["address"]),
            )
        )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_PLAIN_TABLE)
        await conn.execute("TRUNCATE public.bench_claims_copy")
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_claims_copy", schema_name="public", records=rows, columns=_COLUMNS)
        return time.perf_counter() - started
    finally:
        await conn.close()


def run(opts: Options) -> Figure:
    n = opts.size(10_000, 1_000)
    values, component = [], []
    with claims_api() as api:
        for i in range(opts.runs):
            token = asyncio.run(new_creditor(api.dsn, f"Bench bulk {i}"))
            claims = [claim(f"b{i}", k) for k in range(n)]
            values.append(n / asyncio.run(_post_bulk(api.base_url, token, claims)))
            component.append(n / asyncio.run(_copy(api.dsn, claims)))
            say(f"{KEY} run {i + 1}: {values[-1]:.0f} claims/s, plain COPY alone {component[-1]:.0f} rows/s")
    return Figure(KEY, "claims/s", n, values, component, "asyncpg COPY of same-shape rows into a plain table, rows/s")
