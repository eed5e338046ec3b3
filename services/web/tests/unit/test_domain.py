"""The portal's pure rules: codes, masking, amounts typed by people, redirects, session times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from babel import Locale
from krafa_events import portal_link
from krafa_web import domain


def test_a_code_matches_only_its_own_challenge() -> None:
    challenge, other = uuid.uuid4(), uuid.uuid4()
    code = domain.new_code()
    stored = domain.code_digest(challenge, code)
    assert domain.code_matches(challenge, code, stored)
    assert domain.code_matches(challenge, f" {code[:3]} {code[3:]} ", stored)  # typed with spaces
    assert not domain.code_matches(other, code, stored)
    assert not domain.code_matches(challenge, "12345", stored)


def test_contact_points_are_masked() -> None:
    assert domain.mask("email", "jon.jonsson@example.is") == "j•••@e•••.is"
    assert domain.mask("phone", "+3546151234") == "+354 •••• 234"
    assert "6151" not in domain.mask("phone", "+3546151234")


@pytest.mark.parametrize(
    ("text", "currency", "locale", "minor"),
    [
        ("10.390", "ISK", "is_IS", 10390),
        ("10390 kr.", "ISK", "is_IS", 10390),
        ("1 234,50", "EUR", "et_EE", 123450),
        ("1,234.50", "EUR", "en_GB", 123450),
        ("350", "NOK", "nb_NO", 35000),
    ],
)
def test_amounts_typed_by_people_become_minor_units(text: str, currency: str, locale: str, minor: int) -> None:
    assert domain.parse_amount(text, currency, Locale.parse(locale)) == minor


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "10,5"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(domain.BadAmount):
        domain.parse_amount(text, "ISK", Locale.parse("is_IS"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil", None, "claims"])
def test_redirects_stay_on_the_site(target: str | None) -> None:
    assert domain.safe_path(target) == "/claims"
    assert domain.safe_path("/claims/1?x=2") == "/claims/1?x=2"


def test_sessions_end_when_idle_or_old() -> None:
    start = datetime(2026, 3, 2, 12, tzinfo=UTC)
    idle, absolute = timedelta(minutes=15), timedelta(minutes=60)
    assert domain.session_alive(
        domain.SessionTimes(start, start), start + timedelta(minutes=14), idle=idle, absolute=absolute
    )
    assert not domain.session_alive(
        domain.SessionTimes(start, start), start + timedelta(minutes=16), idle=idle, absolute=absolute
    )
    busy = domain.SessionTimes(start, start + timedelta(minutes=59))
    assert not domain.session_alive(busy, start + timedelta(minutes=61), idle=idle, absolute=absolute)


def test_personal_link_codes_are_short_unguessable_and_stable() -> None:
    delivery = uuid.uuid4()
    code = portal_link.code(delivery, b"secret")
    assert code == portal_link.code(delivery, b"secret") and portal_link.well_formed(code)
    assert len(code) == 16
    assert code != portal_link.code(delivery, b"another secret")
    assert portal_link.url("https://minar.krafa.is/", delivery, b"secret") == f"https://minar.krafa.is/l/{code}"
    assert not portal_link.well_formed("../../etc/passwd")


def test_the_claim_watch_summary_adds_up_the_splits_claims_api_booked() -> None:
    def entry(kind: str, split: dict[str, object] | None) -> dict[str, object]:
        return {"kind": kind, "details": {"watch_split": split} if split else {"bank_ref": "B1"}}

    def split(collected: int, creditor: int, agency: int) -> dict[str, object]:
        return {
            "creditor_share_pct": 50,
            "collected_minor": collected,
            "creditor_minor": creditor,
            "agency_minor": agency,
            "watch_started_at": "2026-11-02T09:00:00+00:00",
        }

    ledger = {
        "entries": [
            entry("charge", None),
            entry("payment", None),  # before claim watch: not shared
            entry("payment", split(3_001, 1_501, 1_500)),
            entry("reversal", split(-3_001, -1_501, -1_500)),
            entry("payment", split(9_390, 4_695, 4_695)),
        ]
    }
    assert domain.watch_summary(ledger) == domain.WatchSummary("2026-11-02", 50, 9_390, 4_695, 4_695)
    assert domain.watch_summary({"entries": [entry("payment", None)]}) is None
