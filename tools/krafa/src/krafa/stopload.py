"""Payments in the middle of a burst of reminders: the guarantee of docs/adr/0008, measured and
checked on a running stack. Used by `make bench` (payment_to_stop_under_load_p99_ms) and by
tests/e2e/test_stop_under_load.py.

`pay_during_burst` posts N overdue claims, so step 1 of every one fires at once and the notifier
has N reminders to send; while they are being dispatched it pays one claim whose reminder is
still waiting, by a bank file, every `gap_s`, until `payments` are paid. For each payment it
records, on one clock (the machine's; PostgreSQL's `clock_timestamp()` and the bench's
`time.time()` read the same one):

- `accepted`: payments-ingest's transaction that committed the payment began (its outbox row of
  the PaymentReceived; the upload is answered after that commit);
- `stopped`: the notifier recorded it: the payment hold, or the claim's stop, whichever came
  first. From then on no send for the claim can begin;
- the claim's sends that began after `stopped` (`late`: must be none) and those that began
  between `accepted` and `stopped` (`in_flight`: what the design allows).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import krafa_law
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from krafa.invariants import committed
from krafa.stack import Stack

IBAN = "IS140159260076545510730339"
CHUNK = 1000
OVERPAY_MINOR = 100_000  # more than any step can add: every payment settles its claim


@dataclass(frozen=True, slots=True)
class StopSample:
    claim_id: uuid.UUID
    accepted: float  # unix seconds
    stopped: float | None  # unix seconds; None: the notifier never recorded it
    waiting: int  # reminders still waiting to be sent when the payment was made
    late: int  # sends of the claim begun after `stopped`
    in_flight: int  # sends of the claim begun between `accepted` and `stopped`

    @property
    def ms(self) -> float | None:
        return None if self.stopped is None else (self.stopped - self.accepted) * 1000


@dataclass
class BurstReport:
    claims: int
    samples: list[StopSample] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return sorted(s.ms for s in self.samples if s.ms is not None)

    def p(self, q: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")

    @property
    def late(self) -> list[StopSample]:
        return [s for s in self.samples if s.late or s.stopped is None]

    def summary(self) -> str:
        values = self.latencies_ms
        waiting = [s.waiting for s in self.samples]
        return (
            f"{len(self.samples)} payments during a burst of {self.claims} reminders ({self.sent} sent in "
            f"{self.seconds:.0f} s; {min(waiting, default=0)}-{max(waiting, default=0)} still waiting at each "
            f"payment): file accepted → no further send possible p50 {statistics.median(values):.1f} ms, "
            f"p99 {self.p(0.99):.1f} ms, max {max(values):.1f} ms; {sum(s.in_flight for s in self.samples)} "
            f"sends in flight at a payment, {len(self.late)} claims with a send begun after the stop"
            if values
            else f"{len(self.samples)} payments, none recorded by the notifier"
        )


def overdue_due_date(today: date) -> date:
    """A due date whose first reminder day (the day after) is a business day already past."""
    calendar = krafa_law.calendar(krafa_law.jurisdiction("IS"))
    due = today - timedelta(days=3)
    while not calendar.is_business_day(due + timedelta(days=1)):
        due -= timedelta(days=1)
    return due


def _claim(run: str, i: int, due: date) -> dict[str, Any]:
    return {
        "invoice_no": f"BURST-{run}-{i:06d}",
        "amount_minor": 5_000 + i % 50_000,
        "currency": "ISK",
        "issue_date": (due - timedelta(days=20)).isoformat(),
        "due_date": due.isoformat(),
        "description": "Árgjald 2026",
        "debtor": {
            "customer_no": f"B-{run}-{i:06d}",
            "name": f"Jón Jónsson {i}",
            "country": "IS",
            "language": "is",
            "time_zone": "Atlantic/Reykjavik",
            "email": f"jon{i}.{run}@example.is",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    }


async def _post(client: httpx.AsyncClient, stack: Stack, run: str, n: int) -> dict[uuid.UUID, dict[str, Any]]:
    response = await client.post(
        stack.url("claims-api") + "/v1/admin/creditors",
        headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        json={
            "name": f"Burst {run}",
            "country": "IS",
            "currency": "ISK",
            "default_language": "is",
            # Its terms allow emailing the addresses it gives (without consent evidence: letters).
            "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
        },
    )
    response.raise_for_status()
    # Step 1 of `is-reminders` is the reminder the day after the due date: already due for all.
    await stack.use_policy(client, response.json()["creditor_id"])
    headers = {"Authorization": f"Bearer {response.json()['api_key']}"}
    due = overdue_due_date(stack.sim_now().date())
    claims: dict[uuid.UUID, dict[str, Any]] = {}
    for first in range(0, n, CHUNK):
        bodies = [_claim(run, i, due) for i in range(first, min(first + CHUNK, n))]
        response = await client.post(
            stack.url("claims-api") + "/v1/claims/bulk", json={"claims": bodies}, headers=headers
        )
        response.raise_for_status()
        claims.update((uuid.UUID(c["id"]), c) for c in response.json()["claims"])
    return claims


async def _pay(client: httpx.AsyncClient, stack: Stack, claim: dict[str, Any], n: int) -> None:
    document = camt054(
        [
            GeneratedCredit(
                amount_minor=int(claim["balance_minor"]) + OVERPAY_MINOR,
                currency="ISK",
                reference=claim["reference"],
                booking_date=stack.sim_now().date(),
                bank_ref=f"BURST-{uuid.UUID(claim['id']).hex[:16]}-{n}",
            )
        ],
        account_iban=IBAN,
        msg_id=f"BURST-{uuid.uuid4().hex[:12]}",
        created=datetime.now(UTC),
    )
    response = await client.post(
        stack.url("payments-ingest") + "/v1/payments/files",
        content=document,
        params={"filename": f"burst-{n}.xml"},
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {stack.state.admin_token}"},
    )
    response.raise_for_status()
    if response.json().get("matched") != 1:
        raise RuntimeError(f"payment not matched: {response.text[:300]}")


async def _waiting(conn: asyncpg.Connection, claim_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT claim_ids[1] AS claim_id FROM notifier.deliveries"
        " WHERE status IN ('pending', 'sending') AND dispatch_started_at IS NULL AND claim_ids[1] = ANY($1::uuid[])",
        claim_ids,
    )
    return [r["claim_id"] for r in rows]


async def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def pay_during_burst(
    stack: Stack,
    *,
    claims: int,
    payments: int,
    gap_s: float = 0.2,
    seed: int = 7,
    say: Callable[[str], None] = lambda _: None,
) -> BurstReport:
    rng = random.Random(seed)  # which waiting claim is paid: a sample, not security
    run = uuid.uuid4().hex[:6]
    report = BurstReport(claims=claims)
    conn = await asyncpg.connect(stack.database_url)
    try:
        async with httpx.AsyncClient(timeout=300) as client:
            say(f"posting {claims} overdue claims")
            started = time.monotonic()
            posted = await _post(client, stack, run, claims)
            ids = list(posted)

            async def burst_under_way() -> bool:
                return len(await _waiting(conn, ids)) >= min(claims // 2, max(payments * 4, 100))

            await _until(burst_under_way, 300, "the burst of reminders")
            say(f"reminders are being sent; paying {payments} claims whose reminder still waits")
            paid: dict[uuid.UUID, int] = {}

            async def burst_over() -> bool:
                # Over when every unpaid claim's reminder exists and none is pending or mid-send
                # (a send already dispatched has no sent_at until the provider answered).
                row = await conn.fetchrow(
                    "SELECT count(*) AS made, count(*) FILTER (WHERE status IN ('pending', 'sending')) AS open"
                    " FROM notifier.deliveries WHERE claim_ids[1] = ANY($1::uuid[])",
                    ids,
                )
                return bool(row["open"] == 0 and row["made"] >= len(ids) - len(paid))

            while len(paid) < payments:
                waiting = [c for c in await _waiting(conn, ids) if c not in paid]
                if not waiting:
                    # A notifier that keeps up leaves no reminder waiting for a moment while the
                    # scheduler still hands out more: only the burst's end ends the payments.
                    if await burst_over():
                        break
                    await asyncio.sleep(0.05)
                    continue
                claim_id = rng.choice(waiting)
                await _pay(client, stack, posted[claim_id], len(paid))
                paid[claim_id] = len(waiting)
                await asyncio.sleep(gap_s)

            async def all_recorded() -> bool:
                recorded = await conn.fetchval(
                    "SELECT count(DISTINCT claim_id) FROM ("
                    " SELECT claim_id FROM notifier.payment_holds WHERE claim_id = ANY($1::uuid[])"
                    " UNION ALL SELECT claim_id FROM notifier.claim_states"
                    "  WHERE claim_id = ANY($1::uuid[]) AND status <> 'open') r",
                    list(paid),
                )
                return int(recorded) == len(paid)

            await _until(all_recorded, 120, "the notifier's record of every payment")

            await _until(burst_over, 900, "the end of the burst")
            report.seconds = time.monotonic() - started
            report.sent = int(
                await conn.fetchval(
                    "SELECT count(*) FROM notifier.deliveries"
                    " WHERE claim_ids[1] = ANY($1::uuid[]) AND sent_at IS NOT NULL",
                    ids,
                )
            )
            for claim_id, waiting_then in paid.items():
                accepted = float(
                    await conn.fetchval(
                        "SELECT extract(epoch FROM min(created_at)) FROM payments.outbox"
                        " WHERE event_type = 'krafa.payment.received.v1'"
                        " AND convert_from(value, 'UTF8')::jsonb->>'claim_id' = $1::text",
                        str(claim_id),
                    )
                )
                stopped = await conn.fetchval(
                    "SELECT extract(epoch FROM least("
                    f" (SELECT min({committed('held_at', 'held_xid')}) FROM notifier.payment_holds"
                    "  WHERE claim_id = $1),"
                    f" (SELECT {committed('stopped_at', 'stopped_xid')} FROM notifier.claim_states"
                    "  WHERE claim_id = $1)))",
                    claim_id,
                )
                begun = [
                    float(r["at"])
                    for r in await conn.fetch(
                        "SELECT extract(epoch FROM dispatch_started_at) AS at FROM notifier.deliveries"
                        " WHERE $1 = ANY(claim_ids) AND dispatch_started_at IS NOT NULL",
                        claim_id,
                    )
                ]
                stop = float(stopped) if stopped is not None else None
                report.samples.append(
                    StopSample(
                        claim_id,
                        accepted,
                        stop,
                        waiting_then,
                        late=sum(1 for at in begun if stop is not None and at > stop),
                        in_flight=sum(1 for at in begun if accepted <= at and (stop is None or at <= stop)),
                    )
                )
    finally:
        await conn.close()
    return report
