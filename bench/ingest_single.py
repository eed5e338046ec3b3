"""ingest_single_p99_ms: single POST /v1/claims at a steady rate (100/s, open loop: request k is
due at k/100 s) from 4 concurrent httpx clients to claims-api in its own process (same stack as
ingest_claims_per_s). Latency runs from the moment a request is due to its 201, so a request
that waits for a free client is counted as late, not hidden. Reports p99 (and p50) in ms.

Component: p99 of a one-row INSERT with its own commit (asyncpg, fsync on) on the same server,
at the same rate: the commit-latency floor of a request that writes one transaction."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from bench.claims_stack import claim, claims_api, new_creditor
from bench.common import Figure, Options, percentile, say

KEY = "ingest_single_p99_ms"
RATE = 100.0
CLIENTS = 4


async def _paced(n: int, send: Callable[[int, int], Awaitable[None]]) -> tuple[list[float], float]:
    """Call `send(k, worker)` for k in 0..n-1 on CLIENTS workers, each request due at k / RATE;
    returns the latencies (ms) and the rate achieved (requests/s). Each worker owns its
    connection: one connection never carries two requests at once."""
    latencies: list[float] = []
    next_k = 0
    start = time.perf_counter() + 0.05

    async def worker(w: int) -> None:
        nonlocal next_k
        while next_k < n:
            k = next_k
            next_k += 1
            due = start + k / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(k, w)
            latencies.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(worker(w) for w in range(CLIENTS)))
    return latencies, n / (time.perf_counter() - start)


async def _posts(base: str, token: str, run: str, n: int) -> tuple[list[float], float]:
    clients = [
        httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})
        for _ in range(CLIENTS)
    ]
    try:
        for c in clients:  # open the connections before the clock starts
            await c.get("/healthz")

        async def send(k: int, w: int) -> None:
            response = await clients[w].post("/v1/claims", json=claim(run, k))
            if response.status_code != 201:
                raise RuntimeError(f"POST /v1/claims answered {response.status_code}: {response.text[:300]}")

        return await _paced(n, send)
    finally:
        for c in clients:
            await c.aclose()


async def _inserts(dsn: str, n: int) -> tuple[list[float], float]:
    conns = [await asyncpg.connect(dsn) for _ in range(CLIENTS)]
    try:
        await conns[0].execute("CREATE TABLE IF NOT EXISTS public.bench_one_row (id uuid PRIMARY KEY, body text)")

        async def send(k: int, w: int) -> None:
            await conns[w].execute("INSERT INTO public.bench_one_row VALUES ($1, $2)", uuid.uuid4(), f"claim {k}")

        return await _paced(n, send)
    finally:
        for c in conns:
            await c.close()


def run(opts: Options) -> Figure:
    n = opts.size(2_000, 200)
    values: list[float] = []
    component: list[float] = []
    p50s: list[float] = []
    rates: list[float] = []
    with claims_api() as api:
        token = asyncio.run(new_creditor(api.dsn, "Bench single"))
        asyncio.run(_posts(api.base_url, token, "warm", 20))  # first requests pay imports and plans
        for i in range(opts.runs):
            latencies, achieved = asyncio.run(_posts(api.base_url, token, f"s{i}", n))
            rates.append(achieved)
            values.append(percentile(latencies, 99))
            p50s.append(percentile(latencies, 50))
            component.append(percentile(asyncio.run(_inserts(api.dsn, n))[0], 99))
            say(
                f"{KEY} run {i + 1}: p50 {p50s[-1]:.1f} ms, p99 {values[-1]:.1f} ms;"
                f" {achieved:.1f} req/s achieved; 1-row commit p99 {component[-1]:.1f} ms"
            )
    return Figure(
        KEY,
        "ms",
        n,
        values,
        component,
        f"p99 of a 1-row INSERT + commit (asyncpg, fsync on) at {RATE:.0f}/s, ms",
        extra={
            "ingest_single_p50_ms": statistics.median(p50s),
            "ingest_single_achieved_per_s": statistics.median(rates),
        },
    )
