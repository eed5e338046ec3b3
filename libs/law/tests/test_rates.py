"""Every pack's late-interest table: complete from 2015 to today (one rate for every day), every row
sourced, the statutory formula where the law states one, and the check operators run."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from krafa_law import jurisdictions, rates

PACKS = sorted(jurisdictions())


@pytest.mark.parametrize("code", PACKS)
def test_every_day_from_2015_to_today_has_exactly_one_rate(code: str) -> None:
    pack = jurisdictions()[code]
    rows = pack.interest_rates
    day, today = rates.TABLES_FROM, date.today()
    while day <= today:
        covering = [r for r in rows if r.valid_from <= day <= r.valid_to]
        if day <= rows[-1].valid_to:
            assert len(covering) == 1, (code, day, covering)
            assert rates.row_on(pack, day) == covering[0]
        else:
            # Past the last published row the last rate carries forward — and the check says so.
            assert covering == [] and rates.row_on(pack, day) == rows[-1]
            findings = rates.check(pack, day)
            assert any(f.level == "error" and "past its last published row" in f.message for f in findings)
        day += timedelta(days=1)


@pytest.mark.parametrize("code", PACKS)
def test_every_row_names_its_source(code: str) -> None:
    for row in jurisdictions()[code].interest_rates:
        assert len(row.source) > 10, row
        # A derived row says it is derived; a read one does not pretend otherwise.
        assert row.verified == ("derived" not in row.source and "assumes" not in row.source), row


def test_icelandic_rates_are_monthly_and_the_base_plus_seven() -> None:
    rows = jurisdictions()["IS"].interest_rates
    assert all(r.valid_from.day == 1 and (r.valid_to + timedelta(days=1)).day == 1 for r in rows)
    assert all(r.valid_from.month == r.valid_to.month for r in rows)
    # Figures read in Seðlabanki's notices (the 2023–24 rates the old table missed).
    assert rates.rate_on(jurisdictions()["IS"], date(2023, 9, 15)) == Decimal("16.50")
    assert rates.rate_on(jurisdictions()["IS"], date(2024, 1, 1)) == Decimal("17.00")
    assert rates.rate_on(jurisdictions()["IS"], date(2022, 2, 28)) == Decimal("9.75")
    assert rates.rate_on(jurisdictions()["IS"], date(2025, 5, 31)) == Decimal("15.50")


def test_norwegian_rates_change_only_on_1_january_and_1_july() -> None:
    pack = jurisdictions()["NO"]
    assert all((r.valid_from.month, r.valid_from.day) in {(1, 1), (7, 1)} for r in pack.interest_rates)
    assert rates.rate_on(pack, date(2023, 10, 1)) == Decimal("11.75")
    assert rates.rate_on(pack, date(2024, 3, 1)) == Decimal("12.50")


@pytest.mark.parametrize("code", ["EE", "EU"])
def test_estonian_and_eu_rates_are_the_ecb_rate_plus_eight(code: str) -> None:
    pack = jurisdictions()[code]
    assert all((r.valid_from.month, r.valid_from.day) in {(1, 1), (7, 1)} for r in pack.interest_rates)
    assert all(r.rate_pct >= 8 for r in pack.interest_rates)
    assert rates.rate_on(pack, date(2016, 3, 1)) == Decimal("8.05")  # MRO 0.05
    assert rates.rate_on(pack, date(2020, 6, 1)) == Decimal("8.00")  # MRO 0.00
    assert rates.rate_on(pack, date(2024, 2, 1)) == Decimal("12.50")  # MRO 4.50 on 1 Jan 2024


def test_runs_cut_at_every_rate_change_and_carry_forward_past_the_end() -> None:
    pack = jurisdictions()["NO"]
    runs = rates.runs(pack, date(2023, 6, 20), date(2027, 1, 5))
    assert runs[0] == (date(2023, 6, 20), date(2023, 7, 1), Decimal("10.75"))
    assert [b for b, _, _ in runs[1:]] == sorted(
        r.valid_from for r in pack.interest_rates if date(2023, 6, 20) < r.valid_from
    )
    assert runs[-1][1] == date(2027, 1, 6) and runs[-1][2] == pack.interest_rates[-1].rate_pct


def test_check_warns_before_a_table_ends_and_is_quiet_inside_it() -> None:
    pack = jurisdictions()["NO"]
    last = pack.interest_rates[-1].valid_to
    assert [f.level for f in rates.check(pack, last - timedelta(days=60)) if f.level != "note"] == []
    assert [f.level for f in rates.check(pack, last - timedelta(days=3)) if f.level != "note"] == ["warning"]
    assert [f.level for f in rates.check(pack, last + timedelta(days=1)) if f.level != "note"] == ["error"]


# Published reference rates (decision date → rate), each named in the rows' sources: Seðlabanki's
# meginvextir and the ECB's main refinancing rate. The rows must follow from them by the statutory
# formula, so a mistyped row fails here rather than in a debtor's letter.
MEGINVEXTIR = {
    date(2025, 3, 19): Decimal("7.75"),
    date(2025, 5, 21): Decimal("7.50"),
    date(2025, 11, 19): Decimal("7.25"),
    date(2026, 3, 18): Decimal("7.50"),
}
ECB_MRO = {
    date(2023, 9, 20): Decimal("4.50"),
    date(2024, 6, 12): Decimal("4.25"),
    date(2024, 12, 18): Decimal("3.15"),
    date(2025, 6, 11): Decimal("2.15"),
}


def _in_force(decisions: dict[date, Decimal], day: date) -> Decimal:
    return decisions[max(d for d in decisions if d <= day)]


def test_icelandic_rows_since_april_2025_are_meginvextir_plus_0_75_plus_7() -> None:
    # The monthly notice (about the 20th, after a decision that month) sets the next month's rate.
    for row in jurisdictions()["IS"].interest_rates:
        if row.valid_from < date(2025, 4, 1):
            continue
        before = row.valid_from - timedelta(days=1)
        notice = before.replace(day=22)
        assert row.rate_pct == _in_force(MEGINVEXTIR, notice) + Decimal("0.75") + 7, row


@pytest.mark.parametrize("code", ["EE", "EU"])
def test_estonian_and_eu_rows_since_2024_are_the_mro_on_the_first_day_plus_eight(code: str) -> None:
    for row in jurisdictions()[code].interest_rates:
        if row.valid_from >= date(2024, 1, 1):
            assert row.rate_pct == _in_force(ECB_MRO, row.valid_from) + 8, row
