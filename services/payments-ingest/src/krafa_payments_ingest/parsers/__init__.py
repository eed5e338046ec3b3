"""Bank file parsers: ISO 20022 camt.052/053/054, SWIFT MT940 and Nets OCR giro.

Public API::

    detect_format(data) -> "camt.053" | "camt.054" | "camt.052" | "mt940" | "ocr"
    parse_bank_file(data) -> ParsedBankFile          # raises BankFileError, nothing else

Only credits to the account are returned; the entry's own direction decides (camt entry-level
``CdtDbtInd``, MT940 mark ``C``/``RD``), so debits are left out. A camt credit charged back
(``DBIT`` with ``RvslInd`` true) is no credit either (the corpus manifest does not count it),
but it is returned apart, in ``ParsedBankFile.reversals``, negative and with ``reversal`` set,
so that the payment it reverses can be found; so is an MT940 ``RC`` (reversal of a credit). A
correction carried inside the credits (a negative Nets OCR transaction, a debit ``TxDtls``
netted into a batched camt credit) is returned with a negative ``amount_minor``.
Amounts are integer minor units of the ISO 4217 currency; they are never floats.

The format parsers live in the submodules ``camt``, ``mt940`` and ``ocr``; they import the
shared types from this module, so this module imports them lazily.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from krafa_events import currencies

__all__ = [
    "BankEntry",
    "BankFileError",
    "ParsedBankFile",
    "currency_exponent",
    "detect_format",
    "format_minor",
    "parse_bank_file",
]

FORMATS = ("camt.053", "camt.054", "camt.052", "mt940", "ocr")


class BankFileError(ValueError):
    """A bank file is malformed. The message names the line and/or entry and the reason."""

    line: int | None
    entry: int | None

    def __init__(self, reason: str, *, line: int | None = None, entry: int | None = None) -> None:
        self.reason = reason
        self.line = line
        self.entry = entry
        where = []
        if line is not None:
            where.append(f"line {line}")
        if entry is not None:
            where.append(f"entry {entry}")
        super().__init__(": ".join([*where, reason]))

    def __reduce__(self) -> tuple[object, ...]:  # keep keyword-only args picklable
        return (_rebuild_error, (self.reason, self.line, self.entry))


def _rebuild_error(reason: str, line: int | None, entry: int | None) -> BankFileError:
    return BankFileError(reason, line=line, entry=entry)


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One incoming payment (or a correction of one) read from a bank file."""

    amount_minor: int  # integer minor units; negative for a correction that reduces credits
    currency: str  # ISO 4217
    booking_date: date | None
    value_date: date | None
    reference: str | None  # structured creditor reference as printed, without spaces
    remittance_text: str | None  # unstructured remittance information, joined
    bank_ref: str | None  # AcctSvcrRef / field-61 bank reference / OCR archive reference
    end_to_end_id: str | None
    debtor_name: str | None
    debtor_account: str | None  # IBAN when present, else the account as given
    entry_index: int  # 1-based position of the entry (Ntry, :61:, OCR transaction) in the file
    detail_index: int  # 0-based position of the TxDtls inside a batched entry (0 otherwise)
    line: int | None  # 1-based line where the entry (or the batched TxDtls) starts
    # True for a credit charged back (camt DBIT entry with RvslInd true, MT940 RC): amount_minor is negative
    reversal: bool = False
    # The account credited, when it is given per payment (a real-time notification); a file's
    # entries share ParsedBankFile.account.
    account: str | None = None
    # A real-time payment of the whole balance Krafa stated to the payer (a card checkout for all
    # that was due, a bank claim paid in full in the netbank): the claim's ledger length then
    # (PaymentReceived.stated_entries). Bank files never state it.
    stated_entries: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedBankFile:
    format: str  # "camt.053", "camt.054", "camt.052", "mt940", "ocr"
    account: str | None  # the account the file reports on (None when absent or mixed)
    entries: tuple[BankEntry, ...]
    # credits charged back (camt DBIT with RvslInd true, MT940 RC), negative; not credits, so apart from entries
    reversals: tuple[BankEntry, ...] = ()

    def to_json_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "entries": [
                {
                    "amount_minor": e.amount_minor,
                    "currency": e.currency,
                    "booking_date": _iso(e.booking_date),
                    "value_date": _iso(e.value_date),
                    "reference": e.reference,
                    "remittance_text": e.remittance_text,
                    "bank_ref": e.bank_ref,
                }
                for e in self.entries
            ],
        }


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


# --- currencies and amounts --------------------------------------------------------------

_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_MAX_AMOUNT_DIGITS = 24  # ISO 20022 allows 18 digits; anything longer is garbage


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency, from the one currency table
    (krafa_events.currencies), withdrawn pre-euro codes of old statements included."""
    try:
        return currencies.statement_minor_units(currency)
    except currencies.UnknownCurrency:
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code") from None


def check_currency(currency: str | None) -> str:
    """Return the currency code, raising ValueError unless it is three capital letters."""
    if currency is None or not _CURRENCY_RE.fullmatch(currency):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code")
    currency_exponent(currency)
    return currency


def decimal_to_minor(text: str, currency: str, *, separator: str = ".") -> int:
    """Convert an unsigned decimal string ("474.4", "500,", "500") to integer minor units.

    Raises ValueError (with a readable message) when the text is not a plain decimal number or
    has non-zero digits beyond the currency's minor unit. Never uses floats.
    """
    raw = text.strip()
    whole, _, frac = raw.partition(separator)
    if raw.startswith("+"):
        whole = whole[1:]
    if (
        not (whole or frac)
        or not (whole.isascii() and frac.isascii())
        or (whole and not whole.isdigit())
        or (frac and not frac.isdigit())
        or len(whole) + len(frac) > _MAX_AMOUNT_DIGITS
    ):
        raise ValueError(f"amount {text!r} is not a number")
    exponent = currency_exponent(currency)
    if len(frac) > exponent:
        if frac[exponent:].strip("0"):
            raise ValueError(f"amount {text!r} has more decimals than {currency} allows ({exponent})")
        frac = frac[:exponent]
    scale: int = 10**exponent
    return int(whole or "0") * scale + int(frac.ljust(exponent, "0") or "0")


def format_minor(amount_minor: int, currency: str) -> str:
    """Format non-negative minor units as a plain decimal string ("12.30", "100" for JPY)."""
    if amount_minor < 0:
        raise ValueError("amount must not be negative")
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(amount_minor)
    scale: int = 10**exponent
    whole, frac = divmod(amount_minor, scale)
    return f"{whole}.{frac:0{exponent}d}"


def two_digit_year(yy: int) -> int:
    """Expand a two-digit year of a bank file (1980-2079)."""
    return 2000 + yy if yy < 80 else 1900 + yy


# --- detection and dispatch --------------------------------------------------------------

_MT940_START = re.compile(rb"(?:\A|[\r\n]|\{4:)[ \t]*:20:")
_MT940_FIELD = re.compile(rb"(?:\A|[\r\n]|\{4:)[ \t]*:(?:25|60[FM]|61|62[FM]):")


def detect_format(data: bytes) -> str:
    """Name the format of a bank file, or raise BankFileError if it is none we read."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BankFileError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: look at it as UTF-8
        text = data[:8192].decode("utf-16", errors="replace").lstrip("\ufeff").lstrip()
        if text.startswith("<"):
            from krafa_payments_ingest.parsers import camt

            return camt.detect_message(data)
        sniff = data.decode("utf-16", errors="replace").encode("utf-8")
    else:
        sniff = data
    head = sniff[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        from krafa_payments_ingest.parsers import camt

        return camt.detect_message(data)
    from krafa_payments_ingest.parsers import ocr

    if ocr.looks_like_ocr(sniff):
        return "ocr"
    if _MT940_START.search(sniff) and _MT940_FIELD.search(sniff):
        return "mt940"
    raise BankFileError("unrecognised bank file: not camt XML, SWIFT MT940 or Nets OCR")


def parse_bank_file(data: bytes) -> ParsedBankFile:
    """Parse a bank file into its credit entries.

    Raises BankFileError for anything malformed (and never another exception type); a
    malformed file yields no partial result.
    """
    try:
        fmt = detect_format(data)
        data = bytes(data)
        if fmt == "mt940":
            from krafa_payments_ingest.parsers import mt940

            return mt940.parse_mt940(data)
        if fmt == "ocr":
            from krafa_payments_ingest.parsers import ocr

            return ocr.parse_ocr(data)
        from krafa_payments_ingest.parsers import camt

        return camt.parse_camt(data)
    except BankFileError:
        raise
    except RecursionError as exc:  # pragma: no cover - defensive
        raise BankFileError("file is nested too deeply") from exc
    except MemoryError as exc:  # pragma: no cover - defensive
        raise BankFileError("file is too large to parse") from exc
    except Exception as exc:  # the contract: BankFileError and nothing else
        raise BankFileError(f"unreadable bank file ({type(exc).__name__}: {exc})") from exc
