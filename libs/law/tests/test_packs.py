"""The packs as the law states them: the notice kinds the issue names, their minimum days and gaps,
the fees they may carry and the caps on those fees per claim."""

from __future__ import annotations

from datetime import date

import pytest
from krafa_events import Channel
from krafa_law import ELEMENTS, Element, jurisdictions


def test_each_jurisdiction_declares_its_legal_notice_kinds() -> None:
    packs = jurisdictions()
    assert {"innheimtuvidvorun", "milliinnheimtubref", "lokavidvorun", "krofuvakt"} <= set(packs["IS"].notice_kinds)
    assert {"purring", "inkassovarsel", "betalingsoppfordring"} <= set(packs["NO"].notice_kinds)
    assert {"meeldetuletus", "inkassohoiatus"} <= set(packs["EE"].notice_kinds)
    assert {"reminder", "final_notice"} <= set(packs["EU"].notice_kinds)


def test_the_icelandic_collection_warning() -> None:
    warning = jurisdictions()["IS"].notice("innheimtuvidvorun")
    # innheimtulög 95/2008 7. gr.: ten days from the sending; written; it says what it is and
    # what follows.
    assert warning.min_days_to_pay == 10 and warning.min_gap_days == 10 and warning.written
    assert Channel.SMS not in warning.channels
    assert {Element.NOTICE_TITLE, Element.CONSEQUENCE_COLLECTION, Element.PAY_BY, Element.NOTICE_FEE} <= set(
        warning.required
    )
    assert warning.fee_rules == ("collection_warning",)


def test_the_norwegian_inkassovarsel_meets_section_9() -> None:
    varsel = jurisdictions()["NO"].notice("inkassovarsel")
    assert varsel.min_days_to_pay >= 14 and varsel.min_gap_days >= 14 and varsel.written
    assert {Element.OBJECTION_RIGHT, Element.CONSEQUENCE_COLLECTION, Element.LEGAL_BASIS} <= set(varsel.required)


def test_after_handover_the_letters_name_the_agency() -> None:
    for code, pack in jurisdictions().items():
        for key, kind in pack.notice_kinds.items():
            if kind.sender == "agency" and kind.channels != (Channel.CALL,):
                assert Element.AGENCY_NAME in kind.required, (code, key)


def test_every_required_element_is_in_the_shared_vocabulary() -> None:
    for pack in jurisdictions().values():
        for kind in pack.notice_kinds.values():
            assert set(kind.required) <= ELEMENTS


def test_icelandic_fee_caps_allow_7250_on_a_10000_claim() -> None:
    # A warning and milliinnheimtubréf with its two repeats: 950 + 3 x 2,100 = 7,250 kr.
    pack = jurisdictions()["IS"]
    warning_fee = int(pack.fees["collection_warning"].amount_minor[-1].value)
    bands = pack.fees["collection_letter"].bands
    letter_fee = next(b.amount_minor for b in bands if b.up_to_minor is None or b.up_to_minor >= 10_000)
    caps = {name: cap.max_count for name, cap in pack.fee_caps.items()}
    assert warning_fee * caps["innheimtuvidvorun"] + letter_fee * caps["milliinnheimtubref"] == 7_250


@pytest.mark.parametrize(("day", "fee"), [(date(2025, 6, 1), 3500), (date(2026, 2, 1), 3750)])
def test_norwegian_reminder_fee_is_a_twentieth_of_the_inkassosats(day: date, fee: int) -> None:
    from krafa_law import dated_value

    pack = jurisdictions()["NO"]
    rule = pack.fees["purregebyr"]
    base = dated_value(pack.tables["inkassosats_minor"], day)
    assert base is not None and int(base * rule.fraction) == fee
    assert pack.fee_caps["purregebyr"].max_count == 2 and set(pack.fee_caps["purregebyr"].rules) == {
        "purregebyr",
        "inkassovarsel",
    }
