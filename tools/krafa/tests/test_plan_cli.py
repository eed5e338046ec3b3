"""`krafa plan` and `krafa rates check` from the command line, without a running stack."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from krafa.cli import main
from krafa_law import jurisdiction, rates


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


def test_plan_json_is_the_scheduler_dry_run_of_the_hypothetical_claim(capsys: pytest.CaptureFixture[str]) -> None:
    from krafa_scheduler import domain, policy

    code, out, _ = run(
        capsys, "plan", "--country", "IS", "--amount", "10000", "--currency", "ISK", "--due", "2026-09-01",
        "--final-due", "2026-09-11", "--json",
    )  # fmt: skip
    assert code == 0
    body = json.loads(out)
    assert body["policy"] == "is-default@2" and body["time_zone"] == "Atlantic/Reykjavik"
    pack = jurisdiction("IS")
    ctx = domain.hypothetical(
        pack, policy.default_policy("IS"), amount_minor=10_000, currency="ISK", due=date(2026, 9, 1),
        final_due=date(2026, 9, 11),
    )  # fmt: skip
    assert body["steps"] == [p.as_json("ISK") for p in domain.preview(ctx)]
    first = body["steps"][0]
    assert (first["notice_kind"], first["local_time"][:10], first["pay_by"]) == (
        "innheimtuvidvorun",
        "2026-09-21",
        "2026-10-01",
    )
    assert first["fees"] == [{"kind": "collection_fee", "amount_minor": 950}]
    # The total the debtor is told is the principal, every fee and the interest booked so far.
    fees = interest = 0
    for step in body["steps"]:
        fees += sum(f["amount_minor"] for f in step["fees"])
        interest = max(interest, step["interest_minor"])
        assert step["total_minor"] == 10_000 + fees + step["interest_minor"]


def test_plan_stops_when_the_claim_is_paid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", "--country", "NO", "--amount", "1000", "--currency", "NOK", "--due", "2026-03-02",
        "--pays-on", "2026-03-20", "--json",
    )  # fmt: skip
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["name"] for s in steps] == ["payment_reminder", "reminder_call", "purring"]
    assert all(s["local_time"][:10] < "2026-03-20" for s in steps)
    assert steps[0]["deliveries"] == [["sms"], ["email"]]
    assert steps[2]["fees"] == [{"kind": "reminder_fee", "amount_minor": 3750}]  # NOK 37.50 in øre


def test_plan_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", "--country", "EE", "--amount", "120.50", "--currency", "EUR", "--due", "2026-06-15"
    )
    assert code == 0
    assert "Meeldetuletus" in out and "120.50 EUR" in out and "Hoiatus enne" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--amount", "100.5", "--currency", "ISK"], "at most 0 decimals"),
        (["--amount", "-3", "--currency", "EUR"], "positive amount"),
        (["--amount", "ten", "--currency", "EUR"], "not a number"),
        (["--amount", "10", "--currency", "EUR", "--due", "2026-02-30"], "not a date"),
        (["--amount", "10", "--currency", "EUR", "--final-due", "2026-01-01"], "before the due date"),
        (["--amount", "10", "--currency", "EUR", "--policy", "no-such"], "no shipped policy"),
        (["--amount", "10", "--currency", "EUR", "--policy", "no-default"], "is for NO, the claim for IS"),
    ],
)
def test_plan_refuses_bad_input_clearly(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    args = ["plan", "--country", "IS", "--due", "2026-03-02", *argv]
    if "--due" in argv:
        args = ["plan", "--country", "IS", *argv]
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err, err


def test_rates_check_says_when_a_table_runs_past_its_last_row(capsys: pytest.CaptureFixture[str]) -> None:
    inside = min(jurisdiction(c).interest_rates[-1].valid_to for c in ("IS", "NO", "EE")) - timedelta(days=40)
    code, out, _ = run(capsys, "rates", "check", "--today", inside.isoformat(), "--json")
    assert code == 0
    assert {p["jurisdiction"] for p in json.loads(out)["packs"]} == {"EE", "EU", "IS", "NO"}
    past = jurisdiction("IS").interest_rates[-1].valid_to + timedelta(days=1)
    code, out, _ = run(capsys, "rates", "check", "--today", past.isoformat())
    assert code == 1
    assert "IS:" in out and "CARRIED FORWARD" in out and "past its last published row" in out
    assert rates.published(jurisdiction("NO"), past) is (past <= jurisdiction("NO").interest_rates[-1].valid_to)


def test_amounts_follow_the_one_iso_4217_table() -> None:
    from krafa.plan import PlanError, _minor

    # CLDR (babel) says IQD has no decimals; ISO 4217, the table every service reads, says three.
    assert _minor("10.125", "IQD") == (10125, 3)
    assert _minor("10", "ISK") == (10, 0)
    with pytest.raises(PlanError, match="not an ISO 4217 currency"):
        _minor("10", "XYZ")
