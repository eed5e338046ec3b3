"""An Excel contact list becomes the CSV claims-api applies, row for row (the report's line
numbers are the sheet's row numbers); CSV passes through; anything else is refused clearly."""

from __future__ import annotations

import io

import pytest
from krafa_web.contact_lists import UnreadableList, as_csv
from openpyxl import Workbook


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_excel_list_becomes_csv_row_for_row() -> None:
    content = workbook(
        [
            ["customer_no", "name", "email", "phone"],
            [1007.0, "Lilja\nGuðmundsdóttir", "lilja@example.is", "+3546991234"],
            ["C-0108", "Sara, Björk", None, None],
        ]
    )
    lines = as_csv("Viðskiptavinir.xlsx", content).decode().splitlines()
    assert lines == [
        "customer_no,name,email,phone",
        "1007,Lilja Guðmundsdóttir,lilja@example.is,+3546991234",  # a number stays a number; one line a row
        'C-0108,"Sara, Björk",,',
    ]


def test_csv_passes_through_and_a_broken_workbook_is_refused() -> None:
    text = b"customer_no,email\nC-1,a@b.is\n"
    assert as_csv("list.csv", text) == text
    with pytest.raises(UnreadableList):
        as_csv("list.xlsx", b"PK\x03\x04 not really a zip")
