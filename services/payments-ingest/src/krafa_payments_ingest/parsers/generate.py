"""Write camt.054.001.08 notifications and camt.053.001.08 statements holding credit entries.

Used by the demo and the benchmarks, so it streams strings (no tree is built): 100k entries
take well under a second. Each entry is one booked credit with one ``TxDtls`` carrying the
amount, the debtor name and a structured creditor reference
(``RmtInf/Strd/CdtrRefInf/Ref``, type ``SCOR``). ``parse_bank_file`` reads the output back to
the same entries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape, quoteattr

from krafa_payments_ingest.parsers import check_currency, format_minor

__all__ = ["GeneratedCredit", "camt053", "camt054"]

_NS_054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
_NS_053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ENTITIES = {"\r": "&#13;"}
_BK_TX_CD = "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>"


@dataclass(frozen=True, slots=True)
class GeneratedCredit:
    amount_minor: int  # >= 0, minor units of ``currency``
    currency: str
    reference: str | None  # structured creditor reference (KID, RF, ...), max 35 characters
    booking_date: date  # also used as the value date
    bank_ref: str | None  # AcctSvcrRef, max 35 characters
    debtor_name: str | None = None  # max 140 characters
    remittance_text: str | None = None  # unstructured remittance (Ustrd), max 140 characters


def camt054(
    entries: Sequence[GeneratedCredit],
    *,
    account_iban: str,
    msg_id: str,
    created: datetime,
) -> bytes:
    """A camt.054.001.08 credit notification (``BkToCstmrDbtCdtNtfctn``)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<Document xmlns="{_NS_054}">\n<BkToCstmrDbtCdtNtfctn>\n',
        _group_header(msg_id, created),
        f"<Ntfctn>\n<Id>{_text(msg_id, 35, 'msg_id')}</Id>\n",
        f"<CreDtTm>{created.isoformat()}</CreDtTm>\n",
        _account(account_iban),
    ]
    parts.extend(_entries(entries))
    parts.append("</Ntfctn>\n</BkToCstmrDbtCdtNtfctn>\n</Document>\n")
    return "".join(parts).encode("utf-8")


def camt053(
    entries: Sequence[GeneratedCredit],
    *,
    account_iban: str,
    msg_id: str,
    created: datetime,
    opening_balance_minor: int = 0,
    currency: str | None = None,
) -> bytes:
    """A camt.053.001.08 statement (``BkToCstmrStmt``) with opening and closing balances.

    The statement's currency is ``currency`` or that of the first entry (EUR for an empty
    statement); every entry must be in it.
    """
    ccy = check_currency(currency or (entries[0].currency if entries else "EUR"))
    if any(e.currency != ccy for e in entries):
        raise ValueError(f"all entries of a statement must be in its currency {ccy}")
    days = [e.booking_date for e in entries] or [created.date()]
    closing = opening_balance_minor + sum(e.amount_minor for e in entries)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<Document xmlns="{_NS_053}">\n<BkToCstmrStmt>\n',
        _group_header(msg_id, created),
        f"<Stmt>\n<Id>{_text(msg_id, 35, 'msg_id')}</Id>\n",
        f"<CreDtTm>{created.isoformat()}</CreDtTm>\n",
        _account(account_iban),
        _balance("OPBD", opening_balance_minor, ccy, min(days)),
        _balance("CLBD", closing, ccy, max(days)),
    ]
    parts.extend(_entries(entries))
    parts.append("</Stmt>\n</BkToCstmrStmt>\n</Document>\n")
    return "".join(parts).encode("utf-8")


def _group_header(msg_id: str, created: datetime) -> str:
    return (
        f"<GrpHdr>\n<MsgId>{_text(msg_id, 35, 'msg_id')}</MsgId>\n<CreDtTm>{created.isoformat()}</CreDtTm>\n</GrpHdr>\n"
    )


def _account(iban: str) -> str:
    if not _IBAN_RE.fullmatch(iban):
        raise ValueError(f"account_iban {iban!r} is not an IBAN")
    return f"<Acct>\n<Id>\n<IBAN>{iban}</IBAN>\n</Id>\n</Acct>\n"


def _balance(code: str, amount_minor: int, currency: str, day: date) -> str:
    indicator = "CRDT" if amount_minor >= 0 else "DBIT"
    amount = format_minor(abs(amount_minor), currency)
    return (
        f"<Bal>\n<Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>\n"
        f'<Amt Ccy="{currency}">{amount}</Amt>\n<CdtDbtInd>{indicator}</CdtDbtInd>\n'
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt>\n</Bal>\n"
    )


def _entries(entries: Sequence[GeneratedCredit]) -> list[str]:
    out: list[str] = []
    append = out.append
    for number, e in enumerate(entries, start=1):
        if e.amount_minor < 0:
            raise ValueError(f"entry {number}: amount_minor must not be negative")
        ccy = check_currency(e.currency)
        amt = f"<Amt Ccy={quoteattr(ccy)}>{format_minor(e.amount_minor, ccy)}</Amt>"
        day = e.booking_date.isoformat()
        bank_ref = f"<AcctSvcrRef>{_text(e.bank_ref, 35, 'bank_ref')}</AcctSvcrRef>\n" if e.bank_ref else ""
        parties = (
            f"<RltdPties><Dbtr><Pty><Nm>{_text(e.debtor_name, 140, 'debtor_name')}</Nm></Pty></Dbtr></RltdPties>\n"
            if e.debtor_name
            else ""
        )
        unstructured = f"<Ustrd>{_text(e.remittance_text, 140, 'remittance_text')}</Ustrd>" if e.remittance_text else ""
        structured = (
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
            f"<Ref>{_text(e.reference, 35, 'reference')}</Ref></CdtrRefInf></Strd>"
            if e.reference
            else ""
        )
        remittance = f"<RmtInf>{unstructured}{structured}</RmtInf>\n" if unstructured or structured else ""
        append(
            f"<Ntry>\n{amt}\n<CdtDbtInd>CRDT</CdtDbtInd>\n<Sts><Cd>BOOK</Cd></Sts>\n"
            f"<BookgDt><Dt>{day}</Dt></BookgDt>\n<ValDt><Dt>{day}</Dt></ValDt>\n"
            f"{bank_ref}{_BK_TX_CD}\n"
            f"<NtryDtls>\n<TxDtls>\n{amt}\n<CdtDbtInd>CRDT</CdtDbtInd>\n"
            f"{parties}{remittance}</TxDtls>\n</NtryDtls>\n</Ntry>\n"
        )
    return out


def _text(value: str | None, max_len: int, what: str) -> str:
    if value is None or not 1 <= len(value) <= max_len:
        raise ValueError(f"{what} must have 1 to {max_len} characters: {value!r}")
    if _NOT_XML.search(value):
        raise ValueError(f"{what} holds a character XML cannot carry: {value!r}")
    return escape(value, _ENTITIES)
