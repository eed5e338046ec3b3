"""The pure core of payments-ingest: when two bank entries are the same payment, and which
claim a payment belongs to. No I/O.

Identity. A bank file may be imported twice, and consecutive statements (or a camt.054
notification and the camt.053 statement that later books the same credits) overlap, so every
entry gets an identity that does not depend on the file it came in:

1. the bank's own reference: ``bank_ref`` (AcctSvcrRef, MT940 bank reference, OCR archive
   reference) with the detail index inside a batched entry, the amount, the currency, the
   booking date and the structured reference — the last because some banks repeat one
   reference over a whole batch (the Nets OCR archive reference);
   A payment of an Icelandic bank claim is the exception: it is identified by the bank's own
   reference (the transaction's batch id) with its amount and currency alone, because the claims
   interface reports the same payment in near real time and the bank file reports it again later,
   with another booking date but the same reference; one identity makes the second report a
   duplicate whichever arrives first;
2. else the payer's ``end_to_end_id`` with the amount, currency, booking date and reference;
3. else a SHA-256 content hash of the normalised entry: account, amount, currency, dates,
   reference, remittance text and the payer's account and name.

Two entries of one file are two payments even when their keys are equal (two identical
transfers on one day), so equal keys within a file are numbered in file order. A statement
covers whole booking days, so an overlapping statement numbers them the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from uuid import UUID

from krafa_events.references import compact, is_bank_claim_reference

from krafa_payments_ingest.parsers import BankEntry

IdentityBasis = Literal["bank_ref", "end_to_end_id", "content", "source_id", "bank_claim"]  # source_id: api:<id>


@dataclass(frozen=True, slots=True)
class EntryIdentity:
    value: str  # 64 hex digits: the unique key of a payment
    basis: IdentityBasis


def normalise_reference(reference: str | None) -> str | None:
    """A structured reference as claims are indexed by it: no spaces, upper case."""
    if reference is None:
        return None
    return compact(reference) or None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return " ".join(value.split()).casefold() or None


def _token(value: str | None) -> str | None:
    if value is None:
        return None
    return "".join(value.split()) or None


def identity_key(entry: BankEntry, account: str | None) -> tuple[IdentityBasis, str]:
    """The entry's identity before numbering, as canonical JSON (unambiguous field separation)."""
    booking = entry.booking_date.isoformat() if entry.booking_date else None
    reference = normalise_reference(entry.reference)
    common = [entry.amount_minor, entry.currency.upper(), booking, reference]
    basis: IdentityBasis
    if (bank_ref := _token(entry.bank_ref)) and reference and is_bank_claim_reference(reference):
        basis, fields = "bank_claim", [bank_ref, entry.amount_minor, entry.currency.upper()]
    elif bank_ref:
        basis, fields = "bank_ref", [bank_ref, entry.detail_index, *common]
    elif end_to_end := _token(entry.end_to_end_id):
        basis, fields = "end_to_end_id", [end_to_end, *common]
    else:
        basis = "content"
        fields = [
            _token(account.upper()) if account else None,
            *common,
            entry.value_date.isoformat() if entry.value_date else None,
            _text(entry.remittance_text),
            _token(entry.debtor_account.upper()) if entry.debtor_account else None,
            _text(entry.debtor_name),
        ]
    return basis, json.dumps([basis, *fields], ensure_ascii=False, separators=(",", ":"))


def entry_identities(entries: Sequence[BankEntry], account: str | None) -> list[EntryIdentity]:
    """The identity of every entry of one file, in file order."""
    seen: Counter[str] = Counter()
    identities = []
    for entry in entries:
        basis, key = identity_key(entry, account)
        ordinal = seen[key]
        seen[key] += 1
        digest = hashlib.sha256(f"{key}#{ordinal}".encode()).hexdigest()
        identities.append(EntryIdentity(digest, basis))
    return identities


class UnmatchedReason(StrEnum):
    NO_REFERENCE = "no_reference"  # the entry carries no structured reference
    UNKNOWN_REFERENCE = "unknown_reference"  # no claim has it
    CURRENCY_MISMATCH = "currency_mismatch"  # claims have it, none in the entry's currency
    AMBIGUOUS_REFERENCE = "ambiguous_reference"  # several claims have it (or the text names several)
    ACCOUNT_MISMATCH = "account_mismatch"  # claims have it, of creditors collecting on other accounts


# --- collection accounts -----------------------------------------------------------------------
#
# A bank file reports on one account (camt Acct, MT940 :25:), and every creditor collects on its
# own account (its payment_account in ClaimCreated). A payment is only ever matched to a claim of
# a creditor collecting on the account it was paid into, when both are known. Accounts are given
# as IBANs or in national form; both reduce to one key: Iceland's 4+2+6-digit bank account (the
# IBAN's BBAN carries the owner's kennitala after it), Norway's 11 digits, otherwise the IBAN.

_ICELANDIC_ACCOUNT = re.compile(r"^(\d{1,4})-(\d{1,2})-(\d{1,6})$")


def account_key(account: str | None) -> str | None:
    """The comparable form of an account number, or None when there is none."""
    if account is None:
        return None
    text = account.strip()
    if parts := _ICELANDIC_ACCOUNT.match(text):
        bank, ledger, number = parts.groups()
        return bank.zfill(4) + ledger.zfill(2) + number.zfill(6)
    compacted = "".join(c for c in text.upper() if c.isalnum())
    if not compacted:
        return None
    if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", compacted):
        country, bban = compacted[:2], compacted[4:]
        if country == "IS" and len(bban) == 22:
            return bban[:12]
        if country == "NO" and len(bban) == 11:
            return bban
    return compacted


@dataclass(frozen=True, slots=True)
class IndexedClaim:
    claim_id: UUID
    creditor_id: UUID
    debtor_id: UUID
    currency: str
    status: str  # open, paid, cancelled
    account: str | None = None  # account_key of the creditor's collection account, if it gave one


@dataclass(frozen=True, slots=True)
class Match:
    claim: IndexedClaim | None
    reason: UnmatchedReason | None
    # For the operator queue: what was looked at and why it was not enough.
    explanation: str | None = None
    candidates: tuple[IndexedClaim, ...] = ()

    @property
    def matched(self) -> bool:
        return self.claim is not None


def _describe(claims: Sequence[IndexedClaim]) -> str:
    return ", ".join(f"claim {c.claim_id} ({c.currency}, {c.status}, creditor {c.creditor_id})" for c in claims)


def _decide(candidates: Sequence[IndexedClaim], currency: str, account: str | None, named_by: str) -> Match:
    """One claim among those a reference or a text names, or why none."""
    on_account = [c for c in candidates if account is None or c.account is None or c.account == account]
    if not on_account:
        return Match(
            None,
            UnmatchedReason.ACCOUNT_MISMATCH,
            f"{named_by} belongs to {_describe(candidates)}, but the payment was made into account {account}, "
            "which is not that creditor's collection account",
            tuple(candidates),
        )
    same_currency = [claim for claim in on_account if claim.currency == currency.upper()]
    if not same_currency:
        return Match(
            None,
            UnmatchedReason.CURRENCY_MISMATCH,
            f"the payment is in {currency.upper()}, {named_by} belongs to {_describe(on_account)}",
            tuple(on_account),
        )
    if len(same_currency) > 1:
        return Match(
            None,
            UnmatchedReason.AMBIGUOUS_REFERENCE,
            f"{named_by} fits {len(same_currency)} claims: {_describe(same_currency)}; money is never guessed "
            "onto one of them",
            tuple(same_currency),
        )
    return Match(same_currency[0], None)


def match(
    reference: str | None, currency: str, candidates: Sequence[IndexedClaim], account: str | None = None
) -> Match:
    """Decide the claim of a payment from the claims indexed under its normalised reference,
    among those of creditors collecting on `account` (the account_key the payment was made into,
    when the bank file says).

    A closed claim still takes the payment: claims-api records it as an overpayment, which is
    better than leaving money the debtor clearly meant for that claim in the operator queue.
    Money is never guessed onto one of several claims: an ambiguous reference waits for an operator.
    """
    if reference is None:
        return Match(None, UnmatchedReason.NO_REFERENCE, "the payment carries no structured reference")
    if not candidates:
        return Match(None, UnmatchedReason.UNKNOWN_REFERENCE, f"no claim has the reference {reference}")
    return _decide(candidates, currency, account, f"the reference {reference}")


# --- matching by the remittance text ---------------------------------------------------------
#
# A payer who does not use the structured reference often types the invoice number or the
# reference into the free text ("Invoice INV-1042, thanks"). A key is found there only as a
# whole word (not inside a longer one), case-insensitively, and with the spaces a payer may
# put into a reference ignored. Keys shorter than MIN_TEXT_KEY characters or without a digit
# are never looked for: "12" or "March" would match far too much.

MIN_TEXT_KEY = 5
MAX_TEXT_KEY = 40  # longest key looked for; ISO 11649 references have 25 characters at most
MAX_TEXT = 2_000  # only the start of a longer remittance text is searched


@dataclass(frozen=True, slots=True)
class TextKeyed:
    """A claim and the keys it may be named by in a remittance text: compact reference, invoice no."""

    claim: IndexedClaim
    keys: tuple[str, ...]


def text_key(value: str | None) -> str | None:
    """A reference or invoice number as looked for in text: compacted, upper case; None when too weak."""
    if value is None:
        return None
    key = compact(value)
    if len(key) < MIN_TEXT_KEY or len(key) > MAX_TEXT_KEY or not any(c.isdigit() for c in key):
        return None
    return key


# A token: word characters, possibly joined by - / . (``INV-1042``, ``2026/17``, ``12.03``).
_TOKEN = re.compile(r"\w(?:[\w/.-]*\w)?")
_JOINERS = re.compile(r"[/.-]")


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def text_candidates(text: str | None) -> set[str]:
    """The keys a remittance text could name, compacted, upper case (for the index lookup).

    A candidate is bounded by non-word characters: a token (``INV-1042``), a part of one
    between its joiners (``INV-1042`` in ``INV-1042/2``), or space-separated tokens run together
    when every token after the first holds a digit (``RF18 5390 0754 7034``, ``INV 1042``). This
    is a cheap superset for the lookup (tens of microseconds an entry); ``text_mentions``
    decides. A key spelled in any other way (``INV - 1042``) is not found.
    """
    if not text:
        return set()
    tokens = [m.group().upper() for m in _TOKEN.finditer(text[:MAX_TEXT])]
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if MIN_TEXT_KEY <= len(token) <= MAX_TEXT_KEY and _has_digit(token):
            found.add(token)
        if _JOINERS.search(token):
            parts = _JOINERS.split(token)
            joiners = _JOINERS.findall(token)
            for a in range(len(parts)):
                run = parts[a]
                for b in range(a + 1, len(parts)):
                    run += joiners[b - 1] + parts[b]
                    if len(run) > MAX_TEXT_KEY:
                        break
                    if (a, b) != (0, len(parts) - 1) and len(run) >= MIN_TEXT_KEY and _has_digit(run):
                        found.add(run)
        run = token
        for following in tokens[i + 1 :]:
            if not _has_digit(following):
                break
            run += following
            if len(run) > MAX_TEXT_KEY:
                break
            if len(run) >= MIN_TEXT_KEY:
                found.add(run)
    return found


def _key_pattern(key: str) -> re.Pattern[str]:
    body = r"\s*".join(re.escape(c) for c in key)
    start = r"(?<!\w)" if key[0].isalnum() or key[0] == "_" else ""
    end = r"(?!\w)" if key[-1].isalnum() or key[-1] == "_" else ""
    return re.compile(start + body + end, re.IGNORECASE)


def text_mentions(text: str | None, key: str) -> bool:
    """Whether the text names the key as a whole word, case-insensitively, spaces ignored."""
    return bool(text) and _key_pattern(key).search((text or "")[:MAX_TEXT]) is not None


def match_text(
    text: str | None,
    currency: str,
    structured: Match,
    candidates: Iterable[TextKeyed],
    account: str | None = None,
) -> Match:
    """Second chance for an entry the structured reference did not match (no reference or an
    unknown one): the claims whose invoice number or reference the remittance text names, among
    those of creditors collecting on `account` (invoice numbers repeat across creditors).

    One claim in the entry's currency takes the payment; several are ``ambiguous_reference``;
    named claims only in other currencies are ``currency_mismatch``, only on other accounts
    ``account_mismatch``; none keeps ``structured``.
    """
    if structured.matched or structured.reason not in (
        UnmatchedReason.NO_REFERENCE,
        UnmatchedReason.UNKNOWN_REFERENCE,
    ):
        return structured
    named: dict[UUID, IndexedClaim] = {}
    for keyed in candidates:
        if any(text_mentions(text, key) for key in keyed.keys):
            named[keyed.claim.claim_id] = keyed.claim
    if not named:
        return structured
    return _decide(list(named.values()), currency, account, "the remittance text")
