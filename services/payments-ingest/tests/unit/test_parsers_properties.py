"""Properties of the CSV and MT940 readers beside test_parsers_fuzz.py (which throws any bytes at
the bank-file parsers): any bytes read as CSV with a saved mapping give entries or a
BankFileError, never another exception or a hang; and what a writer of each format puts in a
file is what the parser reads back (CSV rows, MT940 :61:/:86: pairs, RC reversals apart)."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krafa_payments_ingest.parsers import BankFileError, ParsedBankFile, format_minor, parse_bank_file
from krafa_payments_ingest.parsers.csv_mapped import CsvColumns, CsvMapping, parse_csv

LIMIT_SECONDS = 2.0
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAPPINGS = [
    CsvMapping(
        CsvColumns(amount="Amount", booking_date="Date", default_currency="EUR", reference="Ref",
                   remittance_text=3, bank_ref="Id"),
        delimiter=";", decimal_separator=",", date_format="%d.%m.%Y",
    ),
    CsvMapping(CsvColumns(amount=2, booking_date=1, currency=3, reference=4), has_header=False),
]  # fmt: skip


def check_csv(data: bytes, mapping: CsvMapping) -> None:
    started = time.perf_counter()
    try:
        parsed = parse_csv(data, mapping)
    except BankFileError as exc:
        assert exc.line is None or exc.line >= 1
    else:
        assert isinstance(parsed, ParsedBankFile)
        assert all(isinstance(e.amount_minor, int) and len(e.currency) == 3 for e in parsed.entries)
        parsed.to_json_dict()
    assert time.perf_counter() - started < LIMIT_SECONDS


@QUICK
@given(mapping=st.sampled_from(MAPPINGS), data=st.binary(max_size=800))
def test_any_bytes_as_csv(mapping: CsvMapping, data: bytes) -> None:
    check_csv(data, mapping)


CSV_ALPHABET = [*';,."\r\n-0123456789 ', "EUR", "ISK", "Date", "Amount", "Ref", "Id", "05.03.2026", "\ufeff"]


@QUICK
@given(mapping=st.sampled_from(MAPPINGS), parts=st.lists(st.sampled_from(CSV_ALPHABET), max_size=120))
def test_csv_like_text(mapping: CsvMapping, parts: list[str]) -> None:
    header = "Date;Amount;Text;Ref;Id\n" if mapping.has_header else ""
    check_csv((header + "".join(parts)).encode(), mapping)


# A row written by a bank's CSV export: text fields with any printable characters, quotes,
# delimiters and line breaks in them (the csv module quotes them).
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(';,"\n'), max_size=40)
row = st.tuples(
    st.integers(min_value=-(10**12), max_value=10**12),  # minor units; negative is a correction
    st.dates(min_value=date(2000, 1, 1), max_value=date(2079, 12, 31)),
    text.filter(lambda t: bool(t.strip())),  # an all-blank row would be skipped as empty
    st.from_regex(r"RF[0-9]{2}[0-9A-Z]{1,21}", fullmatch=True),
    st.from_regex(r"[A-Z0-9-]{1,20}", fullmatch=True),
)


@ROUND_TRIP
@given(rows=st.lists(row, max_size=15))
def test_csv_round_trip(rows: list[tuple[int, date, str, str, str]]) -> None:
    mapping = MAPPINGS[0]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Date", "Amount", "Text", "Ref", "Id"])
    for amount, day, remittance, reference, bank_ref in rows:
        sign = "-" if amount < 0 else ""
        written = sign + format_minor(abs(amount), "EUR").replace(".", ",")
        writer.writerow([day.strftime("%d.%m.%Y"), written, remittance, reference, bank_ref])
    parsed = parse_csv(out.getvalue().encode(), mapping)
    got = [(e.amount_minor, e.booking_date, e.remittance_text, e.reference, e.bank_ref) for e in parsed.entries]
    # Cells are read stripped of surrounding white space.
    assert got == [(amount, day, text.strip(), ref, bank_ref) for amount, day, text, ref, bank_ref in rows]


mt940_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(lambda c: c not in ":-{}?/"), max_size=60
)
mt940_entry = st.tuples(
    st.sampled_from(["C", "RD", "D", "RC"]),
    st.integers(min_value=1, max_value=10**11),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2079, 12, 1)),
    st.from_regex(r"B[A-Z0-9]{1,14}", fullmatch=True),  # bank reference
    mt940_text.filter(lambda t: bool(t.strip())),
)


@ROUND_TRIP
@given(entries=st.lists(mt940_entry, min_size=1, max_size=12), currency=st.sampled_from(["EUR", "ISK", "NOK"]))
def test_mt940_round_trip(entries: list[tuple[str, int, date, str, str]], currency: str) -> None:
    """Credits (C, RD) come back as entries, RC charge-backs apart and negative, D not at all."""
    lines = [":20:STMT", ":25:NL91ABNA0417164300", ":28C:1/1", f":60F:C000101{currency}0,"]
    for mark, amount, day, bank_ref, remittance in entries:
        value = format_minor(amount, currency).replace(".", ",")
        lines.append(f":61:{day:%y%m%d}{day + timedelta(days=1):%m%d}{mark}{value}NTRFNONREF//{bank_ref}")
        lines.append(f":86:{remittance}")
    lines += [f":62F:C000101{currency}0,", "-"]
    parsed = parse_bank_file(("\r\n".join(lines) + "\r\n").encode())
    expected = [
        (amount, day + timedelta(days=1), bank_ref, " ".join(remittance.split()))
        for mark, amount, day, bank_ref, remittance in entries
        if mark in ("C", "RD")
    ]
    got = [(e.amount_minor, e.booking_date, e.bank_ref, e.remittance_text) for e in parsed.entries]
    assert got == expected
    charged_back = [(-amount, bank_ref) for mark, amount, _, bank_ref, _ in entries if mark == "RC"]
    assert [(e.amount_minor, e.bank_ref) for e in parsed.reversals] == charged_back
    assert all(e.reversal for e in parsed.reversals) and not any(e.reversal for e in parsed.entries)
