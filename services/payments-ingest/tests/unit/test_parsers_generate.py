"""camt generator: output round-trips through parse_bank_file to the same entries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from krafa_payments_ingest.parsers import BankEntry, detect_format, parse_bank_file
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt053, camt054

CREATED = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
IBAN = "NO9386011117947"


def as_generated(entry: BankEntry) -> GeneratedCredit:
    assert entry.booking_date is not None
    assert entry.value_date == entry.booking_date
    return GeneratedCredit(
        amount_minor=entry.amount_minor,
        currency=entry.currency,
        reference=entry.reference,
        booking_date=entry.booking_date,
        bank_ref=entry.bank_ref,
        debtor_name=entry.debtor_name,
    )


SAMPLE = [
    GeneratedCredit(123456, "NOK", "1234567890128", date(2024, 5, 1), "ARK-1", "Ola Nordmann"),
    GeneratedCredit(1, "EUR", "RF18539007547034", date(2024, 5, 2), "X&<>\"'", "Åse & <Bø>"),
    GeneratedCredit(0, "SEK", None, date(2024, 5, 2), None),
    GeneratedCredit(1500, "JPY", "A", date(2023, 12, 31), "J"),
    GeneratedCredit(1234, "KWD", "K", date(2024, 1, 1), "K", "Q" * 140),
]


def test_camt054_round_trip() -> None:
    data = camt054(SAMPLE, account_iban=IBAN, msg_id="MSG-1", created=CREATED)
    assert detect_format(data) == "camt.054"
    parsed = parse_bank_file(data)
    assert parsed.format == "camt.054"
    assert parsed.account == IBAN
    assert [as_generated(e) for e in parsed.entries] == SAMPLE
    assert [e.entry_index for e in parsed.entries] == [1, 2, 3, 4, 5]
    assert b"camt.054.001.08" in data


def test_camt053_round_trip_and_balances() -> None:
    nok = [e for e in SAMPLE if e.currency == "NOK"] * 3
    data = camt053(nok, account_iban=IBAN, msg_id="S-1", created=CREATED, opening_balance_minor=-5)
    assert b"camt.053.001.08" in data
    assert b'<Cd>OPBD</Cd></CdOrPrtry></Tp>\n<Amt Ccy="NOK">0.05</Amt>\n<CdtDbtInd>DBIT' in data
    assert b'<Amt Ccy="NOK">3703.63</Amt>' in data  # closing balance: -0.05 + 3 x 1234.56
    parsed = parse_bank_file(data)
    assert parsed.format == "camt.053"
    assert [as_generated(e) for e in parsed.entries] == nok


def test_empty_statement() -> None:
    for generate in (camt053, camt054):
        data = generate([], account_iban=IBAN, msg_id="E", created=CREATED)
        assert parse_bank_file(data).entries == ()


@pytest.mark.parametrize(
    ("credit", "message"),
    [
        (GeneratedCredit(-1, "EUR", "R", date(2024, 1, 1), "B"), "must not be negative"),
        (GeneratedCredit(1, "EURO", "R", date(2024, 1, 1), "B"), "ISO 4217"),
        (GeneratedCredit(1, "EUR", "R" * 36, date(2024, 1, 1), "B"), "reference must have"),
        (GeneratedCredit(1, "EUR", "R", date(2024, 1, 1), "B" * 36), "bank_ref must have"),
        (GeneratedCredit(1, "EUR", "R\x00", date(2024, 1, 1), "B"), "XML cannot carry"),
    ],
)
def test_invalid_credit_is_refused(credit: GeneratedCredit, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        camt054([credit], account_iban=IBAN, msg_id="M", created=CREATED)


def test_invalid_header_is_refused() -> None:
    with pytest.raises(ValueError, match="IBAN"):
        camt054([], account_iban="not an iban", msg_id="M", created=CREATED)
    with pytest.raises(ValueError, match="msg_id"):
        camt054([], account_iban=IBAN, msg_id="M" * 36, created=CREATED)
    with pytest.raises(ValueError, match="currency"):
        camt053(SAMPLE, account_iban=IBAN, msg_id="M", created=CREATED)


# Text that survives XML and the parser's whitespace handling unchanged.
_xml_char = st.characters(
    blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
    blacklist_characters="\ufffe\uffff",
)
_name = st.text(_xml_char, min_size=1, max_size=140).map(lambda s: " ".join(s.split())).filter(bool)
_token = st.text(_xml_char, min_size=1, max_size=35).map(lambda s: "".join(s.split())).filter(bool)
_credit = st.builds(
    GeneratedCredit,
    amount_minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(["EUR", "NOK", "SEK", "CHF", "JPY", "ISK", "KWD", "USD"]),
    reference=st.none() | _token,
    booking_date=st.dates(min_value=date(1990, 1, 1), max_value=date(2079, 12, 31)),
    bank_ref=st.none() | _token,
    debtor_name=st.none() | _name,
)


@settings(max_examples=150, deadline=None)
@given(credits=st.lists(_credit, max_size=20), msg_id=_token)
def test_camt054_round_trip_property(credits: list[GeneratedCredit], msg_id: str) -> None:
    data = camt054(credits, account_iban=IBAN, msg_id=msg_id, created=CREATED)
    parsed = parse_bank_file(data)
    assert [as_generated(e) for e in parsed.entries] == credits


@settings(max_examples=60, deadline=None)
@given(
    credits=st.lists(_credit.filter(lambda c: c.currency == "EUR"), max_size=10),
    opening=st.integers(min_value=-(10**12), max_value=10**12),
)
def test_camt053_round_trip_property(credits: list[GeneratedCredit], opening: int) -> None:
    data = camt053(
        credits,
        account_iban=IBAN,
        msg_id="S",
        created=CREATED,
        opening_balance_minor=opening,
        currency="EUR",
    )
    parsed = parse_bank_file(data)
    assert [as_generated(e) for e in parsed.entries] == credits


def test_large_file_streams() -> None:
    credits = [GeneratedCredit(100 + i, "NOK", f"{i:010d}", date(2024, 1, 2), f"B{i}", f"D {i}") for i in range(20_000)]
    data = camt054(credits, account_iban=IBAN, msg_id="BIG", created=CREATED)
    parsed = parse_bank_file(data)
    assert len(parsed.entries) == 20_000
    assert parsed.entries[-1].amount_minor == 100 + 19_999
    assert parsed.entries[-1].line is not None and parsed.entries[-1].line > 65_535 // 2
