"""Acceptance: every bank file of the shared corpus parses to the entries its manifest lists.

The corpus lives next to the repository: ``<x>/main`` is the repo and ``<x>/shared/corpus``
the corpus. The expected values are computed from the manifest here, independently of the
parser (amounts via Decimal and babel's ISO 4217 precision, not the parser's own helpers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.numbers import get_currency_precision
from krafa_payments_ingest.parsers import (
    BankEntry,
    ParsedBankFile,
    detect_format,
    parse_bank_file,
)

REPO = Path(__file__).resolve().parents[4]  # <x>/main
SHARED = REPO / ".." / "shared"
MANIFEST = SHARED / "corpus" / "bank" / "manifest.json"

# Sentinels meaning "no reference": the parser reports them as None.
NO_REFERENCE = {"NONREF", "NOTPROVIDED"}


def load_manifest() -> dict[str, Any]:
    if not MANIFEST.is_file():
        pytest.fail(
            f"bank corpus manifest not found at {MANIFEST.resolve()}: the shared corpus must "
            "sit next to the repository (<x>/main and <x>/shared/corpus)"
        )
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def _params() -> list[Any]:
    if not MANIFEST.is_file():
        return [pytest.param(None, id="bank-corpus-missing")]
    files = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    return [pytest.param(f, id=Path(f["file"]).stem) for f in files]


def read_corpus_file(spec: dict[str, Any]) -> bytes:
    path = SHARED / spec["file"]
    if not path.is_file():
        pytest.fail(f"corpus file {spec['file']} listed in the manifest is missing at {path}")
    data: bytes = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec["sha256"], f"{spec['file']} was modified"
    return data


def minor(amount: str, currency: str) -> int:
    scaled = Decimal(amount).scaleb(get_currency_precision(currency))
    assert scaled == scaled.to_integral_value(), (amount, currency)
    return int(scaled)


def day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text[:10])


def no_sentinel(value: str | None) -> str | None:
    return None if value is None or value.upper() in NO_REFERENCE else value


@dataclass
class Expected:
    amount_minor: int
    currency: str
    booking_date: date | None
    value_date: date | None
    reference: str | None
    bank_ref: str | None
    extra: dict[str, Any]  # further fields the manifest gives: compared when present


def expected_format(spec: dict[str, Any]) -> str:
    fmt: str = spec["format"]
    if fmt.startswith("camt."):
        return fmt[:8]
    return {"swift_mt940": "mt940", "nets_ocr_giro": "ocr"}[fmt]


def expected_entries(spec: dict[str, Any]) -> list[Expected]:
    fmt = expected_format(spec)
    if fmt.startswith("camt"):
        return _camt_expected(spec)
    if fmt == "mt940":
        return _mt940_expected(spec)
    return _ocr_expected(spec)


def _camt_expected(spec: dict[str, Any]) -> list[Expected]:
    out: list[Expected] = []
    offset = 0  # entry_index counts every Ntry of the file, debits included
    for stmt in spec["statements"]:
        for entry in stmt["credit_entries"]:
            txs = entry["transactions"]
            batched = len(txs) > 1 and all(tx["amount"] is not None for tx in txs)
            details = list(enumerate(txs)) if batched else [(0, txs[0] if txs else None)]
            for detail_index, tx in details:
                if tx is not None and tx["amount"] is not None:
                    amount, currency = tx["amount"], tx["currency"]
                else:
                    amount, currency = entry["amount"], entry["currency"]
                sign = -1 if batched and tx is not None and tx["cdt_dbt"] == "DBIT" else 1
                refs = tx["structured_references"] if tx is not None else []
                extra: dict[str, Any] = {
                    "entry_index": offset + entry["entry_index"],
                    "detail_index": detail_index,
                }
                if tx is not None:
                    extra["end_to_end_id"] = no_sentinel(tx["end_to_end_id"])
                    extra["debtor_name"] = tx["debtor_name"]
                    extra["remittance_text"] = " ".join(tx["unstructured"]) or None
                out.append(
                    Expected(
                        amount_minor=sign * minor(amount, currency),
                        currency=currency,
                        booking_date=day(entry["booking_date"]),
                        value_date=day(entry["value_date"]),
                        reference="".join(refs[0]["ref"].split()) if refs else None,
                        bank_ref=entry["acct_svcr_ref"],
                        extra=extra,
                    )
                )
        offset += stmt["n_entries"]
    return out


def _mt940_expected(spec: dict[str, Any]) -> list[Expected]:
    out: list[Expected] = []
    for stmt in spec["statements"]:
        for entry in stmt["credit_entries"]:
            assert entry["mark"] in ("C", "RD")
            out.append(
                Expected(
                    amount_minor=minor(entry["amount"], entry["currency"]),
                    currency=entry["currency"],
                    booking_date=day(entry["booking_date"]),
                    value_date=day(entry["value_date"]),
                    reference=entry["structured_reference"],
                    bank_ref=no_sentinel(entry["bank_reference"]),
                    extra={"detail_index": 0},
                )
            )
    return out


def _ocr_expected(spec: dict[str, Any]) -> list[Expected]:
    out: list[Expected] = []
    for tx in spec["transactions"]:
        debit_account = tx["debit_account"] if tx["debit_account"].strip("0") else None
        out.append(
            Expected(
                amount_minor=minor(tx["amount"], tx["currency"]),
                currency=tx["currency"],
                # the settlement date is the day the money is on the account
                booking_date=day(tx["settlement_date"]),
                value_date=day(tx["settlement_date"]),
                reference=tx["kid"] or None,
                bank_ref=tx["archive_reference"],
                extra={
                    "entry_index": tx["number"],
                    "detail_index": 0,
                    "debtor_account": debit_account,
                },
            )
        )
    return out


def expected_account(spec: dict[str, Any]) -> str | None:
    if expected_format(spec) == "ocr":
        account: str | None = spec["assignment"]["account"]
        return account
    accounts = {stmt["account"] for stmt in spec["statements"]}
    return accounts.pop() if len(accounts) == 1 else None


def compare(got: BankEntry, want: Expected, where: str) -> None:
    assert got.amount_minor == want.amount_minor, where
    assert isinstance(got.amount_minor, int) and not isinstance(got.amount_minor, bool)
    assert got.currency == want.currency, where
    assert got.booking_date == want.booking_date, where
    assert got.value_date == want.value_date, where
    assert got.reference == want.reference, where
    if want.bank_ref is not None:
        assert got.bank_ref == want.bank_ref, where
    for name, value in want.extra.items():
        assert getattr(got, name) == value, f"{where}: {name}"
    assert got.line is None or got.line >= 1


@pytest.mark.parametrize("spec", _params())
def test_corpus_file_parses_to_manifest_entries(spec: dict[str, Any] | None) -> None:
    if spec is None:
        load_manifest()  # fails loudly
        pytest.fail("unreachable")
    data = read_corpus_file(spec)
    fmt = expected_format(spec)

    assert detect_format(data) == fmt
    parsed = parse_bank_file(data)
    assert isinstance(parsed, ParsedBankFile)
    assert parsed.format == fmt
    assert parsed.account == expected_account(spec)

    want = expected_entries(spec)
    credit_entries = (
        len(spec["transactions"]) if fmt == "ocr" else sum(len(s["credit_entries"]) for s in spec["statements"])
    )
    assert credit_entries == spec["n_credit_entries"]
    assert len(parsed.entries) == len(want), [e.amount_minor for e in parsed.entries]
    for i, (got, exp) in enumerate(zip(parsed.entries, want, strict=True)):
        compare(got, exp, f"{spec['file']} item {i}")

    # entries are in file order and (entry_index, detail_index) identifies each one
    keys = [(e.entry_index, e.detail_index) for e in parsed.entries]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_manifest_lists_every_bank_file() -> None:
    manifest = load_manifest()
    listed = {Path(f["file"]).name for f in manifest["files"]}
    on_disk = {p.name for p in MANIFEST.parent.iterdir() if p.name != "manifest.json"}
    assert listed == on_disk
    assert len(listed) == 15


def test_to_json_dict_shape() -> None:
    manifest = load_manifest()
    spec = next(f for f in manifest["files"] if f["file"].endswith("ch_ubs_camt053_v08.xml"))
    parsed = parse_bank_file(read_corpus_file(spec))
    doc = parsed.to_json_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["format"] == "camt.053"
    entries = doc["entries"]
    assert isinstance(entries, list)
    assert entries[1] == {
        "amount_minor": 8885,
        "currency": "CHF",
        "booking_date": "2023-06-20",
        "value_date": "2023-06-20",
        "reference": "RF38000000000000000000552",
        "remittance_text": None,
        "bank_ref": "2022172PH0003127",
    }


def test_totals_per_file_match_manifest() -> None:
    """The money in each file: the sum of the items equals the manifest's credits."""
    manifest = load_manifest()
    for spec in manifest["files"]:
        parsed = parse_bank_file(read_corpus_file(spec))
        totals: dict[str, int] = {}
        for e in parsed.entries:
            totals[e.currency] = totals.get(e.currency, 0) + e.amount_minor
        want: dict[str, int] = {}
        for exp in expected_entries(spec):
            want[exp.currency] = want.get(exp.currency, 0) + exp.amount_minor
        assert totals == want, spec["file"]
