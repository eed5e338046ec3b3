"""The replay rules the CLI and the operators' page share (krafa_kit.dlq.choose): named records
must exist, a replayed one is refused unless again, a filter skips replayed ones, records near the
inbox retention are refused unless allowed, and one event dead-lettered by several groups is
republished once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from krafa_kit.dlq import DeadLetter, Replay, ReplayRefused, choose

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def letter(offset: int, event_id: str, consumer: str, *, age: timedelta = timedelta(hours=1)) -> DeadLetter:
    return DeadLetter(
        "krafa.claims.dlq",
        0,
        offset,
        int((NOW - age).timestamp() * 1000),
        b"key",
        b"value",
        (
            ("ce_id", event_id.encode()),
            ("ce_type", b"ClaimCreated"),
            ("krafa_dlq_consumer", consumer.encode()),
            ("krafa_dlq_source", b"krafa.claims/3/41"),
        ),
    )


def run(letters: list[DeadLetter], records: list[str], **kw: object) -> object:
    options = {"again": False, "retention_days": 30, "past_retention": False, "now": NOW} | kw
    return choose(letters, records, **options)  # type: ignore[arg-type]


def test_one_event_dead_lettered_by_two_groups_is_republished_once() -> None:
    letters = [letter(0, "e1", "notifier"), letter(1, "e1", "scheduler"), letter(2, "e2", "notifier")]
    choice = choose(letters, ["e1"], again=False, retention_days=30, past_retention=False, now=NOW)
    assert [[d.position for d in p.letters] for p in choice.planned] == [
        ["krafa.claims.dlq/0/0", "krafa.claims.dlq/0/1"]
    ]
    assert choice.planned[0].first.source == ("krafa.claims", 3, 41)


def test_an_unknown_record_is_refused() -> None:
    with pytest.raises(ReplayRefused) as refused:
        run([letter(0, "e1", "notifier")], ["krafa.claims.dlq/0/9"])
    assert refused.value.reason == "unknown"


def test_a_replayed_record_is_refused_by_name_and_skipped_by_a_filter_unless_again() -> None:
    done = letter(0, "e1", "notifier")
    done.replays.append(Replay(done.position, "krafa.claims/3/50", NOW, "ops@krafa (web)"))
    fresh = letter(1, "e2", "notifier")
    with pytest.raises(ReplayRefused) as refused:
        run([done, fresh], [done.position])
    assert refused.value.reason == "replayed"
    picked = choose([done, fresh], [], again=False, retention_days=30, past_retention=False, now=NOW)
    assert [p.first.event_id for p in picked.planned] == ["e2"] and picked.skipped == [done]
    again = choose([done], [done.position], again=True, retention_days=30, past_retention=False, now=NOW)
    assert [p.first.event_id for p in again.planned] == ["e1"]


def test_a_record_near_the_inbox_retention_is_refused_unless_allowed() -> None:
    old = letter(0, "e1", "notifier", age=timedelta(days=29, hours=1))  # within the day's margin
    with pytest.raises(ReplayRefused) as refused:
        run([old], [old.position])
    assert refused.value.reason == "past_retention"
    allowed = choose([old], [old.position], again=False, retention_days=30, past_retention=True, now=NOW)
    assert len(allowed.planned) == 1
    assert (
        len(
            choose(
                [letter(0, "e1", "n", age=timedelta(days=28))],
                [],
                again=False,
                retention_days=30,
                past_retention=False,
                now=NOW,
            ).planned
        )
        == 1
    )
