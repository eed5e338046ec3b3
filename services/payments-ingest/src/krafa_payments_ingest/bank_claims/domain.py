"""The bank claim as Krafa wants the bank to hold it, computed from what the ledger says is owed.
No I/O.

One owner of money: claims-api's ledger. The bank's own default-charge and default-interest
engines are switched off (both rules sent as null), because Krafa books reminder fees and late
interest itself, step by step and within the law's caps; the netbank must show what the ledger
holds, not a second computation. The ledger's components map onto the claim's amounts:

- ``amount``: the principal,
- ``otherCostsAmount``: fees (the slip fee, reminder and collection fees),
- ``otherDefaultCostsAmount``: late interest Krafa booked,

each as outstanding in the ledger plus what payments at the bank already covered of it (the bank
subtracts its own payments from the claim's amounts). The bank applies a payment to costs, then
default costs, then the principal: the ledger's order (fees, interest, principal), so a payment made
in the netbank leaves both with the same outstanding components.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from krafa_events import currencies
from krafa_events.references import bank_claim_account, bank_claim_id

# How long a claim stays in the netbank (expirationDate, niðurfellingardagur): the general
# limitation period of a money claim in Iceland, four years (lög um fyrningu kröfuréttinda
# nr. 150/2007, 3. gr.), counted from the final due date.
EXPIRY_YEARS = 4


@dataclass(frozen=True, slots=True)
class BankClaim:
    """A row of bank_claims, as the sync reads it."""

    claim_id: UUID
    claimant_id: str
    claim_bank: str
    claim_number: str
    due_date: date
    final_due_date: date
    payor_id: str
    template_code: str
    secondary_template_code: str | None
    partial_payment_allowed: bool
    currency: str
    principal_minor: int
    fees_minor: int
    interest_minor: int
    bank_paid_principal_minor: int
    bank_paid_fees_minor: int
    bank_paid_interest_minor: int
    wanted: str  # open, cancelled
    collection: str  # primary, secondary
    state: str  # new, open, paid, cancelled, failed
    sent: dict[str, Any] | None
    ledger_entries: int = 0  # the ledger's length behind the amounts (ClaimBalanceChanged.ledger_entries)

    @property
    def ledger_version(self) -> int:
        """The ledger's length the amounts stand for: a claim no balance change has reached yet
        holds the opening charge, its first entry (what ClaimCreated carried)."""
        return max(self.ledger_entries, 1)

    @property
    def key(self) -> dict[str, str]:
        return {
            "claimantId": self.claimant_id,
            "account": bank_claim_account(self.claim_bank, self.claim_number),
            "dueDate": self.due_date.isoformat(),
        }

    @property
    def bank_id(self) -> str:
        return bank_claim_id(self.claimant_id, self.claim_bank, self.claim_number, self.due_date)


def krónur(amount_minor: int, currency: str) -> int:
    """IOBWS amounts are in krónur; ISK has no minor unit, and bank claims are ISK only."""
    if currency.upper() != "ISK":
        raise ValueError(f"a bank claim is in krónur, not {currency}")
    return amount_minor


def expiration_date(final_due: date) -> date:
    try:
        return final_due.replace(year=final_due.year + EXPIRY_YEARS)
    except ValueError:  # 29 February
        return final_due.replace(year=final_due.year + EXPIRY_YEARS, day=28)


def amounts(claim: BankClaim) -> dict[str, int]:
    """The claim's amounts so that what the netbank shows due equals the ledger's balance."""
    return {
        "amount": krónur(max(claim.principal_minor, 0) + claim.bank_paid_principal_minor, claim.currency),
        "otherCostsAmount": krónur(max(claim.fees_minor, 0) + claim.bank_paid_fees_minor, claim.currency),
        "otherDefaultCostsAmount": krónur(
            max(claim.interest_minor, 0) + claim.bank_paid_interest_minor, claim.currency
        ),
    }


def wanted_fields(claim: BankClaim) -> dict[str, Any]:
    """The fields Krafa keeps in step (amounts and dates); the collection status beside them."""
    return {
        **amounts(claim),
        "finalDueDate": claim.final_due_date.isoformat(),
        "expirationDate": expiration_date(claim.final_due_date).isoformat(),
        "isPartialPaymentAllowed": claim.partial_payment_allowed,
        "collectionStatus": "SecondaryCollection" if claim.collection == "secondary" else "PrimaryCollection",
    }


def create_body(claim: BankClaim) -> dict[str, Any]:
    """createClaimDetails for a new claim."""
    fields = wanted_fields(claim)
    fields.pop("collectionStatus")
    return {
        "claimKey": claim.key,
        "payorId": claim.payor_id,
        "templateCode": claim.template_code,
        **fields,
        "defaultCharge": None,
        "defaultInterest": None,
        "isOutOfSequencePaymentAllowed": True,
        "currency": claim.currency.upper(),
        "claimType": "NormalClaim",
    }


def sent_after_create(claim: BankClaim) -> dict[str, Any]:
    """What the bank holds right after create (the fields compared by `patch_for`)."""
    return {**wanted_fields(claim), "collectionStatus": "PrimaryCollection"}


def patch_for(claim: BankClaim) -> dict[str, Any]:
    """The merge patch that brings the bank's claim to what Krafa wants, {} when it is there."""
    sent = claim.sent or {}
    return {name: value for name, value in wanted_fields(claim).items() if sent.get(name) != value}


@dataclass(frozen=True, slots=True)
class ReportedPayment:
    """A payment the bank reported (claimTransaction), in the ledger's terms."""

    bank_id: str  # the claim's id at the bank
    batch_id: str  # the bank's own reference of the payment: what identifies it everywhere
    total_minor: int
    principal_minor: int
    fees_minor: int
    interest_minor: int
    complete: bool
    booking_date: date | None
    value_date: date | None
    currency: str


def reported_payment(transaction: dict[str, Any]) -> ReportedPayment:
    """A claimTransaction as a payment; costs the bank books apart (notice, default charge) count as fees.

    The amounts are JSON numbers in the currency's major unit, read as Decimal (the client parses
    them so, never as floats) and turned into minor units exactly by the one currency table; an
    amount finer than the currency's minor unit raises ValueError instead of being rounded."""
    key = transaction["claimKey"]
    bank_id = f"{key['claimantId']}{key['account']}+{key['dueDate'].replace('-', '')}"
    currency = (transaction.get("currency") or "ISK").upper()

    def minor(name: str) -> int:
        value = transaction.get(name)
        try:
            return 0 if value is None else currencies.to_minor(value, currency)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None

    total = minor("totalAmountPaid")
    return ReportedPayment(
        bank_id=bank_id,
        batch_id=transaction.get("transactionBatchId") or _fallback_id(bank_id, transaction, total),
        total_minor=total,
        principal_minor=minor("amount"),
        fees_minor=minor("otherCostsAmountPaid") + minor("noticeChargeAmountPaid") + minor("defaultChargeAmountPaid"),
        interest_minor=minor("otherDefaultCostsAmountPaid") + minor("defaultInterestAmountPaid"),
        complete=transaction.get("paymentType") == "Complete",
        booking_date=date.fromisoformat(transaction["bookingDate"]) if transaction.get("bookingDate") else None,
        value_date=date.fromisoformat(transaction["valueDate"]) if transaction.get("valueDate") else None,
        currency=currency,
    )


def _fallback_id(bank_id: str, transaction: dict[str, Any], total_minor: int) -> str:
    # A bank that leaves out the batch id: the claim, the moment and the amount name the payment
    # (the amount in minor units, so 3000 and 3000.00 name the same one).
    basis = f"{bank_id}|{transaction.get('transactionTimestamp')}|{total_minor}"
    return "T" + hashlib.sha256(basis.encode()).hexdigest()[:32]
