"""Use cases of payments-ingest. Each runs in one unit of work with one explicit commit; the
events it emits ride in the same transaction through the outbox, so a payment is recorded if and
only if its PaymentReceived or PaymentUnmatched will be published."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from krafa_events import ClaimCreated, PaymentReceived, PaymentUnmatched
from krafa_events.catalog import CardInstalmentFailed
from krafa_kit.db import Database, UnitOfWork

from krafa_payments_ingest import domain, metrics, repository
from krafa_payments_ingest.parsers import BankEntry, ParsedBankFile, parse_bank_file
from krafa_payments_ingest.parsers.csv_mapped import CsvMapping, parse_csv

log = logging.getLogger(__name__)

NIL = UUID(int=0)


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: UUID
    format: str
    entries: int
    new: int
    duplicates: int
    matched: int
    unmatched: int
    repeat_of: UUID | None  # the first import of the very same file, when this is a repeat
    reversals: int = 0  # charge-backs (camt DBIT + RvslInd) recorded as reversing an earlier payment


@dataclass(frozen=True, slots=True)
class _ReadFile:
    parsed: ParsedBankFile
    sha256: str
    identities: list[domain.EntryIdentity]


def _read(data: bytes, csv_mapping: CsvMapping | None = None) -> _ReadFile:
    parsed = parse_csv(data, csv_mapping) if csv_mapping is not None else parse_bank_file(data)
    return _ReadFile(parsed, hashlib.sha256(data).hexdigest(), domain.entry_identities(parsed.entries, parsed.account))


async def import_file(
    db: Database, data: bytes, filename: str | None, now: datetime, *, csv_mapping: CsvMapping | None = None
) -> ImportResult:
    """Record every entry of a bank file not recorded before, match it, and emit its event.

    With ``csv_mapping`` the file is a CSV export read with that mapping, else a bank file of a
    format detected from its content. Raises BankFileError (naming the line and entry) for a
    malformed file; nothing is applied then.
    """
    started = time.perf_counter()
    # Parsing a large file takes seconds of CPU: keep it off the event loop, which also runs the consumer.
    read = await asyncio.to_thread(_read, data, csv_mapping)
    return await _import(db, read, filename, len(data), now, started=started)


Inside = Callable[[UnitOfWork, list[repository.PaymentRow]], Awaitable[None]]


def read_entries(parsed: ParsedBankFile) -> _ReadFile:
    """Entries read from elsewhere than a file (the banks' claims interface), with their identities."""
    body = json.dumps([e.bank_ref for e in parsed.entries]).encode()
    return _ReadFile(parsed, hashlib.sha256(body).hexdigest(), domain.entry_identities(parsed.entries, parsed.account))


async def import_read(
    db: Database, read: _ReadFile, now: datetime, *, source: str, inside: Inside | None = None
) -> ImportResult:
    """Record entries read by `read_entries` as a file's are; `inside` runs in the same transaction
    with the rows that were new."""
    return await _import(db, read, None, 0, now, started=time.perf_counter(), source=source, inside=inside)


async def _import(
    db: Database,
    read: _ReadFile,
    filename: str | None,
    size_bytes: int,
    now: datetime,
    *,
    started: float,
    source: str | None = None,
    inside: Inside | None = None,
) -> ImportResult:
    """Record the new entries of a read file (or a batch of notifications) in one transaction."""
    parsed = read.parsed
    import_id = uuid.uuid4()
    async with db.uow() as uow:
        repeat_of = await repository.first_import_of(uow.conn, read.sha256)
        await repository.insert_import(
            uow.conn,
            import_id=import_id,
            sha256=read.sha256,
            filename=filename,
            format_=parsed.format,
            size_bytes=size_bytes,
            repeat_of=repeat_of,
            imported_at=now,
        )
        # Claims indexed concurrently wait for this import to commit, so their rematch sees the
        # payments it leaves unmatched; and this lookup sees every claim indexed before it.
        await uow.conn.execute("LOCK TABLE claim_index IN SHARE MODE")
        references = sorted({r for e in parsed.entries if (r := domain.normalise_reference(e.reference))})
        index = await repository.claims_by_reference(uow.conn, references)
        texts = await asyncio.to_thread(_text_candidates, read.parsed.entries, index)
        by_text = await repository.claims_by_text_key(uow.conn, sorted(set().union(*texts)))
        rows = await asyncio.to_thread(
            _payment_rows, parsed.entries, read.identities, index, texts, by_text, parsed.account
        )
        credits = [row for row in rows if row.amount_minor >= 0]
        inserted = await repository.insert_payments(uow.conn, import_id, now, credits)
        # Corrections and charge-backs after the credits: they may reverse a credit of this very file.
        rows = await _find_reversed(uow, rows)
        charged_back = await _find_reversed(uow, _reversal_rows(read), drop_unfound=True)
        later = [row for row in [*rows, *charged_back] if row.amount_minor < 0]
        inserted |= await repository.insert_payments(uow.conn, import_id, now, later)
        reversals = [row for row in charged_back if row.id in inserted]
        new = [row for row in rows if row.id in inserted]
        # Encoding is ~75 µs an event: a large file's events are built off the event loop too.
        # Only this task uses the unit of work, and it waits for the thread.
        await asyncio.to_thread(_add_events, uow, [*new, *reversals], source or str(import_id), now)
        if inside is not None:
            await inside(uow, new)
        matched = sum(1 for row in new if row.match.matched)
        await repository.set_import_counts(
            uow.conn,
            import_id,
            entries=len(rows),
            new=len(new),
            matched=matched,
            unmatched=len(new) - matched,
            reversals=len(reversals),
        )
        await uow.commit()
    _record_metrics(parsed.format, [*new, *reversals], len(rows) - len(new), time.perf_counter() - started)
    result = ImportResult(
        import_id=import_id,
        format=parsed.format,
        entries=len(rows),
        new=len(new),
        duplicates=len(rows) - len(new),
        matched=matched,
        unmatched=len(new) - matched,
        repeat_of=repeat_of,
        reversals=len(reversals),
    )
    log.info(
        "bank file imported",
        extra={
            "import_id": str(import_id),
            "format": parsed.format,
            "entries": result.entries,
            "new": result.new,
            "duplicates": result.duplicates,
            "matched": result.matched,
            "unmatched": result.unmatched,
            "repeat_of": str(repeat_of) if repeat_of else None,
        },
    )
    return result


def _text_candidates(entries: Sequence[BankEntry], index: dict[str, list[domain.IndexedClaim]]) -> list[set[str]]:
    """Per entry, the keys its remittance text could name; only for entries whose structured
    reference is missing or unknown (the only ones matched by their text)."""
    found: list[set[str]] = []
    for entry in entries:
        reference = domain.normalise_reference(entry.reference)
        needed = reference is None or reference not in index
        found.append(domain.text_candidates(entry.remittance_text) if needed else set())
    return found


def _reversal_rows(read: _ReadFile) -> list[repository.PaymentRow]:
    """The charge-backs of the file as payments; matched only through the payment they reverse."""
    reversals = read.parsed.reversals
    identities = domain.entry_identities(reversals, read.parsed.account)
    no_text = [set[str]() for _ in reversals]
    return _payment_rows(reversals, identities, {}, no_text, {}, read.parsed.account)


async def _find_reversed(
    uow: UnitOfWork, rows: list[repository.PaymentRow], *, drop_unfound: bool = False
) -> list[repository.PaymentRow]:
    """A negative payment whose bank references (bank_ref or end-to-end id, same reference)
    find an earlier credit of the same absolute amount reverses it: it takes that credit's
    claim (or its unmatched reason). A negative row that finds none keeps its own match, or is
    dropped with ``drop_unfound`` (a charge-back of money this service never recorded)."""
    out: list[repository.PaymentRow] = []
    used: list[UUID] = []
    for row in rows:
        if row.amount_minor >= 0:
            out.append(row)
            continue
        found = await repository.reversible_payment(
            uow.conn,
            amount_minor=-row.amount_minor,
            currency=row.currency,
            bank_ref=row.bank_ref,
            end_to_end_id=row.end_to_end_id,
            reference=row.reference,
            identity=row.identity.value,
            exclude=used,
        )
        if found is None:
            if not drop_unfound:
                out.append(row)
            continue
        original, decision = found
        used.append(original)
        out.append(dataclasses.replace(row, match=decision, reversal_of=original))
    return out


@dataclass(frozen=True, slots=True)
class Notification:
    """A payment reported by a real-time source (not a bank file), by the source's own unique id."""

    source_id: str
    amount_minor: int
    currency: str
    reference: str | None
    remittance_text: str | None
    booking_date: date | None
    payer_account: str | None
    account: str | None = None  # the creditor's collection account the payment was made into
    stated_entries: int | None = None  # BankEntry.stated_entries


NOTIFICATION_FORMAT = "api"


def notification_identity(source_id: str) -> domain.EntryIdentity:
    """A notification is the same payment as every other with its source id: ``api:<id>``."""
    return domain.EntryIdentity(hashlib.sha256(f"api:{source_id}".encode()).hexdigest(), "source_id")


def _notifications_read(notifications: Sequence[Notification], body_sha256: str) -> _ReadFile:
    entries = tuple(
        BankEntry(
            amount_minor=n.amount_minor,
            currency=n.currency.upper(),
            booking_date=n.booking_date,
            value_date=n.booking_date,
            reference=n.reference,
            remittance_text=n.remittance_text,
            bank_ref=n.source_id,
            end_to_end_id=None,
            debtor_name=None,
            debtor_account=n.payer_account,
            account=n.account,
            stated_entries=n.stated_entries,
            entry_index=number,
            detail_index=0,
            line=None,
        )
        for number, n in enumerate(notifications, start=1)
    )
    parsed = ParsedBankFile(format=NOTIFICATION_FORMAT, account=None, entries=entries)
    return _ReadFile(parsed, body_sha256, [notification_identity(n.source_id) for n in notifications])


async def import_notifications(
    db: Database,
    notifications: Sequence[Notification],
    body_sha256: str,
    size_bytes: int,
    now: datetime,
    *,
    started: float | None = None,
) -> ImportResult:
    """Record the notifications whose source id is new, matched and evented exactly as a bank
    file's entries (the events' ``source`` is ``api``); a known source id is a duplicate."""
    started = time.perf_counter() if started is None else started
    read = _notifications_read(notifications, body_sha256)
    return await _import(db, read, None, size_bytes, now, started=started, source=NOTIFICATION_FORMAT)


def _payment_rows(
    entries: Sequence[BankEntry],
    identities: Sequence[domain.EntryIdentity],
    index: dict[str, list[domain.IndexedClaim]],
    texts: list[set[str]],
    by_text: dict[str, list[domain.TextKeyed]],
    file_account: str | None,
) -> list[repository.PaymentRow]:
    rows = []
    file_key = domain.account_key(file_account)
    for entry, identity, keys in zip(entries, identities, texts, strict=True):
        reference = domain.normalise_reference(entry.reference)
        account = domain.account_key(entry.account) or file_key
        decision = domain.match(reference, entry.currency, index.get(reference, []) if reference else [], account)
        if keys:
            named = [keyed for key in sorted(keys) for keyed in by_text.get(key, [])]
            decision = domain.match_text(entry.remittance_text, entry.currency, decision, named, account)
        rows.append(
            repository.PaymentRow(
                id=uuid.uuid4(),
                identity=identity,
                entry_index=entry.entry_index,
                detail_index=entry.detail_index,
                amount_minor=entry.amount_minor,
                currency=entry.currency,
                booking_date=entry.booking_date,
                value_date=entry.value_date,
                reference=reference,
                remittance_text=entry.remittance_text,
                bank_ref=entry.bank_ref,
                end_to_end_id=entry.end_to_end_id,
                debtor_name=entry.debtor_name,
                debtor_account=entry.debtor_account,
                match=decision,
                account=account,
                stated_entries=entry.stated_entries,
            )
        )
    return rows


def _add_events(uow: UnitOfWork, rows: list[repository.PaymentRow], source: str, now: datetime) -> None:
    for row in rows:
        uow.outbox.add(event_for(row, source, now), time=now)


def event_for(row: repository.PaymentRow, source: UUID | str, now: datetime) -> PaymentReceived | PaymentUnmatched:
    """The event of one new payment; a correction (negative amount) keeps its sign.

    ``source`` is the import id of a bank file, or ``api`` for a payment notification."""
    claim = row.match.claim
    if claim is not None:
        return PaymentReceived(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            payment_id=row.id,
            claim_id=claim.claim_id,
            amount_minor=row.amount_minor,
            currency=row.currency,
            reference=row.reference,
            booking_date=row.booking_date,
            value_date=row.value_date,
            bank_ref=row.bank_ref,
            source=str(source),
            received_at=now,
            stated_entries=row.stated_entries,
        )
    assert row.match.reason is not None
    return PaymentUnmatched(
        creditor_id=NIL,
        debtor_id=NIL,
        payment_id=row.id,
        amount_minor=row.amount_minor,
        currency=row.currency,
        reference=row.reference,
        remittance_text=row.remittance_text,
        booking_date=row.booking_date,
        bank_ref=row.bank_ref,
        reason=row.match.reason.value,
        received_at=now,
    )


def _record_metrics(format_: str, new: list[repository.PaymentRow], duplicates: int, seconds: float) -> None:
    metrics.IMPORT_SECONDS.labels(format_).observe(seconds)
    metrics.PAYMENTS_IMPORTED.labels(format_).inc(len(new))
    metrics.PAYMENTS_DUPLICATE.labels(format_).inc(duplicates)
    for row in new:
        if row.match.reason is None:
            metrics.PAYMENTS_MATCHED.inc()
        else:
            metrics.PAYMENTS_UNMATCHED.labels(row.match.reason.value).inc()
        direction = "credit" if row.amount_minor >= 0 else "correction"
        metrics.PAYMENT_AMOUNT.labels(row.currency, direction).inc(abs(row.amount_minor))


async def index_claim(uow: UnitOfWork, event: ClaimCreated, now: datetime) -> None:
    await repository.index_claim(
        uow.conn,
        claim_id=event.claim_id,
        creditor_id=event.creditor_id,
        debtor_id=event.debtor_id,
        reference=domain.normalise_reference(event.reference) or "",
        invoice_no=event.invoice_no,
        currency=event.currency.upper(),
        amount_owed_minor=event.amount_minor + event.fees_minor,
        created_at=event.created_at,
        indexed_at=now,
        customer_no=event.debtor.customer_no,
        account=domain.account_key(event.creditor.payment_account),
    )
    await _rematch(uow, event, now)


async def _rematch(uow: UnitOfWork, event: ClaimCreated, now: datetime) -> None:
    """A payment can reach the bank file before its claim reaches this index (the claim's event
    travels through Kafka). Payments left unmatched for an unknown reference are matched when
    the claim with that reference arrives, instead of waiting for an operator; so are those
    whose remittance text names the claim's invoice number or reference (``_rematch_by_text``)."""
    reference = domain.normalise_reference(event.reference)
    account = domain.account_key(event.creditor.payment_account)
    if reference:
        # Only payments made into this creditor's collection account (or of unknown account).
        rows = await uow.conn.fetch(
            "UPDATE payments p SET state = 'matched', claim_id = $1, creditor_id = $2, debtor_id = $3,"
            " unmatched_reason = NULL, unmatched_detail = NULL, candidates = '[]'::jsonb FROM imports i"
            " WHERE i.id = p.import_id AND p.state = 'unmatched' AND p.unmatched_reason = 'unknown_reference'"
            " AND upper(replace(p.reference, ' ', '')) = $4 AND p.currency = $5"
            " AND (p.account IS NULL OR $6::text IS NULL OR p.account = $6)"
            " RETURNING p.id, p.import_id, i.format, p.amount_minor, p.currency, p.reference, p.booking_date,"
            " p.value_date, p.bank_ref",
            event.claim_id,
            event.creditor_id,
            event.debtor_id,
            reference,
            event.currency.upper(),
            account,
        )
        for row in rows:
            _add_rematched(uow, event, row, now)
    await _rematch_by_text(uow, event, now)


def _later_match(
    row: repository.Row, *, creditor_id: UUID, debtor_id: UUID, claim_id: UUID, now: datetime
) -> PaymentReceived:
    """The event of a stored payment matched after its import (its claim arrived, or an operator)."""
    return PaymentReceived(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        payment_id=row["id"],
        claim_id=claim_id,
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        reference=row["reference"],
        booking_date=row["booking_date"],
        value_date=row["value_date"],
        bank_ref=row["bank_ref"],
        source=NOTIFICATION_FORMAT if row["format"] == NOTIFICATION_FORMAT else str(row["import_id"]),
        received_at=now,
    )


def _add_rematched(uow: UnitOfWork, event: ClaimCreated, row: repository.Row, now: datetime) -> None:
    uow.outbox.add(
        _later_match(row, creditor_id=event.creditor_id, debtor_id=event.debtor_id, claim_id=event.claim_id, now=now),
        time=now,
    )
    metrics.PAYMENTS_MATCHED.inc()


def _like_escaped(key: str) -> str:
    return key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _rematch_by_text(uow: UnitOfWork, event: ClaimCreated, now: datetime) -> None:
    """Queued payments without a usable reference whose text names the new claim are matched by
    the same rule as at import (``domain.match_text`` over every indexed claim the text names),
    so a text that also names another claim stays ambiguous. The queue's texts are scanned
    (compacted ``LIKE``), once per new claim."""
    keys = sorted({k for k in (domain.text_key(event.reference), domain.text_key(event.invoice_no)) if k})
    if not keys:
        return
    queued = await uow.conn.fetch(
        "SELECT p.id, p.remittance_text, p.currency, p.unmatched_reason, p.account FROM payments p"
        " WHERE p.state = 'unmatched' AND p.unmatched_reason IN ('no_reference', 'unknown_reference')"
        " AND p.currency = $2 AND p.remittance_text IS NOT NULL"
        " AND upper(regexp_replace(p.remittance_text, '\\s', '', 'g')) LIKE ANY($1::text[])",
        [f"%{_like_escaped(key)}%" for key in keys],
        event.currency.upper(),
    )
    for payment in queued:
        text = payment["remittance_text"]
        candidates = domain.text_candidates(text)
        by_text = await repository.claims_by_text_key(uow.conn, sorted(candidates))
        named = [keyed for key in sorted(candidates) for keyed in by_text.get(key, [])]
        structured = domain.Match(None, domain.UnmatchedReason(payment["unmatched_reason"]))
        decision = domain.match_text(text, payment["currency"], structured, named, payment["account"])
        if decision.claim is None or decision.claim.claim_id != event.claim_id:
            continue
        row = await uow.conn.fetchrow(
            "UPDATE payments p SET state = 'matched', claim_id = $2, creditor_id = $3, debtor_id = $4,"
            " unmatched_reason = NULL, unmatched_detail = NULL, candidates = '[]'::jsonb FROM imports i"
            " WHERE i.id = p.import_id AND p.id = $1 AND p.state = 'unmatched'"
            " RETURNING p.id, p.import_id, i.format, p.amount_minor, p.currency, p.reference, p.booking_date,"
            " p.value_date, p.bank_ref",
            payment["id"],
            event.claim_id,
            event.creditor_id,
            event.debtor_id,
        )
        if row is not None:
            _add_rematched(uow, event, row, now)


async def close_claim(
    uow: UnitOfWork, *, event_id: str, claim_id: UUID, creditor_id: UUID, status: str, at: datetime
) -> None:
    if not await repository.close_claim(
        uow.conn, claim_id=claim_id, creditor_id=creditor_id, status=status, closed_at=at
    ):
        # Events of one debtor share a partition, so ClaimCreated always comes first; a miss means
        # the claim was never indexed here (another creditor's id, or a claim from before this service).
        log.warning(
            "closed claim is not in the index",
            extra={"event_id": event_id, "claim_id": str(claim_id), "status": status},
        )


class QueueActionError(Exception):
    """An operator action the payment does not allow; ``status`` is the HTTP status it means."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class QueueActionResult:
    payment_id: UUID
    state: str
    claim_id: UUID | None
    handled_at: datetime


async def _queued(uow: UnitOfWork, payment_id: UUID) -> repository.Row:
    """The unmatched payment, locked; 404 unknown or never queued for an operator, 409 handled."""
    row = await repository.payment_for_operator(uow.conn, payment_id)
    if row is None:
        raise QueueActionError(404, "no such unmatched payment")
    if row["operator_action"] is not None:
        raise QueueActionError(409, f"an operator has handled this payment already ({row['operator_action']})")
    if row["state"] != "unmatched":
        raise QueueActionError(404, "no such unmatched payment: it was matched without an operator")
    return row


async def match_by_operator(db: Database, payment_id: UUID, claim_id: UUID, now: datetime) -> QueueActionResult:
    """An operator puts an unmatched payment on a claim: PaymentReceived, and it leaves the queue."""
    async with db.uow() as uow:
        row = await _queued(uow, payment_id)
        claim = await repository.indexed_claim(uow.conn, claim_id)
        if claim is None:
            raise QueueActionError(422, "no claim with this id is indexed")
        if claim.currency != row["currency"]:
            raise QueueActionError(422, f"the claim is in {claim.currency}, the payment in {row['currency']}")
        await repository.operator_match(uow.conn, payment_id, claim, now)
        uow.outbox.add(
            _later_match(
                row, creditor_id=claim.creditor_id, debtor_id=claim.debtor_id, claim_id=claim.claim_id, now=now
            ),
            time=now,
        )
        await uow.commit()
    metrics.PAYMENTS_MATCHED.inc()
    log.info("payment matched by an operator", extra={"payment_id": str(payment_id), "claim_id": str(claim_id)})
    return QueueActionResult(payment_id, "matched", claim_id, now)


async def refund_by_operator(db: Database, payment_id: UUID, now: datetime) -> QueueActionResult:
    """An operator asks for an unmatched payment to be paid back: it leaves the queue (no event)."""
    async with db.uow() as uow:
        await _queued(uow, payment_id)
        await repository.operator_refund(uow.conn, payment_id, now)
        await uow.commit()
    log.info("refund requested by an operator", extra={"payment_id": str(payment_id)})
    return QueueActionResult(payment_id, "refund_requested", None, now)


@dataclass(frozen=True, slots=True)
class CardFailure:
    """A card processor's report that one instalment of a card agreement was not authorised."""

    source_id: str  # the processor's own unique id of the report
    creditor_id: UUID
    customer_no: str
    agreement_ref: str
    instalment_no: int
    instalment_count: int | None
    amount_minor: int
    currency: str
    reason: str
    next_attempt_date: date | None  # when the card is charged again (the next instalment)
    failed_at: datetime


async def record_card_failure(db: Database, failure: CardFailure, now: datetime) -> tuple[repository.Row, bool]:
    """Record a failed card instalment once per processor id and emit CardInstalmentFailed, on
    which claims-api creates the payment-slip claim due today. Returns the stored failure and
    whether this call recorded it (False: the id was reported before; the first report wins).

    The event's debtor is the one claims-api gave the creditor's customer, as the claim index
    knows it; a customer without any indexed claim gets the nil id, and claims-api resolves the
    debtor by creditor and customer number (both are in the event)."""
    async with db.uow() as uow:
        debtor_id = await repository.debtor_of_customer(uow.conn, failure.creditor_id, failure.customer_no)
        row = await repository.insert_card_failure(
            uow.conn,
            failure_id=uuid.uuid4(),
            source_id=failure.source_id,
            creditor_id=failure.creditor_id,
            debtor_id=debtor_id,
            customer_no=failure.customer_no,
            agreement_ref=failure.agreement_ref,
            instalment_no=failure.instalment_no,
            instalment_count=failure.instalment_count,
            amount_minor=failure.amount_minor,
            currency=failure.currency,
            reason=failure.reason,
            next_attempt_date=failure.next_attempt_date,
            failed_at=failure.failed_at,
            received_at=now,
        )
        if row is None:
            known = await repository.card_failure(uow.conn, source_id=failure.source_id)
            assert known is not None  # the conflict means it is there, committed
            return known, False
        uow.outbox.add(
            CardInstalmentFailed(
                creditor_id=failure.creditor_id,
                debtor_id=debtor_id or NIL,
                failure_id=row["id"],
                customer_no=failure.customer_no,
                agreement_ref=failure.agreement_ref,
                instalment_no=failure.instalment_no,
                amount_minor=failure.amount_minor,
                currency=failure.currency,
                reason=failure.reason,
                next_attempt_date=failure.next_attempt_date,
                failed_at=failure.failed_at,
            ),
            time=now,
        )
        await uow.commit()
    metrics.CARD_FAILURES.labels(failure.currency).inc()
    log.info(
        "card instalment failure recorded",
        extra={"failure_id": str(row["id"]), "instalment_no": failure.instalment_no, "debtor_known": bool(debtor_id)},
    )
    return row, True
