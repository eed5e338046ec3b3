"""Contact-list uploads (docs/domain.md: digital letters): the creditor re-sends its whole list regularly; each
upload is an upsert, so debtors and addresses missing from the new list are kept.

The file is streamed to a temporary file (never held in memory) while its SHA-256 is computed, then
read row by row and applied in chunks of CHUNK_ROWS, one transaction each, so memory stays bounded
and a large file shows progress. Every upload is applied as the current list, also one identical to
an earlier one: re-sending an older list after a newer one means the older addresses are current
again (only a retry with the same Idempotency-Key is answered with the first job). Every rejected
row is recorded with its line number and the reason."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from krafa_kit import errors
from krafa_kit.clock import Clock
from krafa_kit.db import Database

from krafa_claims_api.debtors import domain, repository, service
from krafa_claims_api.debtors.service import DebtorRow

log = logging.getLogger(__name__)

MAX_BYTES = 50 * 1024 * 1024
INLINE_BYTES = 256 * 1024
CHUNK_ROWS = 500
READ_BLOCK = 64 * 1024
MAX_ELEMENT = 1024 * 1024

MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
}


class UploadFormatError(ValueError):
    """The file as a whole cannot be read (not UTF-8, no header, not a JSON array)."""


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    sha256: str
    size: int


async def receive(chunks: AsyncIterator[bytes], declared_length: int | None, max_bytes: int) -> Received:
    """Stream the request body to a temporary file; 413 as soon as it is known to be too large."""
    if declared_length is not None and declared_length > max_bytes:
        raise too_large(max_bytes)
    digest = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="krafa-contacts-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return Received(path, digest.hexdigest(), size)


def too_large(max_bytes: int) -> errors.TooLarge:
    return errors.TooLarge(
        f"a contact list may be at most {max_bytes} bytes; split it into several uploads",
        kind="upload-too-large",
        facts={"max_bytes": max_bytes},
    )


# --- reading the file: (line, record) pairs, or (line, error) for a row that cannot be read ---

Record = tuple[int, dict[str, Any] | domain.InvalidValue]


def records(path: str, fmt: str) -> Iterator[Record]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if fmt == "csv":
            yield from _csv_records(handle)
        elif fmt == "ndjson":
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, _json_object(line)
        else:
            yield from _json_array(handle)


def _csv_records(handle: IO[str]) -> Iterator[Record]:
    first = handle.readline()
    if not first.strip():
        raise UploadFormatError("the CSV file has no header row")
    # Spreadsheets in Iceland, Norway and Estonia save with ';' as often as with ','.
    delimiter = max(",;\t", key=first.count)
    header = [name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter))]
    if "customer_no" not in header:
        raise UploadFormatError("the CSV header has no customer_no column")
    reader = csv.reader(handle, delimiter=delimiter)
    line = 1
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num + 1
            yield start, domain.InvalidValue("", f"unreadable CSV: {exc}")
            continue
        line = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield start, domain.InvalidValue("", f"{len(values)} columns where the header has {len(header)}")
            continue
        yield start, dict(zip(header, values, strict=True))


def _json_object(text: str) -> dict[str, Any] | domain.InvalidValue:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return domain.InvalidValue("", f"not JSON: {exc}")
    return value if isinstance(value, dict) else domain.InvalidValue("", "not a JSON object")


def _json_array(handle: IO[str]) -> Iterator[Record]:
    """Decode a top-level JSON array one element at a time (bounded memory: at most one element
    plus a read block is buffered)."""
    decoder = json.JSONDecoder()
    buffer = ""
    consumed_lines = 1  # line number of buffer[0]
    started = False
    eof = False

    def more() -> bool:
        nonlocal buffer, eof
        block = handle.read(READ_BLOCK)
        if not block:
            eof = True
            return False
        buffer += block
        return True

    while True:
        stripped = buffer.lstrip()
        consumed_lines += buffer.count("\n", 0, len(buffer) - len(stripped))
        buffer = stripped
        if not buffer:
            if eof or not more():
                raise UploadFormatError("the JSON array is not closed")
            continue
        if not started:
            if buffer[0] != "[":
                raise UploadFormatError("a JSON upload must be an array of objects (or use application/x-ndjson)")
            buffer, started = buffer[1:], True
            continue
        if buffer[0] == "]":
            return
        if buffer[0] == ",":
            buffer = buffer[1:]
            continue
        try:
            value, end = decoder.raw_decode(buffer)
        except ValueError as exc:
            # One element may not grow past MAX_ELEMENT: a broken file must not be buffered whole.
            if len(buffer) <= MAX_ELEMENT and not eof and more():
                continue
            raise UploadFormatError(f"invalid JSON at line {consumed_lines}: {exc}") from exc
        if end == len(buffer) and not eof and more():
            continue  # a number may continue in the next block
        line = consumed_lines
        consumed_lines += buffer.count("\n", 0, end)
        buffer = buffer[end:]
        yield line, value if isinstance(value, dict) else domain.InvalidValue("", "not a JSON object")


# --- one row to a DebtorRow ---

TRUE = {"1", "true", "yes", "y", "ja", "já", "jah", "x"}
FALSE = {"0", "false", "no", "n", "nei", "ei", ""}
INT_FIELDS = (
    "credit_limit_minor",
    "overdue_warn_days",
    "overdue_block_days",
    "overdue_warn_minor",
    "overdue_block_minor",
)
KNOWN_FIELDS = {
    "customer_no",
    "name",
    "kind",
    "national_id",
    "language",
    "time_zone",
    "country",
    "email",
    "phone",
    "netbank",
    "verified",
    "consent_source",
    "consent_at",
    "terms_version",
    "address",
    "address_line1",
    "address_line2",
    "address_line3",
    "postcode",
    "city",
    "address_country",
    "fallback_channel",
    "customer_class",
    "credit_limit_currency",
    *INT_FIELDS,
}


def _text(record: dict[str, Any], name: str, max_length: int = 200) -> str | None:
    value = record.get(name)
    if value is None or isinstance(value, (dict, list)):
        if value is not None:
            raise domain.InvalidValue(name, "must be a text value")
        return None
    text = str(value).strip()
    if "\x00" in text:
        raise domain.InvalidValue(name, "contains a NUL character")
    if len(text) > max_length:
        raise domain.InvalidValue(name, f"longer than {max_length} characters")
    return text or None


def _flag(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return None if text == "" else False
    raise domain.InvalidValue(name, "must be yes/no, true/false or 1/0")


def parse_row(record: dict[str, Any], line: int, *, default_country: str, consent: domain.Consent) -> DebtorRow:
    for key, value in record.items():
        if "\x00" in key or "\\u0000" in json.dumps(value, default=str):
            raise domain.InvalidValue(key.replace("\x00", ""), "contains a NUL character")
    unknown = sorted(set(record) - KNOWN_FIELDS)
    if unknown:
        raise domain.InvalidValue(unknown[0], f"unknown column {unknown[0]!r}")
    customer_no = _text(record, "customer_no", 64)
    if not customer_no:
        raise domain.InvalidValue("customer_no", "required")
    domain.check_customer_no(customer_no)
    master: dict[str, Any] = {}
    if name := _text(record, "name"):
        master["name"] = name
    kind = _text(record, "kind")
    if kind is not None:
        if kind not in ("person", "company"):
            raise domain.InvalidValue("kind", "must be person or company")
        master["kind"] = kind
    country = _text(record, "country", 2)
    if country is not None:
        country = country.upper()
        if len(country) != 2 or not country.isalpha():
            raise domain.InvalidValue("country", "must be an ISO 3166 alpha-2 code")
        master["country"] = country
    region = country or default_country
    if national_id := _text(record, "national_id", 32):
        master["national_id"] = domain.normalize_national_id(region, kind or "person", national_id)
    if language := _text(record, "language", 2):
        if language.lower() not in domain.LANGUAGES:
            raise domain.InvalidValue("language", f"must be one of {', '.join(domain.LANGUAGES)}")
        master["language"] = language.lower()
    if time_zone := _text(record, "time_zone", 64):
        master["time_zone"] = domain.check_time_zone(time_zone)
    if fallback := _text(record, "fallback_channel", 10):
        if fallback not in ("letter", "netbank"):
            raise domain.InvalidValue("fallback_channel", "must be letter or netbank")
        master["fallback_channel"] = fallback
    if customer_class := _text(record, "customer_class", 32):
        master["customer_class"] = customer_class.lower()
    if currency := _text(record, "credit_limit_currency", 3):
        master["credit_limit_currency"] = currency.upper()
    for name in INT_FIELDS:
        if (text := _text(record, name, 20)) is not None:
            try:
                number = int(text)
            except ValueError as exc:
                raise domain.InvalidValue(name, "must be a whole number (minor units or days)") from exc
            if number < 0 or (name.endswith("_days") and number == 0):
                raise domain.InvalidValue(name, "must be positive")
            master[name] = number
    if ("credit_limit_minor" in master) != ("credit_limit_currency" in master):
        raise domain.InvalidValue("credit_limit_currency", "credit_limit_minor and its currency go together")
    address = _address(record, region)
    if address is not None:
        master["address"] = address
    row_consent = domain.Consent(
        source=_text(record, "consent_source", 100) or consent.source,
        at=_timestamp(record) or consent.at,
        terms_version=_text(record, "terms_version", 50) or consent.terms_version,
    )
    verified = _flag(record, "verified")
    named = (
        (domain.ContactKind.EMAIL, _text(record, "email", 254)),
        (domain.ContactKind.PHONE, _text(record, "phone", 32)),
        (domain.ContactKind.NETBANK, "" if _flag(record, "netbank") else None),
    )
    offers = [
        domain.ContactOffer(
            kind,
            domain.contact_value(kind, value, region),
            verified=verified if kind != domain.ContactKind.NETBANK else None,
            consent=row_consent,
            source_if_new="creditor upload",
        )
        for kind, value in named
        if value is not None
    ]
    return DebtorRow(customer_no, master, tuple(offers), line)


def _address(record: dict[str, Any], region: str) -> dict[str, Any] | None:
    given = record.get("address")
    if isinstance(given, dict):
        lines = given.get("lines", [])
        if not isinstance(lines, list) or len(lines) > 4 or not all(isinstance(x, str) for x in lines):
            raise domain.InvalidValue("address", "lines must be up to 4 strings")
        country = str(given.get("country") or region).upper()
        return {
            "lines": lines,
            "postcode": str(given.get("postcode", "")),
            "city": str(given.get("city", "")),
            "country": country,
        }
    if given is not None:
        raise domain.InvalidValue("address", "must be an object with lines, postcode, city, country")
    lines = [x for x in (_text(record, f"address_line{i}") for i in (1, 2, 3)) if x]
    postcode, city = _text(record, "postcode", 20), _text(record, "city", 100)
    if not (lines or postcode or city):
        return None
    country = (_text(record, "address_country", 2) or region).upper()
    return {"lines": lines, "postcode": postcode or "", "city": city or "", "country": country}


def _timestamp(record: dict[str, Any]) -> datetime | None:
    text = _text(record, "consent_at", 40)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise domain.InvalidValue("consent_at", "must be an ISO 8601 timestamp") from exc
    if value.tzinfo is None:
        raise domain.InvalidValue("consent_at", "must carry a time zone offset")
    return value


# --- jobs ---


def content_key(sha256: str, fmt: str, consent: domain.Consent) -> str:
    """What makes two uploads the same request (an Idempotency-Key's digest): the bytes, how they
    are read, and the consent they carry."""
    material = json.dumps(
        [sha256, fmt, consent.source, consent.at.isoformat() if consent.at else None, consent.terms_version]
    )
    return hashlib.sha256(material.encode()).hexdigest()


async def process(
    db: Database,
    clock: Clock,
    creditor_id: UUID,
    job_id: UUID,
    path: str,
    fmt: str,
    *,
    default_country: str,
    consent: domain.Consent,
) -> None:
    """Apply the file chunk by chunk; the job row tracks progress. Always removes the file."""
    try:
        await _set(db, job_id, "status = 'running', started_at = $2", clock.now())
        batch: list[DebtorRow] = []
        rejects: list[tuple[int, str | None, str | None, str]] = []
        for line, item in records(path, fmt):
            if isinstance(item, domain.InvalidValue):
                rejects.append((line, None, item.field or None, item.message))
            else:
                try:
                    batch.append(parse_row(item, line, default_country=default_country, consent=consent))
                except domain.InvalidValue as exc:
                    customer_no = item.get("customer_no")
                    rejects.append((line, str(customer_no)[:64] if customer_no else None, exc.field, exc.message))
            if len(batch) + len(rejects) >= CHUNK_ROWS:
                await _apply_chunk(db, clock, creditor_id, job_id, batch, rejects)
                batch, rejects = [], []
        await _apply_chunk(db, clock, creditor_id, job_id, batch, rejects)
        await _set(db, job_id, "status = 'done', finished_at = $2", clock.now())
    except (UploadFormatError, UnicodeDecodeError) as exc:
        reason = "the file is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        await _set(db, job_id, "status = 'failed', failure = $3, finished_at = $2", clock.now(), reason)
    except Exception:
        log.exception("contact upload failed", extra={"upload_id": str(job_id)})
        await _set(db, job_id, "status = 'failed', failure = $3, finished_at = $2", clock.now(), "internal error")
    finally:
        os.unlink(path)


async def _set(db: Database, job_id: UUID, assignments: str, *args: Any) -> None:
    async with db.connection() as conn:
        await repository.set_upload(conn, job_id, assignments, *args)


async def _apply_chunk(
    db: Database,
    clock: Clock,
    creditor_id: UUID,
    job_id: UUID,
    batch: list[DebtorRow],
    rejects: list[tuple[int, str | None, str | None, str]],
) -> None:
    if not batch and not rejects:
        return
    async with db.uow() as uow:
        applied = await service.apply_rows(
            uow, creditor_id, batch, clock.now(), source="upload", details={"upload_id": str(job_id)}
        )
        rejected_rows = {id(row) for row, _ in applied.rejected}
        all_rejects = [
            (line, _clean(customer_no), _clean(field), _clean(detail) or "")
            for line, customer_no, field, detail in rejects
            + [(row.line, row.customer_no, err.field, err.message) for row, err in applied.rejected]
        ]
        await repository.add_upload_rejects(uow.conn, job_id, all_rejects)
        accepted = [row for row in batch if id(row) not in rejected_rows]
        changed = applied.created | applied.updated
        await repository.count_upload_chunk(
            uow.conn,
            job_id,
            rows=len(batch) + len(rejects),
            accepted=len(accepted),
            rejected=len(all_rejects),
            created=len(applied.created),
            updated=len(applied.updated),
            unchanged=sum(row.customer_no not in changed for row in accepted),
            without_consent=sum(_without_consent(row, applied.debtors.get(row.customer_no)) for row in accepted),
        )
        await uow.commit()


def _without_consent(row: DebtorRow, debtor: domain.Debtor | None) -> bool:
    """The row names an address that, as applied, has no consent evidence (kept but not used)."""
    if debtor is None:
        return False
    for offer in row.offers:
        for cp in debtor.contact_points:
            if cp.kind == offer.kind and domain.same_value(cp.kind, cp.value, offer.value) and not cp.consented:
                return True
    return False


def _clean(text: str | None) -> str | None:
    """Report text as stored: no NUL (PostgreSQL text cannot hold it), at most 500 characters."""
    return text.replace("\x00", "")[:500] if text else text


def discard(received: Received) -> None:
    if os.path.exists(received.path):
        os.unlink(received.path)
