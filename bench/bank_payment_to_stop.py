"""bank_payment_to_stop_p99_ms: from a payer's payment in the netbank (the bank sink answers the
payment) to its claim paid (ClaimPaid read from krafa.claims) and the claim's pending reminders
cancelled (the scheduler's timeline stopped), p99 over N payments, one at a time, on the whole
embedded stack with the bank sink (wall clock, PostgreSQL with fsync on).

The path: payments-ingest's poll of the bank's payments (getClaimsTransactions every
KRAFA_IOBWS_POLL_INTERVAL_S, 0.5 s on the stack) records the payment and its PaymentReceived
(outbox) → relay → broker → claims-api applies it and commits ClaimPaid → relay → broker → the
scheduler stops the timeline. So the poll interval bounds it, plus two broker hops.

Component: one broker produce→consume round trip (as payment_to_stop's), p99 over the same number
of messages. Extras: p50; POST of a claim over REST → the claim shown in the payer's netbank (p50,
p99: claims-api → ClaimCreated → payments-ingest → createClaim at the bank); the poll interval."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from krafa.chaos import kennitala
from krafa.stack import Stack, StackConfig

from bench.common import Figure, Options, percentile, say, temp_dir
from bench.payment_to_stop import PaidWatch, _round_trips, _until_planned

KEY = "bank_payment_to_stop_p99_ms"
CLUB = "5101690509"
POLL_INTERVAL_S = 0.5  # the stack's KRAFA_IOBWS_POLL_INTERVAL_S
LOOK_S = 0.005


async def _creditor(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    response = await client.post(
        stack.url("claims-api") + "/v1/admin/creditors",
        headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        json={
            "name": "Bench",
            "country": "IS",
            "currency": "ISK",
            "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
            "slip_fee_minor": 390,
            "registration_no": CLUB,
            "bank_claims": {"claim_bank": "0133", "template_code": "001"},
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def _post_and_see(
    client: httpx.AsyncClient, stack: Stack, key: dict[str, str], run: int, i: int
) -> tuple[dict[str, Any], str, float]:
    """One claim over REST; the claim, its payer and the seconds until the netbank shows it."""
    payer = kennitala(date(1970, 1, 1) + timedelta(days=run * 1000 + i), run * 1000 + i)
    body = {
        "invoice_no": f"BANK-{run}-{i:05d}",
        "amount_minor": 10_000 + i,
        "currency": "ISK",
        "issue_date": date.today().isoformat(),
        "due_date": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
        "debtor": {
            "customer_no": f"B-{run}-{i:05d}",
            "name": "Jón Jónsson",
            "national_id": payer,
            "country": "IS",
            "language": "is",
            "time_zone": "Atlantic/Reykjavik",
            "email": f"payer{run}-{i}@example.is",
        },
    }
    response = await client.post(stack.url("claims-api") + "/v1/claims", json=body, headers=key)
    posted = time.perf_counter()
    response.raise_for_status()
    claim = response.json()
    number = claim["payment"]["claim_number"]
    deadline = posted + 60
    while True:
        shown = (await client.get(f"{stack.url('bank-sink')}/netbank/{payer}/claims")).json()["claims"]
        if any(c["claimNumber"] == number for c in shown):
            return claim, payer, time.perf_counter() - posted
        if time.perf_counter() > deadline:
            raise TimeoutError(f"claim {number} not in the netbank within 60 s")
        await asyncio.sleep(LOOK_S)


async def _pay(
    client: httpx.AsyncClient, stack: Stack, conn: asyncpg.Connection, watch: PaidWatch, claim: Any, payer: str
) -> float:
    """The payer pays the claim in the netbank; seconds from the bank's answer to paid-and-stopped."""
    claim_id = uuid.UUID(claim["id"])
    shown = (await client.get(f"{stack.url('bank-sink')}/netbank/{payer}/claims")).json()["claims"]
    (bill,) = [c for c in shown if c["claimNumber"] == claim["payment"]["claim_number"]]
    response = await client.post(f"{stack.url('bank-sink')}/netbank/{payer}/claims/{bill['claimId']}/pay", json={})
    paid_in_bank = time.perf_counter()
    response.raise_for_status()
    stopped_at: float | None = None
    deadline = paid_in_bank + 60
    while stopped_at is None or claim_id not in watch.paid:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"claim {claim_id} not paid and stopped within 60 s of the netbank payment")
        if stopped_at is None:
            status = await conn.fetchval("SELECT status FROM scheduler.timelines WHERE claim_id = $1", claim_id)
            if status != "active":
                stopped_at = time.perf_counter()
        await asyncio.sleep(LOOK_S)
    return max(watch.paid[claim_id], stopped_at) - paid_in_bank


async def _runs(stack: Stack, run: int, n: int) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient(timeout=60) as client, PaidWatch(stack.broker.bootstrap) as watch:
        conn = await asyncpg.connect(stack.database_url)
        try:
            key = await _creditor(client, stack)
            posted = [await _post_and_see(client, stack, key, run, i) for i in range(n)]
            await _until_planned(conn, [uuid.UUID(claim["id"]) for claim, _, _ in posted])
            to_stop = [await _pay(client, stack, conn, watch, claim, payer) for claim, payer, _ in posted]
            return to_stop, [seen for _, _, seen in posted]
        finally:
            await conn.close()


def run(opts: Options) -> Figure:
    n = opts.size(60, 10)
    values, component = [], []
    extra: dict[str, list[float]] = {
        "bank_payment_to_stop_p50_ms": [],
        "bank_claim_post_to_netbank_p50_ms": [],
        "bank_claim_post_to_netbank_p99_ms": [],
    }
    with temp_dir("bank-payment-to-stop") as home:
        stack = Stack(StackConfig.with_free_ports(home, simulated=False, durable=True))
        try:
            say(f"{KEY}: starting the embedded stack with the bank sink")
            stack.start()
            for r in range(opts.runs):
                to_stop, to_netbank = asyncio.run(_runs(stack, r, n))
                rtt = asyncio.run(_round_trips(stack.broker.bootstrap, n))
                values.append(percentile(to_stop, 99) * 1000)
                component.append(percentile(rtt, 99) * 1000)
                extra["bank_payment_to_stop_p50_ms"].append(percentile(to_stop, 50) * 1000)
                extra["bank_claim_post_to_netbank_p50_ms"].append(percentile(to_netbank, 50) * 1000)
                extra["bank_claim_post_to_netbank_p99_ms"].append(percentile(to_netbank, 99) * 1000)
                say(
                    f"{KEY} run {r + 1}: {n} netbank payments, paid and stopped p50"
                    f" {extra['bank_payment_to_stop_p50_ms'][-1]:.0f} ms, p99 {values[-1]:.0f} ms; claim in the"
                    f" netbank p99 {extra['bank_claim_post_to_netbank_p99_ms'][-1]:.0f} ms after the POST"
                )
        finally:
            stack.stop()
    medians = {name: statistics.median(v) for name, v in extra.items()}
    medians["bank_poll_interval_ms"] = POLL_INTERVAL_S * 1000
    return Figure(KEY, "ms", n, values, component, "broker produce→consume round trip p99 (ms)", extra=medians)
