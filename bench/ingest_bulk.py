"""ingest_claims_per_s: one POST /v1/claims/bulk of 10,000 claims (each its own debtor) to
claims-api running as its own process over a durable EmbeddedPostgres and an EmbeddedBroker;
timed from sending the request to the 201. claims/s.

Component: asyncpg `copy_records_to_table` of 10,000 rows of the same shape (claim fields plus the
debtor flattened, address as jsonb) into a plain table without indexes, on the same server.

Extras: the CPU milliseconds per 1,000 claims that claims-api's process and PostgreSQL (every
process of the server) spend from sending the request to the 201, medians over the runs: on a
shared machine the rate follows the load, these much less. Each run starts once the previous one's
events have left the outbox, so no run pays for the relay of the one before. `--profile DIR`
samples claims-api with py-spy during one more run (not counted): DIR/ingest_claims_per_s/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx
import psutil

from bench import cpu
from bench.claims_stack import SCHEMA, ClaimsApi, claim, claims_api, new_creditor
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


def _cpu_seconds(api: ClaimsApi) -> tuple[float, float]:
    """CPU seconds so far of claims-api's process and of PostgreSQL's (the postmaster, its live
    children and those it has reaped)."""
    service = psutil.Process(api.pid).cpu_times()
    postmaster = psutil.Process(api.pg_pid)
    pg = postmaster.cpu_times()
    total = pg.user + pg.system + pg.children_user + pg.children_system
    for child in postmaster.children():
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return float(service.user + service.system), float(total)


async def _post_bulk(api: ClaimsApi, token: str, claims: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Seconds from sending to the 201, and the CPU seconds claims-api and PostgreSQL spent meanwhile."""
    body = json.dumps({"claims": claims}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=api.base_url, timeout=300) as client:
        service_before, pg_before = _cpu_seconds(api)
        started = time.perf_counter()
        response = await client.post("/v1/claims/bulk", content=body, headers=headers)
        seconds = time.perf_counter() - started
        service_after, pg_after = _cpu_seconds(api)
    if response.status_code != 201:
        raise RuntimeError(f"bulk POST answered {response.status_code}: {response.text[:500]}")
    if response.json().get("created") != len(claims):
        raise RuntimeError("bulk POST did not create every claim")
    return seconds, service_after - service_before, pg_after - pg_before


async def _outbox_drained(dsn: str, timeout: float = 300) -> None:
    """Wait until claims-api's relay has published every event (the next run starts idle)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        query = f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"
        while await conn.fetchval(query):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the outbox still had unpublished events after {timeout}s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


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
    values, component, service_ms, pg_ms = [], [], [], []
    with claims_api() as api:
        if opts.profile is not None:
            out = opts.profile / KEY
            say(f"profiling one run (not counted) into {out}")
            token = asyncio.run(new_creditor(api.dsn, "Bench bulk profiled"))
            with cpu.Profiler({"claims-api": api.pid}, out):
                asyncio.run(_post_bulk(api, token, [claim("p", k) for k in range(n)]))
            asyncio.run(_outbox_drained(api.dsn))
            say(f"profile: {out / 'summary.txt'}")
        for i in range(opts.runs):
            token = asyncio.run(new_creditor(api.dsn, f"Bench bulk {i}"))
            claims = [claim(f"b{i}", k) for k in range(n)]
            seconds, service_s, pg_s = asyncio.run(_post_bulk(api, token, claims))
            values.append(n / seconds)
            service_ms.append(1e6 * service_s / n)
            pg_ms.append(1e6 * pg_s / n)
            asyncio.run(_outbox_drained(api.dsn))
            component.append(n / asyncio.run(_copy(api.dsn, claims)))
            say(
                f"{KEY} run {i + 1}: {values[-1]:.0f} claims/s, plain COPY alone {component[-1]:.0f} rows/s;"
                f" CPU ms per 1,000 claims: claims-api {service_ms[-1]:.0f}, PostgreSQL {pg_ms[-1]:.0f}"
            )
    return Figure(
        KEY,
        "claims/s",
        n,
        values,
        component,
        "asyncpg COPY of same-shape rows into a plain table, rows/s",
        extra={
            f"{KEY}_api_cpu_ms_per_1k": statistics.median(service_ms),
            f"{KEY}_pg_cpu_ms_per_1k": statistics.median(pg_ms),
        },
    )
