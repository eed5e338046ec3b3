"""A creditor's contact list as the CSV claims-api applies: CSV passes through; an Excel workbook
(.xlsx) becomes CSV from its first sheet, row for row, so the line numbers in the report of
rejected rows are the sheet's row numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

XLSX_MAGIC = b"PK\x03\x04"
MAX_ROWS = 1_000_000


class UnreadableList(Exception):
    """The file is neither CSV text nor an Excel workbook we can read."""


def is_xlsx(filename: str, content: bytes) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm")) or content.startswith(XLSX_MAGIC)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a customer number typed as a number
    # One row stays one line: a line break inside a cell would shift every later line number.
    return " ".join(str(value).split())


def as_csv(filename: str, content: bytes) -> bytes:
    if not is_xlsx(filename, content):
        return content
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableList(f"not a readable Excel workbook: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for count, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if count > MAX_ROWS:
                raise UnreadableList(f"more than {MAX_ROWS} rows")
            writer.writerow([_cell(v) for v in row])
    finally:
        workbook.close()
    return out.getvalue().encode("utf-8")
