"""CSV exports read with a saved column mapping: every row an entry, or the file refused with
the line of its first bad row."""

from __future__ import annotations

from datetime import date

import pytest
from krafa_payments_ingest.parsers import BankFileError
from krafa_payments_ingest.parsers.csv_mapped import CsvColumns, CsvMapping, parse_csv

MAPPING = CsvMapping(
    CsvColumns(amount="Amount", booking_date="Date", default_currency="EUR", reference="Ref", remittance_text=3,
               bank_ref="Id"),
    delimiter=";", decimal_separator=",", date_format="%d.%m.%Y",
)  # fmt: skip
HEADER = b"Date;Amount;Text;Ref;Id\n"


def test_rows_become_entries_with_the_line_they_start_on() -> None:
    data = HEADER + b'05.03.2026;12,50;"two\nlines; quoted";RF18 5390;B1\n\n06.03.2026;-1;x;;B2\n'
    parsed = parse_csv(data, MAPPING)
    assert parsed.format == "csv"
    first, second = parsed.entries
    assert (first.amount_minor, first.currency, first.booking_date) == (1250, "EUR", date(2026, 3, 5))
    assert (first.reference, first.remittance_text, first.bank_ref, first.line) == (
        "RF18 5390", "two\nlines; quoted", "B1", 2,
    )  # fmt: skip
    assert (second.amount_minor, second.reference, second.line, second.entry_index) == (-100, None, 5, 2)


def test_columns_by_number_without_header_and_a_currency_column() -> None:
    mapping = CsvMapping(CsvColumns(amount=2, booking_date=1, currency=3), has_header=False)
    data = "\ufeff2026-03-05,1000,isk\n".encode()
    [entry] = parse_csv(data, mapping).entries
    assert (entry.amount_minor, entry.currency) == (1000, "ISK")


@pytest.mark.parametrize(
    ("row", "message"),
    [(b"05.03.2026;12x;a;b;c", "line 7: amount '12x' is not a number"),
     (b"05.03.2026;1,234;a;b;c", "line 7: amount '1,234' has more decimals than EUR allows (2)"),
     (b"2026-03-05;1;a;b;c", "line 7: booking_date '2026-03-05' does not match '%d.%m.%Y'"),
     (b"05.03.2026;;a;b;c", "line 7: amount is empty"),
     (b"05.03.2026", "line 7: amount: the row has 1 columns, not 2")],
)  # fmt: skip
def test_a_bad_row_fails_the_file_with_its_line(row: bytes, message: str) -> None:
    good = b"05.03.2026;1;a;b;c\n"
    with pytest.raises(BankFileError) as failed:
        parse_csv(HEADER + good * 5 + row + b"\n" + good, MAPPING)
    assert str(failed.value) == message
    assert failed.value.line == 7


def test_a_header_without_a_mapped_column_is_refused() -> None:
    with pytest.raises(BankFileError, match="line 1: the header has no column 'Amount'"):
        parse_csv(b"Date;Sum\n05.03.2026;1\n", MAPPING)


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [(CsvMapping(CsvColumns(amount="a", booking_date="b")), "currency or default_currency"),
     (CsvMapping(CsvColumns(amount="a", booking_date="b", default_currency="EUR"), has_header=False), "has_header"),
     (CsvMapping(CsvColumns(amount=0, booking_date=1, default_currency="EUR")), "start at 1"),
     (CsvMapping(CsvColumns(amount=1, booking_date=2, default_currency="EUR"), decimal_separator=","), "differ"),
     (CsvMapping(CsvColumns(amount=1, booking_date=2, default_currency="eur")), "ISO 4217")],
)  # fmt: skip
def test_unusable_mappings_are_named(mapping: CsvMapping, problem: str) -> None:
    assert any(problem in found for found in mapping.problems())
