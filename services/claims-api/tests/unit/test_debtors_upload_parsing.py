"""Reading contact lists without a database: CSV (either separator), JSON arrays read one element
at a time with line numbers, NDJSON, and the row rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from krafa_claims_api.debtors import domain, uploads

CONSENT = domain.Consent(source="creditor upload", terms_version="v1")


def read(tmp_path: Path, content: str | bytes, fmt: str) -> list[tuple[int, object]]:
    path = tmp_path / "list"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return list(uploads.records(str(path), fmt))


def test_csv_rows_carry_their_line_numbers_with_either_separator(tmp_path: Path) -> None:
    text = '\ufeffCustomer_No;Name;Email\nC-1;"Jón; yngri";a@example.is\n\nC-2;"Two\nlines";b@example.is\nC-3;x\n'
    rows = read(tmp_path, text, "csv")
    assert [(line, item) for line, item in rows if isinstance(item, dict)] == [
        (2, {"customer_no": "C-1", "name": "Jón; yngri", "email": "a@example.is"}),
        (4, {"customer_no": "C-2", "name": "Two\nlines", "email": "b@example.is"}),
    ]
    assert [line for line, item in rows if isinstance(item, domain.InvalidValue)] == [6]
    assert [line for line, _ in read(tmp_path, "customer_no,email\nC-1,a@example.is\n", "csv")] == [2]
    with pytest.raises(uploads.UploadFormatError):
        read(tmp_path, "name,email\nx,y\n", "csv")


def test_json_arrays_are_read_element_by_element(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "READ_BLOCK", 7)  # elements straddle read blocks
    items = [{"customer_no": f"C-{i}", "amount": 12345678901234567890} for i in range(5)] + [[1, 2]]
    text = json.dumps(items, indent=1)
    rows = read(tmp_path, text, "json")
    assert [item for _, item in rows[:5]] == items[:5]
    assert isinstance(rows[5][1], domain.InvalidValue)
    lines = text.splitlines()
    assert all(lines[line - 1].strip() in ("{", "[") for line, _ in rows)
    assert [line for line, _ in read(tmp_path, '[{"customer_no":"A"},{"customer_no":"B"}]', "json")] == [1, 1]
    assert read(tmp_path, " [ ] ", "json") == []
    for broken in ('{"customer_no": "A"}', '[{"customer_no": "A"}', '[{"customer_no": }]'):
        with pytest.raises(uploads.UploadFormatError):
            read(tmp_path, broken, "json")


def test_ndjson_lines(tmp_path: Path) -> None:
    rows = read(tmp_path, '{"customer_no": "A"}\n\n[1]\n{oops\n', "ndjson")
    assert [line for line, _ in rows] == [1, 3, 4]
    assert isinstance(rows[1][1], domain.InvalidValue) and isinstance(rows[2][1], domain.InvalidValue)


def test_a_row_becomes_a_validated_upsert() -> None:
    row = uploads.parse_row(
        {
            "customer_no": "C-1",
            "name": "Jón",
            "country": "is",
            "national_id": "120174-3399",
            "email": "jon@Example.is",
            "phone": "5551234",
            "netbank": "já",
            "verified": "yes",
            "address_line1": "Laugavegur 1",
            "postcode": "101",
            "city": "Reykjavík",
            "customer_class": "Gold",
            "credit_limit_minor": "50000",
            "credit_limit_currency": "isk",
            "terms_version": "v2",
        },
        2,
        default_country="NO",
        consent=CONSENT,
    )
    assert row.line == 2 and row.customer_no == "C-1"
    assert row.master["national_id"] == "1201743399" and row.master["customer_class"] == "gold"
    assert row.master["address"] == {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"}
    assert [(o.kind, o.value) for o in row.offers] == [
        ("email", "jon@example.is"),
        ("phone", "+3545551234"),
        ("netbank", ""),
    ]
    assert row.offers[0].verified is True and row.offers[0].consent == domain.Consent("creditor upload", None, "v2")
    # A known debtor needs only its customer number; the phone is read in the creditor's country.
    minimal = uploads.parse_row({"customer_no": "C-2", "phone": "41234567"}, 3, default_country="NO", consent=CONSENT)
    assert minimal.master == {} and minimal.offers[0].value == "+4741234567"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"name": "x"}, "customer_no"),
        ({"customer_no": "C", "email": "nope"}, "email"),
        ({"customer_no": "C", "kind": "robot"}, "kind"),
        ({"customer_no": "C", "language": "de"}, "language"),
        ({"customer_no": "C", "verified": "maybe", "email": "a@example.is"}, "verified"),
        ({"customer_no": "C", "credit_limit_minor": "12.5", "credit_limit_currency": "ISK"}, "credit_limit_minor"),
        ({"customer_no": "C", "credit_limit_minor": "100"}, "credit_limit_currency"),
        ({"customer_no": "C", "overdue_block_days": "0"}, "overdue_block_days"),
        ({"customer_no": "C", "consent_at": "2026-01-01T10:00:00"}, "consent_at"),
        ({"customer_no": "C", "name": {"first": "x"}}, "name"),
        ({"customer_no": "C", "colour": "blue"}, "colour"),
    ],
)
def test_bad_rows_name_the_field(record: dict[str, object], field: str) -> None:
    with pytest.raises(domain.InvalidValue) as raised:
        uploads.parse_row(record, 2, default_country="IS", consent=CONSENT)
    assert raised.value.field == field


def test_nul_characters_are_refused_before_the_database() -> None:
    for record in ({"customer_no": "C\x00"}, {"customer_no": "C", "address": {"lines": ["a\x00"], "country": "IS"}}):
        with pytest.raises(domain.InvalidValue) as raised:
            uploads.parse_row(record, 2, default_country="IS", consent=CONSENT)
        assert "NUL" in raised.value.message and "\x00" not in raised.value.field
