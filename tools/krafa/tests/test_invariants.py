"""The chaos run's ledger and topic invariants on scripted reads: they pass for a stack whose
dunning goes on while they look, and they fail for a fee booked twice, booked without its event,
booked for another amount, never booked, or an event the topics lost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from krafa.invariants import LedgerFee, LedgerRead, Published, fee_ledger_matches, topics_hold_the_outboxes
from krafa_events.catalog import FeeCharged

CLAIM = uuid.uuid4()


@dataclass
class Topics:
    events: dict[str, Any] = field(default_factory=dict)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events.values() if isinstance(e, kind)]


def fee(step: int, amount: int = 950) -> FeeCharged:
    return FeeCharged(
        creditor_id=uuid.uuid4(),
        debtor_id=uuid.uuid4(),
        fee_id=uuid.uuid4(),
        claim_id=CLAIM,
        step=step,
        kind="reminder_fee",
        amount_minor=amount,
        currency="ISK",
        charged_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def topics(*fees: FeeCharged) -> Topics:
    return Topics({str(uuid.uuid4()): f for f in fees})


def booked(*fees: FeeCharged, waived: set[uuid.UUID] | None = None) -> LedgerRead:
    return LedgerRead([LedgerFee(f.fee_id, f.claim_id, f.amount_minor) for f in fees], waived or set())


class Script:
    """Reads that change between calls, as they do on a running stack."""

    def __init__(self, ledgers: list[LedgerRead], topic_reads: list[Topics]) -> None:
        self.ledgers, self.topic_reads = ledgers, topic_reads

    async def ledger(self) -> LedgerRead:
        return self.ledgers.pop(0) if len(self.ledgers) > 1 else self.ledgers[0]

    async def topics(self) -> Topics:
        return self.topic_reads.pop(0) if len(self.topic_reads) > 1 else self.topic_reads[0]


async def judge(earlier: Topics, script: Script, patience_s: float = 0.05) -> Any:
    return await fee_ledger_matches(earlier, script.ledger, script.topics, patience_s=patience_s, pause_s=0.01)


async def test_fees_booked_after_the_topics_were_read_are_judged_against_a_later_read() -> None:
    # The failure of issue 24: steps kept firing after the history was read, so the ledger held
    # fees the snapshot never saw. Read after the ledger, the topics have them.
    one, two, three = fee(1), fee(2), fee(3)
    verdict = await judge(topics(one), Script([booked(one, two, three)], [topics(one, two, three)]))
    assert verdict.ok, verdict.detail


async def test_a_fee_still_on_its_way_is_waited_for() -> None:
    one, two = fee(1), fee(2)
    script = Script([booked(one), booked(one), booked(one, two)], [topics(one, two)])
    verdict = await judge(topics(one, two), script, patience_s=5)
    assert verdict.ok, verdict.detail


@pytest.mark.parametrize(
    ("ledger", "found"),
    [
        pytest.param(lambda one, two: booked(one, one, two), "1 booked twice", id="doubled"),
        pytest.param(lambda one, two: booked(one, two, fee(9)), "1 booked without a FeeCharged", id="no-event"),
        pytest.param(
            lambda one, two: booked(one, fee(2, 990).model_copy(update={"fee_id": two.fee_id})),
            "1 booked for another claim or amount",
            id="amount",
        ),
        pytest.param(lambda one, two: booked(one, two, waived={two.fee_id}), "1 booked twice", id="booked-and-waived"),
    ],
)
async def test_a_wrong_booking_fails(ledger: Any, found: str) -> None:
    one, two = fee(1), fee(2)
    verdict = await judge(topics(one, two), Script([ledger(one, two)], [topics(one, two)]))
    assert not verdict.ok and found in verdict.detail, verdict.detail


async def test_a_fee_never_booked_fails_once_bookings_stop_progressing() -> None:
    one, two = fee(1), fee(2)
    verdict = await judge(topics(one, two), Script([booked(one)], [topics(one, two)]))
    assert not verdict.ok and "1 not booked" in verdict.detail, verdict.detail


async def test_a_waived_fee_counts_as_settled() -> None:
    one, two = fee(1), fee(2)
    verdict = await judge(topics(one, two), Script([booked(one, waived={two.fee_id})], [topics(one, two)]))
    assert verdict.ok, verdict.detail


async def test_a_fee_the_topics_lost_after_it_was_booked_fails() -> None:
    # An integrator replaying the topic would miss it: not a harness detail.
    one, two = fee(1), fee(2)
    verdict = await judge(topics(one), Script([booked(one, two)], [topics(one)]))
    assert not verdict.ok and "1 booked without a FeeCharged" in verdict.detail, verdict.detail


async def test_every_published_event_must_be_on_the_topics() -> None:
    kept, lost = uuid.uuid4(), uuid.uuid4()
    seen = Topics({str(kept): object()})
    rows = [Published(kept, "scheduler", FeeCharged.TYPE), Published(lost, "scheduler", FeeCharged.TYPE)]

    async def same() -> Topics:
        return seen

    verdict = await topics_hold_the_outboxes(rows, seen, same, again_after_s=0)
    assert not verdict.ok and "1 missing" in verdict.detail and FeeCharged.TYPE in verdict.detail

    async def caught_up() -> Topics:
        return Topics({str(kept): object(), str(lost): object()})

    verdict = await topics_hold_the_outboxes(rows, seen, caught_up, again_after_s=0)
    assert verdict.ok, verdict.detail


def test_a_consumer_must_dead_letter_what_it_reads_but_not_a_type_it_skips_by_header() -> None:
    from krafa.chaos import Poison, expects_dead_letter

    broken_claim = Poison("krafa.claims", 0, 1, "broken JSON body")
    garbage_claim = Poison("krafa.claims", 0, 2, "no CloudEvents headers")
    broken_sent = Poison("krafa.notifications", 0, 3, "broken JSON body")
    # The bounce-handler consumes krafa.claims but not ClaimCreated: it skips that by its header.
    assert not expects_dead_letter("bounce-handler", broken_claim)
    assert expects_dead_letter("bounce-handler", garbage_claim)
    assert expects_dead_letter("bounce-handler", broken_sent)  # a ClaimCreated off its own topic
    assert expects_dead_letter("scheduler", broken_claim)  # it consumes ClaimCreated
