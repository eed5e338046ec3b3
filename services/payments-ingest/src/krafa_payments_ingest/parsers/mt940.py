"""SWIFT MT940 customer statements.

Handles bare field files and files wrapped in SWIFT blocks (``{1:..}{2:..}{4: .. -}``), several
statements per file, ``:61:`` lines with or without the entry date, with a funds code, with
amounts like ``500,`` / ``500`` / ``79,7``, over-long customer references, supplementary
details on the next line, and ``:86:`` in free text, German ``?nn`` subfields or the Dutch
``/TAG/value/`` layout. Text is decoded as UTF-8 when valid, else as Windows-1252/Latin-1
or DOS code page 852, whichever reads as more letters.

Credits are ``:61:`` lines with mark ``C`` or ``RD`` (reversal of a debit: money coming back).
``D`` and the MT942 "expected" marks ``EC``/``ED`` are left out, as in camt where the entry's
direction decides. ``RC`` (reversal of a credit: a payment charged back) is no credit either,
but it is returned apart, in ``ParsedBankFile.reversals``, negative and with ``reversal`` set,
like a camt ``DBIT`` with ``RvslInd``: the import looks for the credit it undoes (same amount,
bank reference or end-to-end id from ``:86:``).
``booking_date`` is the entry date when given, else the value date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from krafa_payments_ingest.parsers import (
    BankEntry,
    BankFileError,
    ParsedBankFile,
    check_currency,
    decimal_to_minor,
    two_digit_year,
)

_TAG_RE = re.compile(r":(\d{2}[A-Z]?):")
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
_BALANCE_RE = re.compile(r"(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Za-z]{3})(?P<amount>.*)")
_SUBFIELD_RE = re.compile(r"\?(\d{2})")
_GERMAN_86 = re.compile(r"\s*\d{3}\?\d{2}")
_SEPA_KEY_RE = re.compile(r"\b(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC)\+")
_DUTCH_TAGS = (
    "TRTP|IBAN|BIC|NAME|EREF|MARF|CSID|REMI|CNTP|ORDP|BENM|ID|ADDR|PURP|RTRN|ULTC|ULTD|"
    "ULTB|SVCL|BUSP|ISDT|CDTRREF|EXCH|OCMT|CHGS|PREF|RECI|PAID"
)
_DUTCH_FIELD = re.compile(rf"/({_DUTCH_TAGS})/")
_NO_REF = frozenset({"NONREF", "NOTPROVIDED", ""})
_CREDIT_MARKS = frozenset({"C", "RD"})
_CHARGE_BACK = "RC"  # reversal of a credit: returned apart, as a negative reversal
_WRAP_86 = 65  # SWIFT x-character lines of :86: are 65 wide; a full line is a wrapped line
_WRAP_SUBFIELD = 27  # German ?20..?29 purpose lines are 27 wide
_AMOUNT_RE = re.compile(r"[^A-Z]*")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


@dataclass
class _Field:
    tag: str
    line: int
    lines: list[str]

    def first(self) -> str:
        return self.lines[0].strip()

    def joined(self, sep: str = "") -> str:
        return sep.join(part.strip() for part in self.lines)


@dataclass
class _Statement:
    line: int
    account: str | None = None
    currency: str | None = None
    closing_seen: bool = False
    entries: list[tuple[_Field, _Field | None]] = field(default_factory=list)


def decode(data: bytes) -> str:
    """Decode an MT940 file: UTF-8 if valid, else the best of cp1252/latin-1 and cp852."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").lstrip("\ufeff")
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        pass
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = data.decode("latin-1")
    central = data.decode("cp852")
    return central if _letter_score(central) > _letter_score(western) else western


def _letter_score(text: str) -> int:
    score = 0
    for ch in text:
        if ord(ch) > 127:
            if ch.isalpha():
                score += 1
            elif not ch.isspace():
                score -= 1
    return score


def parse_mt940(data: bytes) -> ParsedBankFile:
    text = decode(data)
    statements = _statements(_fields(text))
    items: list[BankEntry] = []
    reversals: list[BankEntry] = []
    accounts: list[str | None] = []
    index = 0
    for stmt in statements:
        accounts.append(stmt.account)
        if not stmt.closing_seen:
            raise BankFileError(
                "statement has no closing balance (:62F:/:62M:); the file looks truncated",
                line=stmt.line,
            )
        currency = stmt.currency
        assert currency is not None  # a valid closing balance always gives one
        for f61, f86 in stmt.entries:
            index += 1
            entry = _entry(f61, f86, currency, index)
            if entry is not None:
                (reversals if entry.reversal else items).append(entry)
    if not statements:
        raise BankFileError("no MT940 statement (:20: ... :62F:) found")
    distinct = set(accounts)
    account = accounts[0] if len(distinct) == 1 else None
    return ParsedBankFile(format="mt940", account=account, entries=tuple(items), reversals=tuple(reversals))


# --- tokenising --------------------------------------------------------------------------


def _fields(text: str) -> list[_Field]:
    fields: list[_Field] = []
    current: _Field | None = None
    for number, raw in enumerate(_LINE_SPLIT.split(text), start=1):
        line = raw.strip("\x00\x01\x02\x03\x1a").rstrip()
        if line.startswith("{"):
            # SWIFT basic/application/user header blocks; block 4 carries the text
            start = line.find("{4:")
            if start < 0:
                current = None
                continue
            line = line[start + 3 :]
        stripped = line.strip()
        if stripped == "-" or stripped.startswith("-}"):
            current = None  # end of a message
            continue
        match = _TAG_RE.match(line)
        if match:
            current = _Field(match.group(1), number, [line[match.end() :]])
            fields.append(current)
        elif current is not None:
            current.lines.append(line)
    for f in fields:  # trailing blank lines belong to no field
        while len(f.lines) > 1 and not f.lines[-1].strip():
            f.lines.pop()
    return fields


def _statements(fields: list[_Field]) -> list[_Statement]:
    statements: list[_Statement] = []
    stmt: _Statement | None = None
    previous: str | None = None
    for f in fields:
        if f.tag == "20" or stmt is None:
            stmt = _Statement(line=f.line)
            statements.append(stmt)
        if f.tag == "25":
            stmt.account = f.joined() or None
        elif f.tag in ("60F", "60M", "62F", "62M"):
            currency = _balance_currency(f)
            if f.tag.startswith("62"):
                stmt.closing_seen = True
            if stmt.currency is None:
                stmt.currency = currency
        elif f.tag == "61":
            stmt.entries.append((f, None))
        elif f.tag == "86" and previous == "61" and stmt.entries:
            f61, _ = stmt.entries[-1]
            stmt.entries[-1] = (f61, f)
        previous = f.tag
    return statements


def _balance_currency(f: _Field) -> str:
    value = f.first()
    match = _BALANCE_RE.fullmatch(value)
    if not match:
        raise BankFileError(f"field :{f.tag}: {value!r} is not a balance", line=f.line)
    try:
        _yymmdd(match.group("date"))
        currency = check_currency(match.group("ccy").upper())
        decimal_to_minor(match.group("amount"), currency, separator=",")
    except ValueError as exc:
        raise BankFileError(f"field :{f.tag}: {exc}", line=f.line) from exc
    return currency


# --- field 61 ----------------------------------------------------------------------------


def _entry(f61: _Field, f86: _Field | None, currency: str, index: int) -> BankEntry | None:
    value = f61.lines[0].strip()

    def fail(reason: str) -> BankFileError:
        return BankFileError(f"field :61: {reason}", line=f61.line, entry=index)

    if len(value) < 6 or not _digits(value[:6]):
        raise fail(f"value date {value[:6]!r} is not YYMMDD")
    try:
        value_date = _yymmdd(value[:6])
    except ValueError as exc:
        raise fail(f"value date {value[:6]!r} is not a date") from exc
    pos = 6
    entry_date: date | None = None
    if len(value) >= pos + 4 and _digits(value[pos : pos + 4]):
        entry_date = _entry_date(value[pos : pos + 4], value_date)
        if entry_date is None:
            raise fail(f"entry date {value[pos : pos + 4]!r} is not MMDD")
        pos += 4
    mark = next(
        (m for m in ("RC", "RD", "EC", "ED", "C", "D") if value.startswith(m, pos)),
        None,
    )
    if mark is None:
        raise fail(f"debit/credit mark {value[pos : pos + 2]!r} is not C, D, RC or RD")
    pos += len(mark)
    if pos < len(value) and value[pos].isalpha() and value[pos].isupper():
        pos += 1  # funds code (third character of the currency code)
    match = _AMOUNT_RE.match(value, pos)
    amount_text = match.group(0) if match else ""
    try:
        amount = decimal_to_minor(amount_text, currency, separator=",")
    except ValueError as exc:
        raise fail(str(exc)) from exc
    pos += len(amount_text)
    tx_type = value[pos : pos + 4]
    if len(tx_type) < 4 or not tx_type[0].isalpha():
        raise fail(f"transaction type {tx_type!r} is missing")
    pos += 4
    rest = value[pos:]
    _customer_ref, sep, bank_ref = rest.partition("//")
    bank_ref = bank_ref.strip() if sep else ""

    if mark not in _CREDIT_MARKS and mark != _CHARGE_BACK:
        return None
    info = _Info() if f86 is None else _info(f86)
    return BankEntry(
        amount_minor=-amount if mark == _CHARGE_BACK else amount,
        currency=currency,
        booking_date=entry_date or value_date,
        value_date=value_date,
        reference=info.reference,
        remittance_text=info.remittance,
        bank_ref=None if bank_ref.upper() in _NO_REF else bank_ref,
        end_to_end_id=info.end_to_end_id,
        debtor_name=info.name,
        debtor_account=info.account,
        entry_index=index,
        detail_index=0,
        line=f61.line,
        reversal=mark == _CHARGE_BACK,
    )


def _yymmdd(text: str) -> date:
    return date(two_digit_year(int(text[:2])), int(text[2:4]), int(text[4:6]))


def _entry_date(mmdd: str, value_date: date) -> date | None:
    """The entry date's year is the value date's, moved by one across a year end."""
    month, day = int(mmdd[:2]), int(mmdd[2:])
    candidates = []
    for year in (value_date.year - 1, value_date.year, value_date.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        return None
    return min(candidates, key=lambda d: abs((d - value_date).days))


# --- field 86 ----------------------------------------------------------------------------


@dataclass
class _Info:
    remittance: str | None = None
    reference: str | None = None
    end_to_end_id: str | None = None
    name: str | None = None
    account: str | None = None


def _info(f86: _Field) -> _Info:
    lines = f86.lines
    flat = "".join(lines)
    if _GERMAN_86.match(flat):
        return _german(flat)
    compact = flat.strip()
    if compact.startswith("/") and _DUTCH_FIELD.search(compact):
        return _dutch(compact)
    return _Info(remittance=_unwrap(lines, _WRAP_86))


def _unwrap(parts: list[str], width: int) -> str | None:
    """Join wrapped lines: a full-width line runs on into the next one, else put a space."""
    out: list[str] = []
    glue = False
    for raw in parts:
        part = raw.rstrip()
        if not part.strip():
            glue = False
            continue
        if out and glue:
            out[-1] += part
        else:
            out.append(part.strip())
        glue = len(part) >= width
    return " ".join(" ".join(out).split()) or None


def _german(flat: str) -> _Info:
    pieces = _SUBFIELD_RE.split(flat.strip())
    sub: dict[str, list[str]] = {}
    for key, val in zip(pieces[1::2], pieces[2::2], strict=False):
        sub.setdefault(key, []).append(val)
    purpose_parts = [
        val for key in [f"{n}" for n in range(20, 30)] + ["60", "61", "62", "63"] for val in sub.get(key, [])
    ]
    purpose = _unwrap(purpose_parts, _WRAP_SUBFIELD) or ""
    info = _Info()
    sepa = _sepa_keys(purpose)
    if sepa:
        info.remittance = sepa.get("SVWZ") or None
        eref = sepa.get("EREF")
        info.end_to_end_id = None if eref is None or eref.upper() in _NO_REF else eref
        if not info.remittance:
            info.remittance = purpose or None
    else:
        info.remittance = purpose or None
    name = _unwrap(sub.get("32", []) + sub.get("33", []), _WRAP_SUBFIELD)
    info.name = name
    iban = "".join(sub.get("38", [])).replace(" ", "") or None
    info.account = iban or ("".join(sub.get("31", [])).strip() or None)
    return info


def _sepa_keys(purpose: str) -> dict[str, str]:
    found = list(_SEPA_KEY_RE.finditer(purpose))
    out: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(purpose)
        out.setdefault(match.group(1), purpose[match.end() : end].strip())
    return out


def _dutch(flat: str) -> _Info:
    parts = _DUTCH_FIELD.split(flat)
    values: dict[str, str] = {}
    for tag, val in zip(parts[1::2], parts[2::2], strict=False):
        values.setdefault(tag, val)
    info = _Info()
    remi = values.get("REMI", "")
    if remi:
        if remi.startswith("STRD/"):
            # /REMI/STRD/CUR/<creditor reference>/
            segs = remi.split("/")
            ref = segs[2] if len(segs) > 2 else ""
            info.reference = "".join(ref.split()) or None
        else:
            text = remi[5:] if remi.startswith("USTD/") else remi
            info.remittance = text.strip("/").strip() or None
    eref = values.get("EREF", "").strip("/").strip()
    info.end_to_end_id = None if eref.upper() in _NO_REF else eref
    cntp = values.get("CNTP")
    if cntp is not None:
        segs = cntp.split("/")
        info.account = segs[0].strip() or None
        info.name = segs[2].strip() if len(segs) > 2 and segs[2].strip() else None
    else:
        info.account = values.get("IBAN", "").strip("/").strip() or None
        info.name = values.get("NAME", "").strip("/").strip() or None
    return info
