"""Which failure of a report belongs to our delivery, and when a bounce adds nothing."""

from __future__ import annotations

import hashlib

from krafa_bounce_handler import domain
from krafa_bounce_handler.domain import BounceVerdict
from krafa_bounce_handler.dsn import BouncedRecipient, BounceReport


def a_report(*recipients: BouncedRecipient) -> BounceReport:
    kinds = {r.kind for r in recipients}
    kind = "mixed" if len(kinds) > 1 else next(iter(kinds), "none")
    return BounceReport(
        is_bounce=bool(recipients),
        recipients=recipients,
        kind=kind,  # type: ignore[arg-type]
        not_bounce_reason=None if recipients else "auto-reply",
    )


GONE = BouncedRecipient("jon@example.is", "hard", "5.1.1", "550 5.1.1 User unknown")
FULL = BouncedRecipient("anna@example.is", "soft", "4.2.2", "452 4.2.2 Mailbox full")
OTHER_GONE = BouncedRecipient("jon.forwarded@mail.example", "hard", "5.1.1", "550 5.1.1 No such user")


def test_the_delivery_recipient_is_matched_case_insensitively() -> None:
    verdict = domain.verdict_for(a_report(FULL, GONE), " <Jon@Example.IS> ")
    assert verdict == BounceVerdict("hard", "5.1.1", "550 5.1.1 User unknown", "jon@example.is", matched=True)


def test_a_report_about_several_addresses_counts_only_for_ours() -> None:
    verdict = domain.verdict_for(a_report(GONE, FULL), "anna@example.is")
    assert verdict is not None
    assert (verdict.kind, verdict.status, verdict.matched) == ("soft", "4.2.2", True)


def test_a_forwarded_address_that_failed_carries_the_overall_verdict() -> None:
    verdict = domain.verdict_for(a_report(OTHER_GONE), "jon@example.is")
    assert verdict == BounceVerdict(
        "hard", "5.1.1", "550 5.1.1 No such user", "jon.forwarded@mail.example", matched=False
    )


def test_a_mixed_report_naming_other_addresses_only_is_soft() -> None:
    # Some targets of the forward still take mail: the address must not be marked unusable.
    verdict = domain.verdict_for(a_report(OTHER_GONE, FULL), "jon@example.is")
    assert verdict is not None
    assert (verdict.kind, verdict.status, verdict.reported_address) == ("soft", "4.2.2", "anna@example.is")


def test_no_bounce_no_verdict() -> None:
    assert domain.verdict_for(a_report(), "jon@example.is") is None


def test_an_empty_reason_gets_a_default() -> None:
    verdict = domain.verdict_for(a_report(BouncedRecipient("jon@example.is", "hard", None, "")), "jon@example.is")
    assert verdict is not None
    assert verdict.reason == domain.DEFAULT_REASON


def test_a_stored_report_rebuilds_identically() -> None:
    report = a_report(GONE, FULL)
    assert domain.report_from_json(report.to_json_dict()) == report


def test_received_kind_is_the_overall_verdict_before_the_delivery_is_known() -> None:
    assert domain.received_kind(a_report(GONE)) == "hard"
    assert domain.received_kind(a_report(GONE, FULL)) == "soft"
    assert domain.received_kind(a_report()) == "not_bounce"


def test_the_same_report_again_or_a_second_hard_bounce_is_a_duplicate() -> None:
    first, second = hashlib.sha256(b"first").digest(), hashlib.sha256(b"second").digest()
    assert not domain.is_duplicate("hard", first, [])
    assert domain.is_duplicate("soft", first, [("soft", first)])
    assert domain.is_duplicate("hard", second, [("hard", first)])
    # A new warning, or a hard failure after a warning, is news.
    assert not domain.is_duplicate("soft", second, [("soft", first)])
    assert not domain.is_duplicate("hard", second, [("soft", first)])
    assert not domain.is_duplicate("soft", second, [("hard", first)])
