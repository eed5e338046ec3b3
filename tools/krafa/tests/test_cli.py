"""The operator commands that read files: what the handler and the importer would conclude."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from krafa.cli import main
from krafa_kit.testing import shared_dir


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_bounces_parse_json_names_the_failed_recipient(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bounces", "parse", str(shared_dir() / "corpus/bounces/flufl_dsn_10.eml"), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["is_bounce"] is True
    assert report["recipients"][0]["address"] == "anne.person@dom.ain"
    assert report["recipients"][0]["kind"] == "hard"


def test_bounces_parse_says_an_auto_reply_is_not_a_bounce(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bounces", "parse", str(shared_dir() / "corpus/bounces/rjbs_aol-vacation.eml")], capsys)
    assert code == 0 and "not a bounce" in out


def test_payments_parse_json_lists_credits_in_minor_units(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_dir() / "corpus/bank/ch_postfinance_test_camt054_v04.xml"
    code, out = run(["payments", "parse", str(path), "--json"], capsys)
    parsed = json.loads(out)
    assert code == 0 and parsed["format"] == "camt.054"
    assert all(isinstance(e["amount_minor"], int) for e in parsed["entries"])
    assert set(parsed["entries"][0]) >= {
        "amount_minor",
        "currency",
        "booking_date",
        "value_date",
        "reference",
        "remittance_text",
        "bank_ref",
    }


def test_payments_parse_rejects_a_malformed_file_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.sta"
    bad.write_text(
        ":20:X\n:25:ACC\n:28C:1\n:60F:C200101EUR1,00\n:61:2001010101CR12x,00NTRFNONREF\n:62F:C200101EUR1,00\n"
    )
    code, out = run(["payments", "parse", str(bad)], capsys)
    assert code == 1
    assert "line 5" in out


def _bounce_manifest() -> list[dict[str, object]]:
    manifest = json.loads((shared_dir() / "corpus/bounces/manifest.json").read_text())
    return list(manifest["files"])


@pytest.mark.parametrize("entry", _bounce_manifest(), ids=lambda e: Path(str(e["file"])).name)
def test_bounces_parse_cli_agrees_with_the_corpus_manifest(
    entry: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(["bounces", "parse", str(shared_dir() / str(entry["file"])), "--json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["is_bounce"] == entry["is_bounce"]
    expected = {str(r["address"]).lower(): r["class"] for r in entry["expected_failed_recipients"]}  # type: ignore[attr-defined]
    assert {r["address"].lower(): r["kind"] for r in report["recipients"]} == expected
