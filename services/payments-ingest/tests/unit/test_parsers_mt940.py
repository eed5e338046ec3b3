"""SWIFT MT940 parser: layouts, encodings, field 86 variants and malformed files."""

from __future__ import annotations

from datetime import date

import pytest
from krafa_payments_ingest.parsers import BankFileError, detect_format, parse_bank_file


def statement(*lines: str, currency: str = "EUR", closing: bool = True) -> str:
    head = [":20:STMT1", ":25:NL91ABNA0417164300", ":28C:1/1", f":60F:C240101{currency}100,00"]
    tail = [f":62F:C240131{currency}200,00"] if closing else []
    return "\n".join([*head, *lines, *tail, "-"]) + "\n"


def parse(text: str, encoding: str = "utf-8") -> list[tuple[int, date | None, str | None]]:
    parsed = parse_bank_file(text.encode(encoding))
    assert parsed.format == "mt940"
    return [(e.amount_minor, e.booking_date, e.bank_ref) for e in parsed.entries]


def test_basic_credit_and_debit() -> None:
    text = statement(
        ":61:2401150116C1234,56NTRFNONREF//BANK123",
        ":86:Payment invoice 42",
        ":61:240116D10,NTRFNONREF",
        ":86:outgoing",
    )
    assert detect_format(text.encode()) == "mt940"
    parsed = parse_bank_file(text.encode())
    assert parsed.account == "NL91ABNA0417164300"
    (e,) = parsed.entries
    assert e.amount_minor == 123456
    assert e.currency == "EUR"
    assert e.value_date == date(2024, 1, 15)
    assert e.booking_date == date(2024, 1, 16)
    assert e.bank_ref == "BANK123"
    assert e.remittance_text == "Payment invoice 42"
    assert (e.entry_index, e.detail_index, e.line) == (1, 0, 5)


@pytest.mark.parametrize(
    ("amount", "minor"),
    [("500,", 50000), ("500", 50000), ("79,7", 7970), ("0,01", 1), ("1000,00", 100000)],
)
def test_amount_shapes(amount: str, minor: int) -> None:
    assert parse(statement(f":61:240115C{amount}NTRFNONREF"))[0][0] == minor


def test_zero_decimal_currency() -> None:
    parsed = parse_bank_file(statement(":61:240115C1500,NTRFNONREF", currency="JPY").encode())
    assert [(e.amount_minor, e.currency) for e in parsed.entries] == [(1500, "JPY")]


@pytest.mark.parametrize(
    ("mark", "included"),
    [("C", True), ("RD", True), ("D", False), ("RC", False), ("CR", True), ("DR", False)],
)
def test_marks_and_funds_codes(mark: str, included: bool) -> None:
    got = parse(statement(f":61:240115{mark}10,00NTRFNONREF"))
    assert got == ([(1000, date(2024, 1, 15), None)] if included else [])


def test_reversal_of_a_credit_is_returned_apart_negative() -> None:
    """RC (a credit charged back, e.g. a SEPA return) is no credit, but the import needs it to
    undo the payment it reverses: it comes apart, negative, with its references; RD (a debit
    coming back) is money in, an ordinary credit."""
    parsed = parse_bank_file(
        statement(
            ":61:2401150115C10,00NTRFE2E-1//B-100",
            ":86:/EREF/E2E-1/REMI/STRD/CUR/RF18539007547034/",
            ":61:2401160116RC10,00NRTIE2E-1//B-200",
            ":86:/RTRN/MS03/EREF/E2E-1/REMI/STRD/CUR/RF18539007547034/",
            ":61:240117RCR5,00NRTINONREF",
            ":61:240117RD7,00NRTINONREF",
        ).encode()
    )
    assert [(e.amount_minor, e.reversal) for e in parsed.entries] == [(1000, False), (700, False)]
    first, second = parsed.reversals
    assert (first.amount_minor, first.reversal, first.bank_ref, first.end_to_end_id) == (-1000, True, "B-200", "E2E-1")
    assert (first.reference, first.booking_date, first.entry_index) == ("RF18539007547034", date(2024, 1, 16), 2)
    assert (second.amount_minor, second.bank_ref, second.entry_index) == (-500, None, 3)  # funds code R after RC


def test_entry_date_across_year_end() -> None:
    got = parse(statement(":61:2312310102C1,00NTRFREF", ":61:2401011231C2,00NTRFREF"))
    assert [g[1] for g in got] == [date(2024, 1, 2), date(2023, 12, 31)]


def test_swift_blocks_crlf_and_several_statements() -> None:
    block = (
        "{1:F01ASNBNL21XXXX0000000000}{2:O940ASNBNL21XXXXN}{3:}{4:\r\n"
        ":20:0000000000\r\n:25:NL81ASNB9999999999\r\n:28C:{n}/1\r\n:60F:C200101EUR0,00\r\n"
        ":61:2001050105C{n},00NIOBNL56ASNB9999999999\r\nname on the next line\r\n"
        ":86:NL56ASNB9999999999 name\r\n\r\nINTERNE OVERBOEKING\r\n\r\n"
        ":62F:C200101EUR0,00\r\n-}}{5:}}\r\n"
    )
    text = block.replace("{n}", "1").replace("}}", "}") + block.replace("{n}", "2").replace("}}", "}")
    parsed = parse_bank_file(text.encode())
    assert [e.amount_minor for e in parsed.entries] == [100, 200]
    assert parsed.entries[0].remittance_text == "NL56ASNB9999999999 name INTERNE OVERBOEKING"
    assert [e.entry_index for e in parsed.entries] == [1, 2]


def test_cp852_is_decoded() -> None:
    text = statement(":61:180417CF2066637,00N527", ":86:napi összevont utánvét")
    parsed = parse_bank_file(text.encode("cp852"))
    assert parsed.entries[0].remittance_text == "napi összevont utánvét"


def test_latin1_is_decoded() -> None:
    text = statement(":61:240115C1,00NTRFNONREF", ":86:Überweisung Müller für Rechnung")
    parsed = parse_bank_file(text.encode("latin-1"))
    assert parsed.entries[0].remittance_text == "Überweisung Müller für Rechnung"


def test_german_structured_86_with_sepa_keys() -> None:
    text = statement(
        ":61:2401150115CR100,00NTRFNONREF//55555",
        ":86:166?00GUTSCHR. UEBERW.?109310?20EREF+E2E-4711?21SVWZ+Rechnung 2024-",
        "17 Kunde 99?30COBADEFFXXX?31DE89370400440532013000?32Max Muster",
        "mann?34997",
    )
    (e,) = parse_bank_file(text.encode()).entries
    assert e.end_to_end_id == "E2E-4711"
    assert e.remittance_text == "Rechnung 2024-17 Kunde 99"
    assert e.debtor_name == "Max Mustermann"
    assert e.debtor_account == "DE89370400440532013000"
    assert e.bank_ref == "55555"


def test_dutch_structured_86_with_creditor_reference() -> None:
    text = statement(
        ":61:2401150115C25,00NTRFEREF//00000000001005",
        ":86:/EREF/E2E-9//CNTP/NL91ABNA0417164300/ABNANL2A/J. Jansen/Amsterdam/",
        "/REMI/STRD/CUR/RF18539007547034//",
    )
    (e,) = parse_bank_file(text.encode()).entries
    assert e.reference == "RF18539007547034"
    assert e.end_to_end_id == "E2E-9"
    assert e.debtor_account == "NL91ABNA0417164300"
    assert e.debtor_name == "J. Jansen"


def test_dutch_unstructured_remittance() -> None:
    text = statement(
        ":61:2401150115C25,00NTRFEREF",
        ":86:/EREF/NOTPROVIDED//CNTP/NL91ABNA0417164300/ABNANL2A/Jansen///REMI/USTD//factuur 12/",
    )
    (e,) = parse_bank_file(text.encode()).entries
    assert (e.remittance_text, e.end_to_end_id, e.reference) == ("factuur 12", None, None)


def test_wrapped_86_lines_are_glued() -> None:
    full = "X" * 60 + "ABCDE"  # a 65-character line runs on into the next one
    text = statement(":61:240115C1,00NTRFNONREF", f":86:{full}", "FGH short", "next")
    (e,) = parse_bank_file(text.encode()).entries
    assert e.remittance_text == full + "FGH short next"


@pytest.mark.parametrize(
    ("line61", "message"),
    [
        (":61:1312091209Cx,7FMSC01916//NONREF", "line 5: entry 1: field :61: amount 'x,7'"),
        (":61:131209C1,2,3NTRF", "amount '1,2,3' is not a number"),
        (":61:131209C1,001NTRF", "more decimals than EUR allows"),
        (":61:131309C1,00NTRF", "value date '131309' is not a date"),
        (":61:13120X", "value date '13120X' is not YYMMDD"),
        (":61:1312091399C1,00NTRF", "entry date '1399' is not MMDD"),
        (":61:131209X1,00NTRF", "debit/credit mark 'X1'"),
        (":61:131209C1,00", "transaction type '' is missing"),
        (":61:131209C,NTRF", "amount ',' is not a number"),
    ],
)
def test_malformed_field_61(line61: str, message: str) -> None:
    with pytest.raises(BankFileError, match=message) as info:
        parse_bank_file(statement(line61).encode())
    assert info.value.line == 5
    assert info.value.entry == 1


def test_truncated_statement_without_closing_balance() -> None:
    text = statement(":61:240115C1,00NTRFNONREF", closing=False)
    with pytest.raises(BankFileError, match="no closing balance"):
        parse_bank_file(text.encode())


def test_malformed_closing_balance() -> None:
    text = ":20:X\n:25:Y\n:61:240115C1,00NTRFNONREF\n:62F:C2401\n-\n"
    with pytest.raises(BankFileError, match=r"line 4: field :62F:"):
        parse_bank_file(text.encode())


@pytest.mark.parametrize("balance", [":60F:C240101EUR1x", ":60F:X240101EUR1,00", ":60F:C24"])
def test_malformed_balance(balance: str) -> None:
    text = statement(":61:240115C1,00NTRFNONREF").replace(":60F:C240101EUR100,00", balance)
    with pytest.raises(BankFileError, match="line 4: field :60F:"):
        parse_bank_file(text.encode())
