"""Nets OCR giro parser: record layout, negative corrections and truncated files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from krafa_payments_ingest.parsers import BankFileError, detect_format, parse_bank_file


@dataclass
class Tx:
    amount_ore: int
    kid: str
    tx_type: str = "10"
    archive: str = "123456789"
    debit_account: str = "12345678903"
    settlement: str = "150124"
    bank_date: str = "140124"
    text: str | None = None


def record(text: str) -> str:
    assert len(text) == 80, (len(text), text)
    return text


def ocr_file(txs: list[Tx], *, account: str = "12029007290", newline: str = "\n") -> bytes:
    lines = [record("NY000010" + "00009000" + "0000002" + "00010780" + "0" * 49)]
    body: list[str] = [record("NY090020" + "000010780" + "0000002" + account + "0" * 45)]
    for n, tx in enumerate(txs, start=1):
        sign = "-" if tx.amount_ore < 0 else "0"
        body.append(
            record(
                f"NY09{tx.tx_type}30{n:07d}{tx.settlement}5013900000{sign}{abs(tx.amount_ore):017d}{tx.kid:>25}000000"
            )
        )
        body.append(
            record(
                f"NY09{tx.tx_type}31{n:07d}{'0' * 10}{tx.archive}{'0' * 7}{tx.bank_date}{tx.debit_account}{'0' * 22}"
            )
        )
        if tx.text is not None:
            body.append(record(f"NY09{tx.tx_type}32{n:07d}{tx.text:<40}{'0' * 25}"))
    total = sum(tx.amount_ore for tx in txs)
    body.append(record(f"NY090088{len(txs):08d}{len(body) + 1:08d}{abs(total):017d}" + "150124" * 3 + "0" * 21))
    lines += body
    lines.append(record(f"NY000089{len(txs):08d}{len(lines) + 1:08d}{abs(total):017d}150124" + "0" * 33))
    return (newline.join(lines) + newline).encode("ascii")


def test_credits_with_kid() -> None:
    data = ocr_file([Tx(12345, "1234567890"), Tx(400, "-12345678919001", tx_type="50")])
    assert detect_format(data) == "ocr"
    parsed = parse_bank_file(data)
    assert parsed.format == "ocr"
    assert parsed.account == "12029007290"
    first, second = parsed.entries
    assert first.amount_minor == 12345
    assert first.currency == "NOK"
    assert first.reference == "1234567890"
    assert first.booking_date == first.value_date == date(2024, 1, 15)
    assert first.bank_ref == "123456789"
    assert first.debtor_account == "12345678903"
    assert (first.entry_index, first.detail_index, first.line) == (1, 0, 3)
    assert second.reference == "-12345678919001"  # as printed
    assert (second.entry_index, second.line) == (2, 5)


def test_negative_correction_is_negative() -> None:
    entries = parse_bank_file(ocr_file([Tx(1000, "1"), Tx(-300, "2")])).entries
    assert [e.amount_minor for e in entries] == [1000, -300]


def test_free_text_record_and_crlf() -> None:
    data = ocr_file([Tx(500, "77", tx_type="20", text="Husleie januar")], newline="\r\n")
    (e,) = parse_bank_file(data).entries
    assert e.remittance_text == "Husleie januar"


def test_empty_kid_and_zero_account() -> None:
    (e,) = parse_bank_file(ocr_file([Tx(1, "", debit_account="0" * 11)])).entries
    assert e.reference is None
    assert e.debtor_account is None


def test_dos_end_of_file_marker() -> None:
    data = ocr_file([Tx(7, "5")], newline="\r\n") + b"\x1a"
    assert [e.amount_minor for e in parse_bank_file(data).entries] == [7]


def test_utf16_file() -> None:
    data = ocr_file([Tx(7, "5")]).decode("ascii").encode("utf-16")
    assert detect_format(data) == "ocr"
    assert [e.amount_minor for e in parse_bank_file(data).entries] == [7]


def test_records_without_line_breaks() -> None:
    data = ocr_file([Tx(1, "5")], newline="")
    assert [e.amount_minor for e in parse_bank_file(data).entries] == [1]


def test_truncated_record() -> None:
    data = ocr_file([Tx(1, "5")])
    lines = data.split(b"\n")
    lines[2] = lines[2][:60]
    with pytest.raises(BankFileError, match=r"line 3: OCR record is 60 characters long"):
        parse_bank_file(b"\n".join(lines))


def test_missing_transmission_end() -> None:
    data = ocr_file([Tx(1, "5")])
    truncated = b"\n".join(data.split(b"\n")[:-2])
    with pytest.raises(BankFileError, match="no transmission end record"):
        parse_bank_file(truncated)


def test_lost_transaction_is_detected_by_the_trailer() -> None:
    lines = ocr_file([Tx(1, "5"), Tx(2, "6")]).split(b"\n")
    del lines[4:6]  # the second transaction's two records
    with pytest.raises(BankFileError, match="announces 2 transactions"):
        parse_bank_file(b"\n".join(lines))


@pytest.mark.parametrize(
    ("position", "replacement", "message"),
    [
        (32, b"00000000000000x00", "line 3: OCR record: amount '00000000000000x00'"),
        (15, b"320124", "settlement date '320124' is not a date"),
        (31, b"+", None),  # '+' is read as positive
        (31, b"*", "amount sign '*'"),
    ],
)
def test_malformed_amount_record(position: int, replacement: bytes, message: str | None) -> None:
    lines = ocr_file([Tx(1, "5")]).split(b"\n")
    rec = lines[2]
    lines[2] = rec[:position] + replacement + rec[position + len(replacement) :]
    data = b"\n".join(lines)
    if message is None:
        assert parse_bank_file(data).entries[0].amount_minor == 1
    else:
        with pytest.raises(BankFileError, match=message):
            parse_bank_file(data)


def test_amount_item_2_is_required() -> None:
    lines = ocr_file([Tx(1, "5")]).split(b"\n")
    del lines[3]
    with pytest.raises(BankFileError):
        parse_bank_file(b"\n".join(lines))


def test_other_service_code_is_rejected() -> None:
    data = ocr_file([Tx(1, "5")]).replace(b"NY0910", b"NY2110")
    with pytest.raises(BankFileError, match="service code '21'"):
        parse_bank_file(data)
