"""ISO 20022 camt.052 / camt.053 / camt.054 (any 001.xx version, any namespace).

Elements are matched on local names, so the urn:iso:std:iso:20022 namespaces of every
version and non-standard ones (e.g. the Austrian STUZZA namespace) read the same way.

The file is read with ``lxml.etree.iterparse``: each ``Ntry`` is handled when its end tag is
seen and then dropped from memory, so a 100k-entry file needs little more memory than one
entry. The parser never loads a DTD, never resolves entities and never touches the network;
a document with a DOCTYPE is rejected outright (billion laughs, XXE).

Rules (see the package docstring for the data model):

* Only entries whose entry-level ``CdtDbtInd`` is ``CRDT`` are credits; ``DBIT`` entries are
  left out whatever their ``TxDtls`` say. ``CRDT`` with ``RvslInd`` true (a debit coming back)
  is a credit like any other, as the corpus manifest counts it. ``DBIT`` with ``RvslInd`` true
  is a credit charged back (the reversal of an earlier credit): not a credit (the manifest
  leaves it out), but returned apart in ``reversals``, every amount negative and ``reversal``
  set, so that payments-ingest can find the payment it reverses by its bank references.
* Entries whose status is ``PDNG`` (pending) or ``INFO`` (information only) are not booked
  and are left out.
* An entry with several ``TxDtls`` (a batch) yields one item per detail, with the detail's
  amount; a detail whose own ``CdtDbtInd`` contradicts a credit entry's is negative. An entry
  with one ``TxDtls`` takes that detail's amount when it has one, else the entry amount.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import date
from io import BytesIO
from typing import Any

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from krafa_payments_ingest.parsers import (
    BankEntry,
    BankFileError,
    ParsedBankFile,
    check_currency,
    decimal_to_minor,
)

_MESSAGES = {
    "BkToCstmrStmt": "camt.053",
    "BkToCstmrDbtCdtNtfctn": "camt.054",
    "BkToCstmrAcctRpt": "camt.052",
}
_CONTAINERS = frozenset({"Stmt", "Ntfctn", "Rpt"})
_TAGS = ["{*}Ntry", "{*}Acct", "{*}Stmt", "{*}Ntfctn", "{*}Rpt"]
_UNBOOKED = frozenset({"PDNG", "INFO"})
_NO_ID = frozenset({"NOTPROVIDED", "NONREF"})
_DETECT_MAX_ELEMENTS = 500

_Element = Any  # lxml ships no type information


def _secure_iterparse(data: bytes, **kwargs: Any) -> Any:
    return etree.iterparse(
        BytesIO(data),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        remove_comments=True,
        remove_pis=True,
        **kwargs,
    )


def _reject_dtd(elem: _Element) -> None:
    docinfo = elem.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BankFileError("XML with a DOCTYPE/DTD is not accepted (entities are not expanded)")


def _syntax_error(exc: Exception) -> BankFileError:
    line = getattr(exc, "lineno", None)
    msg = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return BankFileError(f"XML is not well-formed: {msg}", line=line if line else None)


def detect_message(data: bytes) -> str:
    """Return "camt.053", "camt.054" or "camt.052" for an ISO 20022 cash-management file."""
    try:
        for seen, (_event, elem) in enumerate(_secure_iterparse(data, events=("start",))):
            if seen == 0:
                _reject_dtd(elem)
            fmt = _MESSAGES.get(_local(elem.tag) or "")
            if fmt is not None:
                return fmt
            if seen >= _DETECT_MAX_ELEMENTS:
                break
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from exc
    except etree.LxmlError as exc:  # pragma: no cover - defensive
        raise _syntax_error(exc) from exc
    raise BankFileError(
        "XML is not an ISO 20022 camt.052/053/054 message "
        "(no BkToCstmrStmt, BkToCstmrDbtCdtNtfctn or BkToCstmrAcctRpt element)"
    )


def parse_camt(data: bytes) -> ParsedBankFile:
    fmt = detect_message(data)
    items: list[BankEntry] = []
    reversals: list[BankEntry] = []
    accounts: list[str | None] = []
    index = 0
    first = True
    try:
        for _event, elem in _secure_iterparse(data, events=("end",), tag=_TAGS):
            if first:
                _reject_dtd(elem)
                first = False
            name = _local(elem.tag)
            if name == "Ntry":
                index += 1
                for found in _entry_items(elem, index):
                    (reversals if found.reversal else items).append(found)
                _release(elem)
            elif name == "Acct":
                parent = elem.getparent()
                if parent is not None and _local(parent.tag) in _CONTAINERS:
                    accounts.append(_account_id(elem))
            elif name in _CONTAINERS:
                _release(elem)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from exc
    except etree.LxmlError as exc:  # pragma: no cover - defensive
        raise _syntax_error(exc) from exc
    distinct = set(accounts)
    account = accounts[0] if len(distinct) == 1 else None
    return ParsedBankFile(format=fmt, account=account, entries=tuple(items), reversals=tuple(reversals))


# --- one entry ---------------------------------------------------------------------------


def _entry_items(ntry: _Element, index: int) -> list[BankEntry]:
    line = _line(ntry)

    def fail(reason: str) -> BankFileError:
        return BankFileError(reason, line=line, entry=index)

    kids = _kids(ntry)
    amt_el = kids.get("Amt")
    if amt_el is None:
        raise fail("Ntry has no Amt")
    amount, currency = _amount(amt_el, fail, "Ntry/Amt")
    indicator = _text(kids.get("CdtDbtInd"))
    if indicator not in ("CRDT", "DBIT"):
        raise fail(f"Ntry/CdtDbtInd {indicator!r} is neither CRDT nor DBIT")
    status = _status(kids.get("Sts"))
    booking = _date_choice(kids.get("BookgDt"), fail, "BookgDt")
    value = _date_choice(kids.get("ValDt"), fail, "ValDt")
    bank_ref = _text(kids.get("AcctSvcrRef"))

    details = [tx for nd in _all(ntry, "NtryDtls") for tx in _all(nd, "TxDtls")] if "NtryDtls" in kids else []
    parsed = [_detail(tx, fail, f"TxDtls {i + 1}") for i, tx in enumerate(details)]

    reversal = indicator == "DBIT" and (_text(kids.get("RvslInd")) or "").lower() in ("true", "1")
    if (indicator != "CRDT" and not reversal) or status in _UNBOOKED:
        return []

    def item(
        amount_minor: int,
        ccy: str,
        detail: _Detail | None,
        detail_index: int,
        at_line: int | None,
    ) -> BankEntry:
        return BankEntry(
            amount_minor=amount_minor,
            currency=ccy,
            booking_date=booking,
            value_date=value,
            reference=detail.reference if detail else None,
            remittance_text=detail.remittance if detail else None,
            bank_ref=bank_ref or (detail.bank_ref if detail else None),
            end_to_end_id=detail.end_to_end_id if detail else None,
            debtor_name=detail.debtor_name if detail else None,
            debtor_account=detail.debtor_account if detail else None,
            entry_index=index,
            detail_index=detail_index,
            line=at_line,
            reversal=reversal,
        )

    if reversal:  # every part of a credit charged back takes money away
        items = _credit_items(amount, currency, parsed, line, item)
        return [dataclasses.replace(e, amount_minor=-abs(e.amount_minor)) for e in items]
    return _credit_items(amount, currency, parsed, line, item)


def _credit_items(
    amount: int,
    currency: str,
    parsed: list[_Detail],
    line: int | None,
    item: Callable[[int, str, _Detail | None, int, int | None], BankEntry],
) -> list[BankEntry]:
    if not parsed:
        return [item(amount, currency, None, 0, line)]
    if len(parsed) == 1:
        only = parsed[0]
        if only.amount is not None:
            return [item(only.amount[0], only.amount[1], only, 0, line)]
        return [item(amount, currency, only, 0, line)]
    if all(d.amount is not None for d in parsed):
        out = []
        for i, d in enumerate(parsed):
            assert d.amount is not None
            # a debit detail netted into a batched credit reduces the credit
            detail_sign = -1 if d.indicator == "DBIT" else 1
            out.append(item(detail_sign * d.amount[0], d.amount[1], d, i, d.line))
        return out
    # A batch whose details carry no amounts cannot be split: report the entry as one item.
    return [item(amount, currency, _merge(parsed), 0, line)]


class _Detail:
    __slots__ = (
        "amount",
        "bank_ref",
        "debtor_account",
        "debtor_name",
        "end_to_end_id",
        "indicator",
        "line",
        "reference",
        "remittance",
    )

    def __init__(
        self,
        *,
        amount: tuple[int, str] | None,
        indicator: str | None,
        reference: str | None,
        remittance: str | None,
        bank_ref: str | None,
        end_to_end_id: str | None,
        debtor_name: str | None,
        debtor_account: str | None,
        line: int | None,
    ) -> None:
        self.amount = amount
        self.indicator = indicator
        self.reference = reference
        self.remittance = remittance
        self.bank_ref = bank_ref
        self.end_to_end_id = end_to_end_id
        self.debtor_name = debtor_name
        self.debtor_account = debtor_account
        self.line = line


def _detail(tx: _Element, fail: Any, what: str) -> _Detail:
    kids = _kids(tx)
    amt_el = kids.get("Amt")
    if amt_el is None:
        amt_el = _path(kids.get("AmtDtls"), "TxAmt", "Amt")
    amount = None if amt_el is None else _amount(amt_el, fail, f"{what}/Amt")
    indicator = _text(kids.get("CdtDbtInd"))
    end_to_end = bank_ref = None
    refs = kids.get("Refs")
    if refs is not None:
        ref_kids = _kids(refs)
        end_to_end = _text(ref_kids.get("EndToEndId"))
        bank_ref = _text(ref_kids.get("AcctSvcrRef"))
    debtor_name = debtor_account = None
    parties = kids.get("RltdPties")
    if parties is not None:
        party_kids = _kids(parties)
        debtor = party_kids.get("Dbtr")
        if debtor is not None:
            debtor_name = _text(_first(debtor, "Nm")) or _text(_path(debtor, "Pty", "Nm"))
        acct = party_kids.get("DbtrAcct")
        if acct is not None:
            debtor_account = _account_id(acct)
    reference = None
    texts: list[str] = []
    for rmt in _all(tx, "RmtInf") if "RmtInf" in kids else ():
        for child in rmt:
            name = _local(child.tag)
            if name == "Ustrd":
                text = _clean(child.text)
                if text:
                    texts.append(text)
            elif name == "Strd" and reference is None:
                ref = _text(_path(child, "CdtrRefInf", "Ref"))
                if ref is not None:
                    reference = "".join(ref.split()) or None
    return _Detail(
        amount=amount,
        indicator=indicator,
        reference=reference,
        remittance=" ".join(texts) or None,
        bank_ref=bank_ref,
        end_to_end_id=None if end_to_end in _NO_ID else end_to_end,
        debtor_name=debtor_name,
        debtor_account=debtor_account,
        line=_line(tx),
    )


def _merge(details: list[_Detail]) -> _Detail:
    def common(values: Iterator[str | None]) -> str | None:
        distinct = {v for v in values if v is not None}
        return distinct.pop() if len(distinct) == 1 else None

    texts = [d.remittance for d in details if d.remittance]
    return _Detail(
        amount=None,
        indicator=None,
        reference=common(d.reference for d in details),
        remittance=" ".join(texts) or None,
        bank_ref=common(d.bank_ref for d in details),
        end_to_end_id=common(d.end_to_end_id for d in details),
        debtor_name=common(d.debtor_name for d in details),
        debtor_account=common(d.debtor_account for d in details),
        line=details[0].line,
    )


# --- small element helpers ---------------------------------------------------------------


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions, entity references
    return tag.rpartition("}")[2]


def _kids(elem: _Element) -> dict[str, _Element]:
    """The first child of each local name (namespaces ignored), in one pass."""
    out: dict[str, _Element] = {}
    for child in elem:
        tag = child.tag
        if isinstance(tag, str):
            out.setdefault(tag[tag.rfind("}") + 1 :], child)
    return out


def _first(parent: _Element, name: str) -> _Element | None:
    """The first child with this local name, in any namespace (or none)."""
    return next(parent.iterchildren("{*}" + name), None)


def _all(parent: _Element, name: str) -> list[_Element]:
    return list(parent.iterchildren("{*}" + name))


def _path(parent: _Element | None, *names: str) -> _Element | None:
    node = parent
    for name in names:
        if node is None:
            return None
        node = _first(node, name)
    return node


def _text(elem: _Element | None) -> str | None:
    if elem is None:
        return None
    text = elem.text
    if text is None:
        return None
    text = str(text).strip()
    return text or None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def _line(elem: _Element) -> int | None:
    line = elem.sourceline
    return int(line) if isinstance(line, int) and line > 0 else None


def _release(elem: _Element) -> None:
    """Free a handled element and the siblings before it (iterparse memory discipline)."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _amount(elem: _Element, fail: Any, what: str) -> tuple[int, str]:
    currency = elem.get("Ccy")
    text = _text(elem)
    if text is None:
        raise fail(f"{what} is empty")
    try:
        check_currency(currency.strip() if currency else None)
        assert currency is not None
        currency = currency.strip()
        return decimal_to_minor(text, currency), currency
    except ValueError as exc:
        raise fail(f"{what}: {exc}") from exc


def _status(sts: _Element | None) -> str | None:
    if sts is None:
        return None
    # up to 001.07 the code is the element text; from 001.08 it is Sts/Cd (or Sts/Prtry)
    return _text(sts) or _text(_first(sts, "Cd")) or _text(_first(sts, "Prtry"))


def _date_choice(elem: _Element | None, fail: Any, what: str) -> date | None:
    if elem is None:
        return None
    raw = _text(_first(elem, "Dt")) or _text(_first(elem, "DtTm"))
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise fail(f"{what} {raw!r} is not a date") from exc


def _account_id(acct: _Element) -> str | None:
    ident = _first(acct, "Id")
    if ident is None:
        return None
    iban = _text(_first(ident, "IBAN"))
    if iban:
        return "".join(iban.split())
    return _text(_path(ident, "Othr", "Id"))
