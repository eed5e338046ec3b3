"""camt.052/053/054 parser: edge cases, malformed files and hostile XML."""

from __future__ import annotations

import pickle
import time
from datetime import date

import pytest
from krafa_payments_ingest.parsers import BankFileError, detect_format, parse_bank_file

NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"


def ntry(
    amount: str = "10.00",
    ccy: str = "EUR",
    ind: str = "CRDT",
    *,
    extra: str = "",
    details: str = "",
    sts: str = "<Sts>BOOK</Sts>",
    booking: str = "<BookgDt><Dt>2024-03-01</Dt></BookgDt>",
) -> str:
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt>' if amount is not None else ""
    dtls = f"<NtryDtls>{details}</NtryDtls>" if details else ""
    return (
        f"<Ntry>{amt}<CdtDbtInd>{ind}</CdtDbtInd>{extra}{sts}{booking}"
        f"<ValDt><Dt>2024-03-02</Dt></ValDt><AcctSvcrRef>BANK-1</AcctSvcrRef>{dtls}</Ntry>"
    )


def tx(
    amount: str | None = "10.00",
    ccy: str = "EUR",
    ind: str | None = "CRDT",
    ref: str | None = None,
    ustrd: tuple[str, ...] = (),
    name: str | None = None,
) -> str:
    parts = []
    if amount is not None:
        parts.append(f'<Amt Ccy="{ccy}">{amount}</Amt>')
    if ind is not None:
        parts.append(f"<CdtDbtInd>{ind}</CdtDbtInd>")
    if name is not None:
        parts.append(f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties>")
    rmt = "".join(f"<Ustrd>{u}</Ustrd>" for u in ustrd)
    if ref is not None:
        rmt += f"<Strd><CdtrRefInf><Ref>{ref}</Ref></CdtrRefInf></Strd>"
    if rmt:
        parts.append(f"<RmtInf>{rmt}</RmtInf>")
    return f"<TxDtls>{''.join(parts)}</TxDtls>"


def camt054(*entries: str, ns: str | None = NS, prolog: str = "") -> bytes:
    xmlns = f' xmlns="{ns}"' if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n<Document{xmlns}>'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>M</MsgId></GrpHdr>"
        "<Ntfctn><Id>N</Id><Acct><Id><IBAN>NO9386011117947</IBAN></Id></Acct>\n"
        + "\n".join(entries)
        + "\n</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


def test_simple_credit() -> None:
    parsed = parse_bank_file(camt054(ntry(details=tx(ref="RF18 5390 0754 7034", name="Ola"))))
    assert parsed.format == "camt.054"
    assert parsed.account == "NO9386011117947"
    (e,) = parsed.entries
    assert e.amount_minor == 1000
    assert e.currency == "EUR"
    assert e.booking_date == date(2024, 3, 1)
    assert e.value_date == date(2024, 3, 2)
    assert e.reference == "RF18539007547034"  # as printed, without spaces
    assert e.bank_ref == "BANK-1"
    assert e.debtor_name == "Ola"
    assert (e.entry_index, e.detail_index, e.line) == (1, 0, 3)


@pytest.mark.parametrize(
    "ns",
    [
        "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02",
        "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08",
        "urn:iso:std:iso:20022:tech:xsd:camt.054.001.13",
        "ISO:camt.054.001.02:APC:STUZZA:payments:003",
        None,
    ],
)
def test_any_namespace(ns: str | None) -> None:
    parsed = parse_bank_file(camt054(ntry(), ns=ns))
    assert [e.amount_minor for e in parsed.entries] == [1000]


def test_prefixed_namespace_and_wrapper_envelope() -> None:
    data = (
        b'<?xml version="1.0"?><Envelope><AppHdr><Fr>x</Fr></AppHdr>'
        b'<c:Document xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        b"<c:BkToCstmrStmt><c:Stmt><c:Acct><c:Id><c:Othr><c:Id>123</c:Id></c:Othr></c:Id></c:Acct>"
        b'<c:Ntry><c:Amt Ccy="CHF">1.5</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd>'
        b"<c:Sts><c:Cd>BOOK</c:Cd></c:Sts></c:Ntry></c:Stmt></c:BkToCstmrStmt></c:Document>"
        b"</Envelope>"
    )
    assert detect_format(data) == "camt.053"
    parsed = parse_bank_file(data)
    assert parsed.account == "123"
    assert [e.amount_minor for e in parsed.entries] == [150]


def test_debits_are_left_out_even_with_credit_details() -> None:
    data = camt054(
        ntry("200000", "SEK", "DBIT", details=tx("3.1", "CHF") + tx("3.2", "CHF")),
        ntry("5.00", "EUR", "CRDT"),
    )
    (e,) = parse_bank_file(data).entries
    assert (e.amount_minor, e.entry_index) == (500, 2)


@pytest.mark.parametrize(
    ("ind", "rvsl", "expected"),
    [("CRDT", "true", [(700, False)]), ("DBIT", "true", [(-700, True)]), ("DBIT", "false", []),
     ("CRDT", "false", [(700, False)])],
)  # fmt: skip
def test_reversal_indicator_follows_the_entry_direction(ind: str, rvsl: str, expected: list[tuple[int, bool]]) -> None:
    # CRDT+RvslInd: a debit coming back, a credit like any other (the manifest counts it).
    # DBIT+RvslInd: a credit charged back, returned negative as a reversal of that credit.
    data = camt054(ntry("7.00", "EUR", ind, extra=f"<RvslInd>{rvsl}</RvslInd>"))
    parsed = parse_bank_file(data)
    assert [(e.amount_minor, e.reversal) for e in (*parsed.entries, *parsed.reversals)] == expected
    assert all(not e.reversal for e in parsed.entries) and all(e.reversal for e in parsed.reversals)


def test_a_batched_credit_charged_back_is_negative_in_every_detail() -> None:
    data = camt054(ntry("5.00", "EUR", "DBIT", details=tx("2.00", "EUR") + tx("3.00", "EUR"),
                        extra="<RvslInd>true</RvslInd>"))  # fmt: skip
    parsed = parse_bank_file(data)
    assert parsed.entries == ()
    assert [(e.amount_minor, e.reversal) for e in parsed.reversals] == [(-200, True), (-300, True)]


@pytest.mark.parametrize("status", ["<Sts>PDNG</Sts>", "<Sts><Cd>INFO</Cd></Sts>"])
def test_unbooked_entries_are_left_out(status: str) -> None:
    assert parse_bank_file(camt054(ntry(sts=status))).entries == ()


def test_batched_entry_yields_one_item_per_detail() -> None:
    details = tx("6.00", ref="111", ustrd=("a", "b")) + tx("5.00", ref="222", name="B") + tx("1.00", ind="DBIT")
    entries = parse_bank_file(camt054(ntry("10.00", details=details))).entries
    assert [e.amount_minor for e in entries] == [600, 500, -100]
    assert [e.detail_index for e in entries] == [0, 1, 2]
    assert [e.reference for e in entries] == ["111", "222", None]
    assert entries[0].remittance_text == "a b"
    assert {e.bank_ref for e in entries} == {"BANK-1"}
    assert {e.entry_index for e in entries} == {1}


def test_single_detail_amount_wins_over_entry_amount() -> None:
    (e,) = parse_bank_file(camt054(ntry("8.85", details=tx("105.750")))).entries
    assert e.amount_minor == 10575


def test_detail_without_amount_uses_entry_amount() -> None:
    (e,) = parse_bank_file(camt054(ntry("8.85", details=tx(None, ustrd=("x",))))).entries
    assert (e.amount_minor, e.remittance_text) == (885, "x")


def test_v02_transaction_amount_in_amtdtls() -> None:
    detail = (
        '<TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">4.00</Amt></TxAmt></AmtDtls></TxDtls>'
        '<TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">6.00</Amt></TxAmt></AmtDtls></TxDtls>'
    )
    entries = parse_bank_file(camt054(ntry("10.00", details=detail))).entries
    assert [e.amount_minor for e in entries] == [400, 600]


def test_batch_without_detail_amounts_is_one_item() -> None:
    details = tx(None, ref="1") + tx(None, ref="1", ustrd=("y",))
    (e,) = parse_bank_file(camt054(ntry("10.00", details=details))).entries
    assert (e.amount_minor, e.reference, e.remittance_text) == (1000, "1", "y")


@pytest.mark.parametrize(
    ("amount", "ccy", "minor"),
    [
        ("1500", "JPY", 1500),
        ("1500.00", "JPY", 1500),
        ("1500", "ISK", 1500),
        ("1.234", "KWD", 1234),
        ("474.4", "CHF", 47440),
        ("0.10", "EUR", 10),
        ("12345678901234.56", "EUR", 1234567890123456),
    ],
)
def test_minor_units_per_currency(amount: str, ccy: str, minor: int) -> None:
    (e,) = parse_bank_file(camt054(ntry(amount, ccy))).entries
    assert e.amount_minor == minor
    assert isinstance(e.amount_minor, int)


def test_booking_datetime() -> None:
    data = camt054(ntry(booking="<BookgDt><DtTm>2013-12-27T22:04:52.0+01:00</DtTm></BookgDt>"))
    assert parse_bank_file(data).entries[0].booking_date == date(2013, 12, 27)


def test_sentinel_end_to_end_id_is_none() -> None:
    detail = "<TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs></TxDtls>"
    (e,) = parse_bank_file(camt054(ntry(details=detail))).entries
    assert e.end_to_end_id is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (ntry(amount=None), "line 4: entry 2: Ntry has no Amt"),  # type: ignore[arg-type]
        (ntry("x"), "line 4: entry 2: Ntry/Amt: amount 'x' is not a number"),
        (ntry("1,00"), "is not a number"),
        (ntry("-1.00"), "is not a number"),
        (ntry("1e3"), "is not a number"),
        (ntry("1.001", "EUR"), "more decimals than EUR allows"),
        (ntry("1.5", "JPY"), "more decimals than JPY allows"),
        (ntry("1.00", "eur"), "not an ISO 4217 code"),
        (ntry("", "EUR"), "is empty"),
        (ntry(ind="CRED"), "CdtDbtInd 'CRED'"),
        (ntry(booking="<BookgDt><Dt>2024-02-30</Dt></BookgDt>"), "BookgDt '2024-02-30'"),
        (ntry(details=tx("abc")), "TxDtls 1/Amt: amount 'abc' is not a number"),
        # a malformed debit still makes the file malformed
        (ntry("x", ind="DBIT"), "is not a number"),
    ],
)
def test_malformed_entry_names_line_and_entry(entry: str, message: str) -> None:
    data = camt054(ntry(), entry)
    with pytest.raises(BankFileError, match=message) as info:
        parse_bank_file(data)
    assert info.value.entry == 2
    assert info.value.line == 4


@pytest.mark.parametrize(
    "data",
    [
        camt054(ntry())[:-30],  # truncated
        camt054(ntry()).replace(b"</Ntry>", b"</Ntr>"),
        b"<",
        b"<?xml version='1.0'?>",
        b"<Document><Foo/></Document>",
        b"\xef\xbb\xbf<Document><BkToCstmrStmt>&undefined;</BkToCstmrStmt></Document>",
    ],
)
def test_broken_xml_raises_bank_file_error(data: bytes) -> None:
    with pytest.raises(BankFileError):
        parse_bank_file(data)


def test_bank_file_error_carries_line_and_entry_and_pickles() -> None:
    err = BankFileError("field :61: amount 'x' is not a number", line=14, entry=3)
    assert str(err) == "line 14: entry 3: field :61: amount 'x' is not a number"
    assert isinstance(err, ValueError)
    clone = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert (str(clone), clone.line, clone.entry) == (str(err), 14, 3)


def test_broken_xml_names_the_line() -> None:
    data = camt054(ntry(), ntry()).replace(b"<Ntry>", b"<Ntry><Amt>", 1)
    with pytest.raises(BankFileError, match=r"^line \d+: XML is not well-formed") as info:
        parse_bank_file(data)
    assert info.value.line is not None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"><BkToCstmrDbtCdtNtfctn>
<Ntfctn><Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<NtryDtls><TxDtls><RmtInf><Ustrd>&lol9;</Ustrd></RmtInf></TxDtls></NtryDtls>
</Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""


def test_billion_laughs_is_rejected_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(BankFileError, match="DOCTYPE"):
        parse_bank_file(BILLION_LAUGHS)
    with pytest.raises(BankFileError):
        detect_format(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">',
        '<!DOCTYPE Document [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]>',
        "<!DOCTYPE Document>",
    ],
)
def test_external_entities_and_dtds_are_rejected(doctype: str) -> None:
    data = camt054(ntry(details=tx(ustrd=("&xxe;",) if "xxe" in doctype else ())), prolog=doctype)
    with pytest.raises(BankFileError) as info:
        parse_bank_file(data)
    assert "root:" not in str(info.value)


def test_utf16_document() -> None:
    text = camt054(ntry(details=tx(name="Søren Æbelø"))).decode().replace("UTF-8", "UTF-16")
    data = text.encode("utf-16")
    assert detect_format(data) == "camt.054"
    (e,) = parse_bank_file(data).entries
    assert e.debtor_name == "Søren Æbelø"


def test_latin1_declared_document() -> None:
    text = camt054(ntry(details=tx(ustrd=("Überweisung",)))).decode()
    data = text.replace("UTF-8", "ISO-8859-1").encode("latin-1")
    (e,) = parse_bank_file(data).entries
    assert e.remittance_text == "Überweisung"


def test_several_statements_keep_global_entry_index_and_mixed_accounts() -> None:
    stmt = '<Stmt><Id>{0}</Id><Acct><Id><IBAN>{0}</IBAN></Id></Acct><Bal><Amt Ccy="EUR">0</Amt></Bal>{1}</Stmt>'
    body = stmt.format("DE1", ntry("1.00", ind="DBIT") + ntry("2.00")) + stmt.format("DE2", ntry("3.00"))
    data = (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        f"<BkToCstmrStmt>{body}</BkToCstmrStmt></Document>"
    ).encode()
    parsed = parse_bank_file(data)
    assert parsed.account is None  # two accounts
    assert [(e.entry_index, e.amount_minor) for e in parsed.entries] == [(2, 200), (3, 300)]
