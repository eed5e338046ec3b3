"""CSV bank exports read with a saved column mapping (stdlib ``csv``).

A mapping names, for each field, a column: its header (``has_header``) or its 1-based number.
Amounts are decimal strings with the mapping's decimal separator and an optional sign (``-``
is a correction); the currency comes from a column or the mapping's default. Every row is one
entry; empty rows are skipped. Any bad row fails the whole file with its line number
(``line 7: amount '12x' is not a number``): nothing of a malformed file is applied.

The text is UTF-8 (with or without BOM), else Windows-1252.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from krafa_payments_ingest.parsers import (
    BankEntry,
    BankFileError,
    ParsedBankFile,
    check_currency,
    decimal_to_minor,
)

FORMAT = "csv"
Column = str | int  # a header name, or a 1-based column number


@dataclass(frozen=True, slots=True)
class CsvColumns:
    amount: Column
    booking_date: Column
    currency: Column | None = None
    default_currency: str | None = None  # a value, used when there is no currency column or it is empty
    reference: Column | None = None
    remittance_text: Column | None = None
    bank_ref: Column | None = None


@dataclass(frozen=True, slots=True)
class CsvMapping:
    columns: CsvColumns
    delimiter: str = ","
    decimal_separator: str = "."
    date_format: str = "%Y-%m-%d"  # strptime
    has_header: bool = True

    def problems(self) -> list[str]:
        """What makes the mapping unusable (empty when it is fine)."""
        found = []
        if len(self.delimiter) != 1 or self.delimiter in '\r\n"':
            found.append("delimiter must be one character, not a quote or line break")
        if self.decimal_separator not in (".", ","):
            found.append("decimal_separator must be '.' or ','")
        if self.decimal_separator == self.delimiter:
            found.append("decimal_separator and delimiter must differ")
        if "%" not in self.date_format:
            found.append("date_format must be a strptime format such as %d.%m.%Y")
        cols = self.columns
        if cols.currency is None and cols.default_currency is None:
            found.append("columns need currency or default_currency")
        if cols.default_currency is not None:
            try:
                check_currency(cols.default_currency)
            except ValueError as exc:
                found.append(f"default_currency: {exc}")
        for name in ("amount", "booking_date", "currency", "reference", "remittance_text", "bank_ref"):
            column = getattr(cols, name)
            if isinstance(column, int) and column < 1:
                found.append(f"columns.{name}: column numbers start at 1")
            if isinstance(column, str) and not self.has_header:
                found.append(f"columns.{name}: a column name needs has_header")
        return found


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_csv(data: bytes, mapping: CsvMapping) -> ParsedBankFile:
    """Every row of the CSV as a BankEntry; raises BankFileError naming the line of a bad row."""
    if problems := mapping.problems():
        raise BankFileError("; ".join(problems))
    reader = csv.reader(io.StringIO(_decode(data), newline=""), delimiter=mapping.delimiter, strict=True)
    positions: dict[str, int] = {}
    entries: list[BankEntry] = []
    previous_end = 0
    try:
        for row in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if mapping.has_header and not positions and not entries:
                positions = _header(row, mapping, line)
                continue
            entries.append(_entry(row, mapping, positions, line, len(entries) + 1))
    except csv.Error as exc:
        raise BankFileError(f"unreadable CSV: {exc}", line=reader.line_num) from exc
    if mapping.has_header and not positions:
        raise BankFileError("the file has no header row")
    return ParsedBankFile(format=FORMAT, account=None, entries=tuple(entries))


def _header(row: list[str], mapping: CsvMapping, line: int) -> dict[str, int]:
    positions = {cell.strip().casefold(): i for i, cell in reversed(list(enumerate(row)))}
    cols = mapping.columns
    for column in (cols.amount, cols.booking_date, cols.currency, cols.reference, cols.remittance_text, cols.bank_ref):
        if isinstance(column, str) and column.strip().casefold() not in positions:
            raise BankFileError(f"the header has no column {column!r}", line=line)
    return positions


def _cell(row: list[str], column: Column | None, positions: dict[str, int], what: str, line: int) -> str | None:
    if column is None:
        return None
    index = column - 1 if isinstance(column, int) else positions[column.strip().casefold()]
    if index >= len(row):
        raise BankFileError(f"{what}: the row has {len(row)} columns, not {index + 1}", line=line)
    value = row[index].strip()
    return value or None


def _entry(row: list[str], mapping: CsvMapping, positions: dict[str, int], line: int, number: int) -> BankEntry:
    cols = mapping.columns

    def cell(column: Column | None, what: str) -> str | None:
        return _cell(row, column, positions, what, line)

    currency = (cell(cols.currency, "currency") or cols.default_currency or "").upper()
    try:
        check_currency(currency)
    except ValueError as exc:
        raise BankFileError(str(exc), line=line) from exc
    raw_amount = cell(cols.amount, "amount")
    if raw_amount is None:
        raise BankFileError("amount is empty", line=line)
    sign = -1 if raw_amount.startswith("-") else 1
    try:
        amount = sign * decimal_to_minor(raw_amount.lstrip("-"), currency, separator=mapping.decimal_separator)
    except ValueError as exc:
        raise BankFileError(str(exc).replace(repr(raw_amount.lstrip("-")), repr(raw_amount)), line=line) from exc
    raw_date = cell(cols.booking_date, "booking_date")
    if raw_date is None:
        raise BankFileError("booking_date is empty", line=line)
    try:
        booked: date = datetime.strptime(raw_date, mapping.date_format).date()
    except ValueError as exc:
        raise BankFileError(f"booking_date {raw_date!r} does not match {mapping.date_format!r}", line=line) from exc
    return BankEntry(
        amount_minor=amount,
        currency=currency,
        booking_date=booked,
        value_date=booked,
        reference=cell(cols.reference, "reference"),
        remittance_text=cell(cols.remittance_text, "remittance_text"),
        bank_ref=cell(cols.bank_ref, "bank_ref"),
        end_to_end_id=None,
        debtor_name=None,
        debtor_account=None,
        entry_index=number,
        detail_index=0,
        line=line,
    )
