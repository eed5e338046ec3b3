"""Nets OCR giro (Norwegian "OCR-fil"): fixed-width 80-character records.

Layout (1-based positions)::

    all records      1-2 "NY", 3-4 service code, 5-6 transaction/assignment type, 7-8 record type
    10 transmission start   9-16 data transmitter, 17-23 transmission no, 24-31 data recipient
    20 assignment start     9-17 agreement id, 18-24 assignment no, 25-35 account
    30 amount item 1        9-15 transaction no, 16-21 settlement date DDMMYY, 32 sign ('-'),
                            33-49 amount in ore, 50-74 KID
    31 amount item 2        9-15 transaction no, 16-25 form no, 26-34 archive reference,
                            42-47 bank date DDMMYY, 48-58 debit account
    32 amount item 3        9-15 transaction no, 16-55 free text (some transaction types)
    88 assignment end       9-16 transactions, 17-24 records, 25-41 sum in ore, 42-47 date
    89 transmission end     9-16 transactions, 17-24 records, 25-41 sum in ore, 42-47 date

Every transaction type is accepted (Vipps settlement files use type 50, which is not in the
Nets list). A negative amount (sign '-') is a correction and is returned negative. The
record counts and sums in the end records are checked, so a truncated file is an error.
``booking_date`` and ``value_date`` are both the settlement date (the day the money is on
the account); ``bank_ref`` is the archive reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from krafa_payments_ingest.parsers import (
    BankEntry,
    BankFileError,
    ParsedBankFile,
    two_digit_year,
)

_RECORD_LEN = 80
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
_OCR_SERVICE = "09"

_Fail = Callable[[str], BankFileError]


def _digits(text: str | bytes) -> bool:
    return text.isascii() and text.isdigit()


def _failer(line_no: int) -> _Fail:
    return lambda reason: BankFileError(f"OCR record: {reason}", line=line_no)


def looks_like_ocr(data: bytes) -> bool:
    """True if the first record is a Nets transmission or assignment start record."""
    text = data.lstrip(b"\xef\xbb\xbf").lstrip()
    first = text[:_RECORD_LEN]
    return (
        first.startswith(b"NY") and first[6:8] in (b"10", b"20") and _digits(first[2:8]) and len(first) == _RECORD_LEN
    )


@dataclass
class _Tx:
    index: int
    line: int
    number: str
    settlement: date
    amount: int
    kid: str | None
    archive: str | None = None
    bank_date: date | None = None
    debit_account: str | None = None
    text: str | None = None
    has_item2: bool = False


@dataclass
class _Assignment:
    line: int
    account: str | None
    records: int = 1
    txs: list[_Tx] = field(default_factory=list)


def parse_ocr(data: bytes) -> ParsedBankFile:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace").lstrip("\ufeff")
    else:  # the records are ASCII; latin-1 maps every byte, so nothing can fail here
        text = data.decode("latin-1").lstrip("\xef\xbb\xbf")
    records = _records(text)
    if not records:
        raise BankFileError("empty OCR file")
    entries: list[_Tx] = []
    accounts: list[str | None] = []
    transmission_started = False
    transmission_ended = False
    transmission_records = 0
    assignment: _Assignment | None = None
    all_txs: list[_Tx] = []
    index = 0

    for line_no, rec in records:
        fail = _failer(line_no)
        if transmission_ended:
            raise fail("data after the transmission end record (type 89)")
        service, rtype = rec[2:4], rec[6:8]
        transmission_records += 1
        if rtype == "10":
            if transmission_started:
                raise fail("second transmission start record (type 10)")
            transmission_started = True
            continue
        if not transmission_started:
            raise fail("file does not start with a transmission start record (type 10)")
        if rtype == "89":
            if assignment is not None:
                raise fail("transmission ends inside an open assignment")
            _check_trailer(rec, all_txs, transmission_records, fail, "transmission end (type 89)")
            transmission_ended = True
            continue
        if service != _OCR_SERVICE:
            raise fail(f"service code {service!r} is not OCR giro ({_OCR_SERVICE})")
        if rtype == "20":
            if assignment is not None:
                raise fail("assignment start (type 20) inside an open assignment")
            account = rec[24:35].strip() or None
            assignment = _Assignment(line=line_no, account=account)
            accounts.append(account)
            continue
        if assignment is None:
            raise fail(f"record type {rtype!r} outside an assignment")
        assignment.records += 1
        if rtype == "88":
            _check_trailer(rec, assignment.txs, assignment.records, fail, "assignment end (type 88)")
            assignment = None
            continue
        number = rec[8:15]
        if rtype == "30":
            index += 1
            tx = _amount_item_1(rec, number, index, line_no, fail)
            assignment.txs.append(tx)
            all_txs.append(tx)
            entries.append(tx)
            continue
        current = assignment.txs[-1] if assignment.txs else None
        if current is None or current.number != number:
            raise fail(f"record type {rtype} for transaction {number!r} has no amount item 1")
        if rtype == "31":
            current.archive = rec[25:34].strip() or None
            current.bank_date = _ddmmyy(rec[41:47], fail, "bank date", optional=True)
            account = rec[47:58].strip()
            current.debit_account = account if account.strip("0") else None
            current.has_item2 = True
        elif rtype == "32":
            current.text = " ".join(rec[15:55].split()) or None
        else:
            raise fail(f"unknown record type {rtype!r}")

    if not transmission_ended:
        raise BankFileError(
            "no transmission end record (type 89); the file looks truncated",
            line=records[-1][0],
        )
    for tx in entries:
        if not tx.has_item2:
            raise BankFileError(
                f"transaction {tx.number} has no amount item 2 (type 31)",
                line=tx.line,
                entry=tx.index,
            )
    distinct = set(accounts)
    return ParsedBankFile(
        format="ocr",
        account=accounts[0] if len(distinct) == 1 else None,
        entries=tuple(
            BankEntry(
                amount_minor=tx.amount,
                currency="NOK",
                booking_date=tx.settlement,
                value_date=tx.settlement,
                reference=tx.kid,
                remittance_text=tx.text,
                bank_ref=tx.archive,
                end_to_end_id=None,
                debtor_name=None,
                debtor_account=tx.debit_account,
                entry_index=tx.index,
                detail_index=0,
                line=tx.line,
            )
            for tx in entries
        ),
    )


def _records(text: str) -> list[tuple[int, str]]:
    lines = _LINE_SPLIT.split(text)
    if len(lines) == 1 and len(text) > _RECORD_LEN and len(text) % _RECORD_LEN == 0:
        # records without line breaks: one line holding n x 80 characters
        return [(1, text[i : i + _RECORD_LEN]) for i in range(0, len(text), _RECORD_LEN)]
    out: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(" \t\x00\x1a"):  # blank lines, NUL padding, DOS end-of-file
            continue
        if len(line) != _RECORD_LEN:
            raise BankFileError(
                f"OCR record is {len(line)} characters long, not {_RECORD_LEN} (truncated?)",
                line=number,
            )
        if not line.startswith("NY") or not _digits(line[2:8]):
            raise BankFileError(
                f"OCR record {line[:8]!r} does not start with 'NY' and a numeric record code",
                line=number,
            )
        out.append((number, line))
    return out


def _amount_item_1(rec: str, number: str, index: int, line_no: int, fail: _Fail) -> _Tx:
    if not _digits(number):
        raise fail(f"transaction number {number!r} is not a number")
    settlement = _ddmmyy(rec[15:21], fail, "settlement date")
    assert settlement is not None
    sign_char = rec[31]
    digits = rec[32:49]
    if not _digits(digits):
        raise fail(f"amount {digits!r} is not a number")
    amount = int(digits)
    if sign_char == "-":
        amount = -amount
    elif sign_char not in "0 +":
        raise fail(f"amount sign {sign_char!r} is neither '-' nor '0'")
    kid = "".join(rec[49:74].split()) or None
    return _Tx(index=index, line=line_no, number=number, settlement=settlement, amount=amount, kid=kid)


def _ddmmyy(text: str, fail: _Fail, what: str, *, optional: bool = False) -> date | None:
    if optional and text.strip("0 ") == "":
        return None
    if not _digits(text):
        raise fail(f"{what} {text!r} is not DDMMYY")
    try:
        return date(two_digit_year(int(text[4:6])), int(text[2:4]), int(text[0:2]))
    except ValueError as exc:
        raise fail(f"{what} {text!r} is not a date") from exc


def _check_trailer(rec: str, txs: list[_Tx], records: int, fail: _Fail, what: str) -> None:
    n_tx, n_records, total = rec[8:16], rec[16:24], rec[24:41]
    if not (_digits(n_tx) and _digits(n_records) and _digits(total)):
        raise fail(f"{what}: counts or sum are not numbers")
    if int(n_tx) != len(txs):
        raise fail(f"{what} announces {int(n_tx)} transactions, the file has {len(txs)}")
    if int(n_records) != records:
        raise fail(f"{what} announces {int(n_records)} records, the file has {records}")
    signed = sum(tx.amount for tx in txs)
    unsigned = sum(abs(tx.amount) for tx in txs)
    if int(total) not in (signed, unsigned, abs(signed)):
        raise fail(f"{what} announces a sum of {int(total)} ore, the transactions sum to {signed}")
