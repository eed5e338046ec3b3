"""Robustness: any input gives a ParsedBankFile or a BankFileError, never another exception,
and never hangs. Inputs: random bytes, random bytes behind each format's magic prefix, and
real corpus files cut, spliced and bit-flipped."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krafa_payments_ingest.parsers import (
    BankFileError,
    ParsedBankFile,
    detect_format,
    parse_bank_file,
)

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared"
MANIFEST = SHARED / "corpus" / "bank" / "manifest.json"
LIMIT_SECONDS = 2.0


def corpus() -> list[bytes]:
    if not MANIFEST.is_file():
        pytest.fail(f"bank corpus manifest not found at {MANIFEST.resolve()}")
    files = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    return [(SHARED / f["file"]).read_bytes() for f in files]


def check(data: bytes) -> None:
    start = time.perf_counter()
    try:
        result = parse_bank_file(data)
    except BankFileError as exc:
        # the parsers raise specific errors; the generic safety net means a parser bug
        assert not str(exc).startswith("unreadable bank file"), repr(exc.__cause__)
        assert exc.line is None or exc.line >= 1
        assert exc.entry is None or exc.entry >= 1
    else:
        assert isinstance(result, ParsedBankFile)
        for entry in result.entries:
            assert isinstance(entry.amount_minor, int)
            assert len(entry.currency) == 3
        result.to_json_dict()
    with contextlib.suppress(BankFileError):
        detect_format(data)
    assert time.perf_counter() - start < LIMIT_SECONDS


PREFIXES = [
    b"",
    b"<",
    b'<?xml version="1.0"?><Document><BkToCstmrStmt><Stmt><Ntry>',
    b"<Document><BkToCstmrDbtCdtNtfctn><Ntfctn><Ntry><Amt Ccy='EUR'>",
    b"NY000010",
    b"NY0000100000900000000020001078000000000000000000000000000000000000000000000000000\n",
    b":20:X\n:25:Y\n:60F:C240101EUR1,00\n:61:",
    b"{1:F01X}{2:O940X}{4:\n:20:",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
]


@settings(
    max_examples=400,
    deadline=timedelta(seconds=LIMIT_SECONDS),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=600))
def test_any_bytes(prefix: bytes, tail: bytes) -> None:
    check(prefix + tail)


@settings(max_examples=150, deadline=timedelta(seconds=LIMIT_SECONDS))
@given(text=st.text(st.sampled_from(list(":0123456789CDRNTF,/?-{}\n\r ")) | st.characters(), max_size=400))
def test_mt940_like_text(text: str) -> None:
    check(b":20:A\n:25:B\n:28C:1\n:60F:C240101EUR0,\n:61:" + text.encode("utf-8", "replace"))


@st.composite
def mutated_corpus_file(draw: st.DrawFn) -> bytes:
    files = corpus()
    data = bytearray(draw(st.sampled_from(files)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["cut", "flip", "delete", "insert", "duplicate"]))
        if not data:
            break
        pos = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if kind == "cut":
            del data[pos:]
        elif kind == "flip":
            data[pos] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(min_value=1, max_value=80))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=20))
        else:
            end = min(len(data), pos + draw(st.integers(min_value=1, max_value=200)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@settings(
    max_examples=400,
    deadline=timedelta(seconds=LIMIT_SECONDS),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=mutated_corpus_file())
def test_mutated_corpus_files(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_corpus_files_never_return_partial_results(cut: float) -> None:
    """A file cut short is an error (XML unclosed, MT940 without :62F:, OCR without trailer).

    The one exception is a cut that happens to fall on a statement boundary of a multi-
    statement MT940 file: what remains is a complete, valid file.
    """
    for data in corpus():
        body = data.rstrip()
        truncated = body[: int(len(body) * cut)]
        try:
            parsed = parse_bank_file(truncated)
        except BankFileError:
            continue
        assert parsed.format == "mt940", truncated[-80:]
        assert truncated.rstrip().endswith((b"-", b"-}", b"{5:}")) or b":62" in truncated[-120:]


def test_not_bytes_is_a_bank_file_error() -> None:
    with pytest.raises(BankFileError):
        parse_bank_file("text")  # type: ignore[arg-type]
    with pytest.raises(BankFileError):
        detect_format(None)  # type: ignore[arg-type]
