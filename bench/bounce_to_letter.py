"""bounce_to_letter_p99_ms: from a DSN received by the bounce-handler's SMTP endpoint to the
fallback letter handed to the print provider, on the embedded stack (every service its own
process, simulated clock), as in the demo: reminders to `@invalid.example` are accepted by the
SMTP catcher, which then sends a real RFC 3464 DSN to the signed return path; the bounce-handler
classifies it and emits EmailBounced; the notifier suppresses the address, renders the letter
(PDF) and posts it to the print sink.

The start is the bounce-handler's `inbound_messages.received_at` (its simulated clock, turned
back into wall time from the stack's clock settings), the end the print sink's `received_at`
for the letter's client reference (the fallback delivery id). The notifier's `created_at` of the
fallback delivery (database wall clock) splits the path into "DSN → EmailBounced consumed" and
"consumed → letter at the print provider". Timers are spread as in bench/due_to_sent.py.

Component, alone in the same run: one broker produce → consume round trip (p99) plus one POST of
a pre-rendered letter PDF to the same print sink (p99): the transport hops of the path.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date

import asyncpg
import httpx
from krafa.stack import Stack
from krafa_notifier.content import ReminderRenderer
from krafa_notifier.letter import render_letter_pdf

from bench.common import Figure, Options, percentile, reminders, say
from bench.due_to_sent import (
    OFFSETS,
    SPEED,
    PlannedLate,
    attempts,
    bench_stack,
    broker_rtt_ms,
    create_claims,
    spool_index,
    timer_at,
    unix,
    wait_for,
    wall_of,
)

KEY = "bounce_to_letter_p99_ms"


async def print_post_ms(base_url: str, n: int) -> list[float]:
    content = reminders(1)[0]
    pdf = render_letter_pdf(content, ReminderRenderer())
    assert content.address is not None
    samples = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            response = await client.post(
                "/print/letters",
                data={
                    "client_ref": f"bench-{uuid.uuid4()}",
                    "recipient_name": content.address.name,
                    "country": content.address.country,
                },
                files={"file": ("letter.pdf", pdf, "application/pdf")},
            )
            response.raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


async def one_run(stack: Stack, run: str, due: date, per_zone: int) -> dict[str, list[float]]:
    created = await create_claims(stack, run, due, per_zone, "b-{run}-{i}@invalid.example")
    claim_ids = [uuid.UUID(c["id"]) for c in created]
    conn = await asyncpg.connect(stack.database_url)
    try:

        async def all_letters() -> bool:
            count = await conn.fetchval(
                "SELECT count(*) FROM notifier.deliveries WHERE kind = 'fallback' AND status = 'sent'"
                " AND claim_ids[1] = ANY($1::uuid[])",
                claim_ids,
            )
            return int(count) >= len(claim_ids)

        timeout = (timer_at(due, OFFSETS[-1]) - stack.sim_now()).total_seconds() / SPEED + 180
        await wait_for(all_letters, timeout, f"{len(claim_ids)} fallback letters of run {run}")
        rows = await conn.fetch(
            "SELECT f.id AS letter_id, f.created_at, i.received_at AS dsn_at"
            " FROM notifier.deliveries f JOIN bounces.inbound_messages i"
            "   ON i.delivery_id = f.fallback_for AND i.verdict = 'bounce'"
            " WHERE f.kind = 'fallback' AND f.claim_ids[1] = ANY($1::uuid[])",
            claim_ids,
        )
    finally:
        await conn.close()
    printed = {
        r["client_ref"]: unix(r["received_at"])
        for r in spool_index(stack.spool / "providers" / "print" / "index.jsonl")
        if r.get("client_ref")
    }
    total, to_consumed, to_letter = [], [], []
    for row in rows:
        dsn_at = wall_of(stack, row["dsn_at"])
        letter_at = printed[str(row["letter_id"])]
        consumed = row["created_at"].timestamp()
        total.append((letter_at - dsn_at) * 1000)
        to_consumed.append((consumed - dsn_at) * 1000)
        to_letter.append((letter_at - consumed) * 1000)
    if len(total) != len(claim_ids):
        raise RuntimeError(f"{len(total)} DSN/letter pairs for {len(claim_ids)} claims")
    return {"total": total, "dsn_to_consumed": to_consumed, "consumed_to_letter": to_letter}


def run(opts: Options) -> Figure:
    per_zone = opts.size(4, 2)
    values: list[float] = []
    component: list[float] = []
    extra: dict[str, list[float]] = {"p50": [], "dsn_to_consumed_p50": [], "consumed_to_letter_p50": []}
    n = 0
    with bench_stack("bounce") as stack:
        last: date | None = None
        for i in range(opts.runs):
            for due in attempts(stack, last):
                last = due
                try:
                    result = asyncio.run(one_run(stack, f"r{i}-{due:%m%d}", due, per_zone))
                    break
                except PlannedLate as exc:
                    say(f"{exc}: next day")
            else:
                raise RuntimeError("timelines planned late three times: the machine is too loaded")
            n = len(result["total"])
            values.append(percentile(result["total"], 99))
            extra["p50"].append(percentile(result["total"], 50))
            extra["dsn_to_consumed_p50"].append(percentile(result["dsn_to_consumed"], 50))
            extra["consumed_to_letter_p50"].append(percentile(result["consumed_to_letter"], 50))
            rtt = asyncio.run(broker_rtt_ms(stack.broker.bootstrap, 200))
            post = asyncio.run(print_post_ms(stack.url("provider-sink"), 100))
            component.append(percentile(rtt, 99) + percentile(post, 99))
            say(
                f"{KEY} run {i + 1}: {n} letters, p50 {extra['p50'][-1]:.0f} ms, p99 {values[-1]:.0f} ms"
                f" (DSN→consumed p50 {extra['dsn_to_consumed_p50'][-1]:.0f} ms,"
                f" consumed→letter p50 {extra['consumed_to_letter_p50'][-1]:.0f} ms);"
                f" broker RTT p99 {percentile(rtt, 99):.1f} ms + print POST p99 {percentile(post, 99):.1f} ms"
            )
    return Figure(
        KEY,
        "ms",
        n,
        values,
        component,
        "broker produce→consume p99 + POST of a pre-rendered letter PDF to the print sink p99",
        extra={f"bounce_to_letter_{k}_ms": sorted(v)[len(v) // 2] for k, v in extra.items()},
    )
