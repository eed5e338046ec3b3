"""The event of a new payment: a match becomes PaymentReceived for its claim (a correction keeps
its minus sign), anything else PaymentUnmatched with nil ids, keyed by the payment."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from krafa_events import PaymentReceived, PaymentUnmatched
from krafa_payments_ingest import domain, repository, service

NOW = datetime(2026, 3, 5, 10, tzinfo=UTC)
IMPORT_ID = uuid.uuid4()


def a_row(match: domain.Match, **overrides: Any) -> repository.PaymentRow:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "identity": domain.EntryIdentity("0" * 64, "bank_ref"), "entry_index": 1,
        "detail_index": 0, "amount_minor": 10_390, "currency": "ISK", "booking_date": date(2026, 3, 5),
        "value_date": date(2026, 3, 6), "reference": "RF18539007547034", "remittance_text": "INV-1",
        "bank_ref": "B-1", "end_to_end_id": None, "debtor_name": "Jón Jónsson", "debtor_account": None,
        "match": match,
    }  # fmt: skip
    values.update(overrides)
    return repository.PaymentRow(**values)


def test_matched_correction_is_a_negative_payment_received() -> None:
    claim = domain.IndexedClaim(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "ISK", "paid")
    row = a_row(domain.Match(claim, None), amount_minor=-390)
    event = service.event_for(row, IMPORT_ID, NOW)
    assert isinstance(event, PaymentReceived)
    assert (event.creditor_id, event.debtor_id, event.claim_id) == (claim.creditor_id, claim.debtor_id, claim.claim_id)
    assert (event.payment_id, event.amount_minor, event.source, event.received_at) == (
        row.id,
        -390,
        str(IMPORT_ID),
        NOW,
    )
    assert (event.value_date, event.bank_ref) == (date(2026, 3, 6), "B-1")
    assert event.key() == f"{claim.creditor_id}:{claim.debtor_id}"


def test_unmatched_payment_has_nil_ids_and_its_reason() -> None:
    row = a_row(domain.Match(None, domain.UnmatchedReason.AMBIGUOUS_REFERENCE))
    event = service.event_for(row, IMPORT_ID, NOW)
    assert isinstance(event, PaymentUnmatched)
    assert event.creditor_id.int == 0 and event.debtor_id.int == 0
    assert (event.reason, event.remittance_text, event.amount_minor) == ("ambiguous_reference", "INV-1", 10_390)
    assert event.key() == f"unmatched:{row.id}"
