"""Invariants judged over a stack that is still running: the chaos run checks them after its
load stopped, while the dunning of the open claims goes on (steps keep falling due, fees keep
being booked). Each compares two things read at different moments, so each reads them in the
order that makes the comparison exact:

- the fee ledger against the topics: the ledger first, the topics after. A fee is booked only
  after claims-api consumed its FeeCharged from a topic, so every fee in the ledger must be on
  the later read of the topics; a FeeCharged of the earlier read not yet booked is waited for,
  as long as the bookings make progress.
- the outboxes against the topics: every event an outbox marked published before the topics
  were read must be on them (after a broker loss, once `krafa outbox replay` has run).

The readers are passed in, so the rules are tested without a stack (tools/krafa/tests).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from krafa_events.catalog import FeeCharged


@dataclass(frozen=True, slots=True)
class LedgerFee:
    """A claims-api ledger entry booked from a FeeCharged (source `fee:<fee_id>`)."""

    fee_id: uuid.UUID
    claim_id: uuid.UUID
    amount_minor: int


@dataclass(frozen=True, slots=True)
class LedgerRead:
    fees: list[LedgerFee]
    waived: set[uuid.UUID]  # fee ids waived because the claim was settled before the step


class Topics(Protocol):
    events: dict[str, Any]

    def of(self, kind: type) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: str


async def fee_ledger_matches(
    earlier: Topics,
    read_ledger: Callable[[], Awaitable[LedgerRead]],
    read_topics: Callable[[], Awaitable[Topics]],
    *,
    patience_s: float = 30.0,
    pause_s: float = 2.0,
) -> Verdict:
    """Every FeeCharged is in the ledger once, for its amount and claim, unless it was waived
    (docs/adr/0005); the ledger holds no fee that was never charged, and none twice.

    `earlier` is a read of the topics taken before this call: its FeeCharged must all be booked
    (or waived) — waited for while the number still unbooked keeps falling, and for at most
    `patience_s` without progress. Fees booked since are judged against a read of the topics
    taken after the ledger's."""
    expected = {f.fee_id: f for f in earlier.of(FeeCharged)}
    best = len(expected) + 1
    stalled_since = time.monotonic()
    while True:
        ledger = await read_ledger()
        later = await read_topics()
        charged = {f.fee_id: f for f in later.of(FeeCharged)}
        charged.update(expected)  # an earlier read is never less true than a later one
        booked = Counter(f.fee_id for f in ledger.fees)
        not_charged = [f for f in ledger.fees if f.fee_id not in charged]
        wrong = [
            f
            for f in ledger.fees
            if f.fee_id in charged
            and (charged[f.fee_id].claim_id, charged[f.fee_id].amount_minor) != (f.claim_id, f.amount_minor)
        ]
        doubled = [fee_id for fee_id, n in booked.items() if n > 1 or fee_id in ledger.waived]
        unbooked = [fee_id for fee_id in expected if fee_id not in booked and fee_id not in ledger.waived]
        detail = (
            f"{len(expected)} FeeCharged on the topics, {len(ledger.fees)} fees in the claims-api ledger, "
            f"{len(ledger.waived)} waived (claim settled first); {len(unbooked)} not booked, "
            f"{len(not_charged)} booked without a FeeCharged, {len(wrong)} booked for another claim or amount, "
            f"{len(doubled)} booked twice"
        )
        if not_charged or wrong or doubled:
            examples = [str(f.fee_id) for f in (not_charged + wrong)[:3]] + [str(i) for i in doubled[:3]]
            return Verdict(False, f"{detail}; e.g. {', '.join(examples)}")
        if not unbooked:
            return Verdict(True, detail)
        if len(unbooked) < best:
            best, stalled_since = len(unbooked), time.monotonic()
        elif time.monotonic() - stalled_since > patience_s:
            return Verdict(
                False, f"{detail}; e.g. {', '.join(str(i) for i in unbooked[:3])} (no progress in {patience_s:.0f} s)"
            )
        await asyncio.sleep(pause_s)


@dataclass(frozen=True, slots=True)
class Published:
    """An outbox row marked published before the topics were read."""

    event_id: uuid.UUID
    schema: str
    event_type: str


async def topics_hold_the_outboxes(
    published: Iterable[Published],
    topics: Topics,
    read_topics: Callable[[], Awaitable[Topics]],
    *,
    again_after_s: float = 5.0,
) -> Verdict:
    """Every event the outboxes had published before `topics` was read is on the topics. What is
    missing is looked for once more in a fresh read (a reader that stopped short is not a
    broker that lost events); what is still missing then was lost."""
    rows = list(published)
    missing = [r for r in rows if str(r.event_id) not in topics.events]
    if missing:
        await asyncio.sleep(again_after_s)
        fresh = await read_topics()
        missing = [r for r in missing if str(r.event_id) not in fresh.events]
    by_kind = Counter((r.schema, r.event_type) for r in missing)
    detail = f"{len(rows)} events published by the outboxes, {len(missing)} missing on the topics"
    if missing:
        detail += ": " + ", ".join(f"{n} {kind} from {schema}" for (schema, kind), n in by_kind.most_common(5))
    return Verdict(not missing, detail)


@dataclass(frozen=True, slots=True)
class LateSend:
    """A send that began after the notifier had recorded what stopped its claim."""

    delivery_id: uuid.UUID
    claim_id: uuid.UUID
    step: int
    began: float  # unix seconds
    stopped: float
    why: str  # paid, cancelled, disputed, …


def committed(stamp: str, xid: str) -> str:
    """The moment a row written by the stops lane became visible to the dispatcher's fence: its
    transaction's commit (the lane writes a whole batch in one, so a stamp taken inside it can be
    much earlier), or the stamp where PostgreSQL does not track commit times."""
    return (
        f"coalesce(CASE WHEN current_setting('track_commit_timestamp')::bool AND {xid} IS NOT NULL"
        f" THEN pg_xact_commit_timestamp({xid}::xid) END, {stamp})"
    )


# When the notifier knew a claim was stopped (docs/adr/0008): its stop, or for a paid claim the
# hold of the payment that settled it (a hold ended only for payments that left a balance).
STOPS_SQL = f"""
    SELECT s.claim_id, s.status,
           extract(epoch FROM least({committed("s.stopped_at", "s.stopped_xid")}, CASE WHEN s.status = 'paid' THEN
               (SELECT min({committed("h.held_at", "h.held_xid")}) FROM notifier.payment_holds h
                 WHERE h.claim_id = s.claim_id AND h.booked_at IS NULL) END)) AS at
    FROM notifier.claim_states s
    WHERE s.status IN ('paid', 'cancelled', 'disputed', 'held', 'written_off') AND s.stopped_at IS NOT NULL
"""


async def sends_after_stops(conn: Any) -> list[LateSend]:
    """Every send that began after the notifier knew its claim was stopped: none may exist."""
    rows = await conn.fetch(
        f"WITH stops AS ({STOPS_SQL})"
        " SELECT d.id, st.claim_id, d.step, extract(epoch FROM d.dispatch_started_at) AS began, st.at, st.status"
        " FROM notifier.deliveries d JOIN stops st ON st.claim_id = ANY(d.claim_ids)"
        " WHERE d.dispatch_started_at > to_timestamp(st.at)"
    )
    return [LateSend(r["id"], r["claim_id"], r["step"], float(r["began"]), float(r["at"]), r["status"]) for r in rows]


async def stop_latencies_ms(conn: Any) -> list[float]:
    """For every claim the notifier knows as paid: milliseconds from payments-ingest's commit of
    the payment that settled it to the notifier's record of it."""
    rows = await conn.fetch(
        f"WITH stops AS ({STOPS_SQL})"
        " SELECT st.at - extract(epoch FROM p.created_at) AS seconds FROM stops st"
        " JOIN LATERAL (SELECT max(o.created_at) AS created_at FROM payments.outbox o"
        "   WHERE o.event_type = 'krafa.payment.received.v1'"
        "   AND convert_from(o.value, 'UTF8')::jsonb->>'claim_id' = st.claim_id::text"
        "   AND o.created_at <= to_timestamp(st.at) + interval '1 second') p ON p.created_at IS NOT NULL"
        " WHERE st.status = 'paid'"
    )
    return sorted(max(float(r["seconds"]) * 1000, 0.0) for r in rows)


# -- What every message told its debtor, against the ledger and the law -----------------------


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One claims-api ledger entry, in booking order: what it changed of the balance."""

    source_id: str
    kind: str  # charge, fee, interest, payment, reversal, waiver, write_off, amendment
    balance_delta: int  # principal + fees + interest it added (a payment subtracts)
    fee_kind: str | None = None
    step: int | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """What one sent message stated for one of its claims (the notifier's `deliveries.stated`)."""

    delivery_id: uuid.UUID
    claim_id: uuid.UUID
    step: int
    jurisdiction: str | None
    notice_kind: str | None
    ledger_entries: int  # the ledger version it stated
    total_minor: int
    fee_ids: tuple[uuid.UUID, ...]  # the charges its step booked
    due_at: datetime  # when its step fell due
    sent_at: datetime


def statements_off_the_ledger(
    statements: Iterable[Statement], ledgers: dict[uuid.UUID, list[LedgerEntry]]
) -> list[str]:
    """Every message must state a balance claims-api booked: the total of the ledger's first
    `ledger_entries` entries, and a version that already holds the charges its own step booked
    (a message never announces a fee it does not count, nor counts one it does not announce)."""
    problems: list[str] = []
    for s in statements:
        ledger = ledgers.get(s.claim_id, [])
        if s.ledger_entries > len(ledger):
            problems.append(
                f"delivery {s.delivery_id} claim {s.claim_id}: states ledger version {s.ledger_entries}, "
                f"claims-api has {len(ledger)} entries"
            )
            continue
        booked = sum(e.balance_delta for e in ledger[: s.ledger_entries])
        if booked != s.total_minor:
            problems.append(
                f"delivery {s.delivery_id} claim {s.claim_id} step {s.step}: states {s.total_minor}, "
                f"the ledger's balance at version {s.ledger_entries} is {booked}"
            )
        position = {e.source_id: i for i, e in enumerate(ledger)}
        for fee_id in s.fee_ids:
            at = position.get(f"fee:{fee_id}")
            if at is not None and at >= s.ledger_entries:
                problems.append(
                    f"delivery {s.delivery_id} claim {s.claim_id} step {s.step}: its own charge {fee_id} "
                    f"is not in the balance it states"
                )
    return problems


def fees_beyond_caps(statements: Iterable[Statement], ledgers: dict[uuid.UUID, list[LedgerEntry]]) -> list[str]:
    """Every fee the ledger holds (interest and waived charges aside) was booked by a notice whose
    kind allows a fee, and no claim carries more fees of a cap's rules than the jurisdiction's
    pack allows. A fee is known by the notice kind of the message its step sent; a fee whose step
    sent nothing yet is not judged."""
    from krafa_law import jurisdiction

    notices: dict[tuple[uuid.UUID, int], tuple[str, str]] = {}
    for s in statements:
        if s.jurisdiction and s.notice_kind:
            notices[(s.claim_id, s.step)] = (s.jurisdiction, s.notice_kind)
    problems: list[str] = []
    for claim_id, ledger in ledgers.items():
        waived = {e.source_id.removeprefix("waiver:") for e in ledger if e.kind == "waiver"}
        counts: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        pack = None
        for e in ledger:
            if e.kind != "fee" or e.source_id in waived or e.step is None or (claim_id, e.step) not in notices:
                continue
            code, key = notices[(claim_id, e.step)]
            pack = jurisdiction(code)
            kind = pack.notice_kinds.get(key)
            if kind is None or not kind.fee_rules:
                problems.append(f"claim {claim_id} step {e.step}: a {e.fee_kind} booked by {key}, which allows no fee")
                continue
            rules = (e.fee_kind,) if e.fee_kind in kind.fee_rules else kind.fee_rules
            for name, cap in pack.fee_caps.items():
                if set(rules) & set(cap.rules):
                    counts[name] += 1
                    totals[name] += e.balance_delta
        if pack is None:
            continue
        for name, cap in pack.fee_caps.items():
            if cap.max_count is not None and counts[name] > cap.max_count:
                problems.append(f"claim {claim_id}: {counts[name]} fees under the cap {name} (at most {cap.max_count})")
            if cap.max_total_minor is not None and totals[name] > cap.max_total_minor:
                problems.append(
                    f"claim {claim_id}: {totals[name]} in fees under {name} (at most {cap.max_total_minor})"
                )
    return problems


def steps_inside_gaps(statements: Iterable[Statement]) -> list[str]:
    """No later step of a claim fell due before the minimum gap of an earlier notice had run,
    counted in the debtor's country's days from when that notice was actually sent."""
    from krafa_law import jurisdiction

    by_claim: dict[uuid.UUID, dict[int, Statement]] = {}
    for s in statements:
        first = by_claim.setdefault(s.claim_id, {}).get(s.step)
        if first is None or s.sent_at < first.sent_at:
            by_claim[s.claim_id][s.step] = s
    problems: list[str] = []
    for claim_id, steps in by_claim.items():
        for step, notice in steps.items():
            if not notice.jurisdiction or not notice.notice_kind:
                continue
            pack = jurisdiction(notice.jurisdiction)
            kind = pack.notice_kinds.get(notice.notice_kind)
            if kind is None or not kind.min_gap_days:
                continue
            tz = ZoneInfo(pack.time_zone)
            earliest = notice.sent_at.astimezone(tz).date() + timedelta(days=kind.min_gap_days)
            for later in steps.values():
                if later.step > step and later.due_at.astimezone(tz).date() < earliest:
                    problems.append(
                        f"claim {claim_id}: step {later.step} fell due {later.due_at:%Y-%m-%d %H:%M}Z, within the "
                        f"{kind.min_gap_days} days of its {notice.notice_kind} sent {notice.sent_at:%Y-%m-%d %H:%M}Z"
                    )
    return problems


async def read_statements(conn: Any) -> tuple[list[Statement], dict[uuid.UUID, list[LedgerEntry]]]:
    """What every sent message stated (notifier) and the ledger of each claim it named (claims-api)."""
    rows = await conn.fetch(
        "SELECT d.id, d.step, d.jurisdiction, d.notice_kind, d.fee_ids, d.due_at, d.sent_at, c.key AS claim_id,"
        " (c.value->>'ledger_entries')::int AS ledger_entries, (c.value->>'total_minor')::bigint AS total_minor"
        " FROM notifier.deliveries d, jsonb_each(d.stated->'claims') c"
        " WHERE d.status IN ('sent', 'delivered') AND d.sent_at IS NOT NULL AND d.stated IS NOT NULL"
    )
    statements = [
        Statement(
            r["id"],
            uuid.UUID(r["claim_id"]),
            r["step"],
            r["jurisdiction"],
            r["notice_kind"],
            r["ledger_entries"],
            r["total_minor"],
            tuple(r["fee_ids"] or ()),
            r["due_at"],
            r["sent_at"],
        )
        for r in rows
    ]
    claim_ids = sorted({s.claim_id for s in statements})
    ledgers: dict[uuid.UUID, list[LedgerEntry]] = {c: [] for c in claim_ids}
    for r in await conn.fetch(
        "SELECT claim_id, source_id, kind, principal_minor + fees_minor + interest_minor AS delta,"
        " coalesce(details->>'fee_kind', details->>'fees_kind') AS fee_kind, (details->>'step')::int AS step"
        " FROM claims.ledger_entries WHERE claim_id = ANY($1::uuid[]) ORDER BY id",
        claim_ids,
    ):
        ledgers[r["claim_id"]].append(LedgerEntry(r["source_id"], r["kind"], r["delta"], r["fee_kind"], r["step"]))
    return statements, ledgers


async def messages_tell_the_truth(conn: Any) -> Verdict:
    """For every message sent: the total it stated is the claims-api ledger's balance at the version
    it stated, holding its own step's charges; no fee beyond its notice kind's caps; no step before
    an earlier notice's minimum gap after its send."""
    statements, ledgers = await read_statements(conn)
    problems = statements_off_the_ledger(statements, ledgers)
    problems += fees_beyond_caps(statements, ledgers)
    problems += steps_inside_gaps(statements)
    detail = (
        f"{len({s.delivery_id for s in statements})} messages sent stating {len(statements)} claim balances "
        f"({sum(s.ledger_entries > 1 for s in statements)} with fees, interest or payments booked since the "
        f"opening charge), {len(problems)} off the ledger or the law"
    )
    return Verdict(not problems, detail + (": " + "; ".join(problems[:3]) if problems else ""))
