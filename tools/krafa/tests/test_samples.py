"""`krafa samples`: every written notice kind of every pack in every language, each from a
creditor of its own country, with the notice kind's own fee as the pack allows it (none where the
kind allows none) and SMS within two segments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from krafa.samples import SETUP, notice_fee, write_samples
from krafa_law import jurisdictions
from krafa_notifier.content import LOCALES


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    target = tmp_path_factory.mktemp("samples")
    return target, write_samples(target, png=False)


def test_every_written_kind_in_every_language(samples: tuple[Path, list[dict[str, object]]]) -> None:
    target, index = samples
    written = {
        (code, kind)
        for code, pack in jurisdictions().items()
        for kind, notice in pack.notice_kinds.items()
        if {"email", "letter", "netbank"} & {str(c) for c in notice.channels}
    }
    assert {(e["jurisdiction"], e["notice_kind"], e["language"]) for e in index} == {
        (code, kind, language) for code, kind in written for language in LOCALES
    }
    assert json.loads((target / "index.json").read_text("utf-8")) == index
    for entry in index:
        stem = target / str(entry["dir"])
        assert {p.name for p in stem.iterdir()} == {"email.txt", "email.html", "sms.txt", "letter.pdf"}
        assert int(str(entry["sms_segments"])) <= 2, entry


def test_each_kind_books_only_the_fee_its_pack_allows() -> None:
    assert notice_fee("IS", "aminning") is None and notice_fee("IS", "krofuvakt") is None
    assert notice_fee("IS", "innheimtuvidvorun") == ("collection_fee", 950)
    # A letter's fee by the band of the principal still owed (70,000 kr. after the part payment).
    assert notice_fee("IS", "milliinnheimtubref") == ("collection_fee", 3_700)
    # 1/20 of the inkassosats in force on the sending day (kr 750 from 2026).
    assert notice_fee("NO", "purring") == ("reminder_fee", 3_750)
    assert notice_fee("EE", "meeldetuletus") == ("reminder_fee", 500)
    assert notice_fee("EE", "inkassohoiatus") is None
    # The €40 compensation is a business debtor's; the sample debtor is a person.
    assert notice_fee("EU", "reminder") is None


@pytest.mark.parametrize("code", sorted(SETUP))
def test_each_jurisdictions_samples_come_from_a_creditor_of_its_own(
    code: str, samples: tuple[Path, list[dict[str, object]]]
) -> None:
    target, index = samples
    creditor, agency = SETUP[code]["creditor"], SETUP[code]["agency"]
    for entry in (e for e in index if e["jurisdiction"] == code):
        text = (target / str(entry["dir"]) / "email.txt").read_text("utf-8")
        assert creditor["name"] in text and creditor["registration_no"] in text, entry["dir"]
        # After handover the agency writes, for the creditor, and is the one to call.
        by_agency = jurisdictions()[code].notice(str(entry["notice_kind"])).sender == "agency"
        assert (agency if by_agency else creditor)["phone"] in text, entry["dir"]
        assert not by_agency or agency["name"] in text, entry["dir"]
