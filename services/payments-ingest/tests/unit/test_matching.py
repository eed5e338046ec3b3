"""The pure core: an entry's identity survives re-imports and overlapping files, references are
compared in one canonical form, and money is never guessed onto one of several claims."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from typing import Any

import pytest
from krafa_payments_ingest import domain
from krafa_payments_ingest.domain import IndexedClaim, UnmatchedReason
from krafa_payments_ingest.parsers import BankEntry

ACCOUNT = "IS140159260076545510730339"


def an_entry(**overrides: Any) -> BankEntry:
    values: dict[str, Any] = {
        "amount_minor": 10_390, "currency": "ISK", "booking_date": date(2026, 3, 5),
        "value_date": date(2026, 3, 5), "reference": "RF18539007547034", "remittance_text": None,
        "bank_ref": "B-1", "end_to_end_id": None, "debtor_name": "Jón Jónsson",
        "debtor_account": "IS750116260000000000000000", "entry_index": 1, "detail_index": 0, "line": 12,
    }  # fmt: skip
    values.update(overrides)
    return BankEntry(**values)


def identity(entry: BankEntry, account: str | None = ACCOUNT) -> domain.EntryIdentity:
    [only] = domain.entry_identities([entry], account)
    return only


def a_claim(currency: str = "ISK", status: str = "open") -> IndexedClaim:
    return IndexedClaim(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), currency, status)


def test_identity_is_the_same_on_every_import() -> None:
    entries = [an_entry(), an_entry(bank_ref="B-2", amount_minor=5_000)]
    assert domain.entry_identities(entries, ACCOUNT) == domain.entry_identities(list(entries), ACCOUNT)
    assert len(identity(an_entry()).value) == 64


def test_identity_ignores_the_position_in_the_file() -> None:
    # The same credit in an overlapping statement sits at another entry index and line.
    assert identity(an_entry()) == identity(an_entry(entry_index=7, line=301))


def test_bank_reference_is_the_first_basis() -> None:
    assert identity(an_entry()).basis == "bank_ref"
    # The bank's reference identifies the entry whatever account string the file format carries.
    assert identity(an_entry(), "NL81ASNB9999999999") == identity(an_entry())


def test_bank_reference_identity_includes_detail_amount_date_and_reference() -> None:
    base = identity(an_entry())
    assert identity(an_entry(detail_index=1)) != base
    assert identity(an_entry(amount_minor=10_391)) != base
    assert identity(an_entry(booking_date=date(2026, 3, 6))) != base
    assert identity(an_entry(currency="EUR")) != base


def test_batch_sharing_one_bank_reference_keeps_its_payments_apart() -> None:
    # Nets OCR repeats one archive reference over a whole assignment; the KIDs tell them apart.
    batch = [an_entry(bank_ref="000000010", amount_minor=400, reference=kid) for kid in ("1199302", "1199310")]
    first, second = domain.entry_identities(batch, ACCOUNT)
    assert first != second


def test_end_to_end_id_is_the_basis_without_a_bank_reference() -> None:
    found = identity(an_entry(bank_ref=None, end_to_end_id="E2E-1"))
    assert found.basis == "end_to_end_id"
    assert found == identity(an_entry(bank_ref=None, end_to_end_id="E2E-1", debtor_name="J. Jonsson"))
    assert found != identity(an_entry(bank_ref=None, end_to_end_id="E2E-2"))


def test_content_hash_is_the_fallback_and_normalises_the_fields() -> None:
    plain = an_entry(bank_ref=None, reference="RF18539007547034", remittance_text="Invoice 12  March")
    found = identity(plain)
    assert found.basis == "content"
    respelled = dataclasses.replace(plain, reference="rf18 5390 0754 7034", remittance_text=" invoice 12 march ")
    assert identity(respelled) == found
    assert identity(dataclasses.replace(plain, remittance_text="Invoice 13 March")) != found
    assert identity(plain, "DE14740618130000033626") != found


def test_identical_entries_in_one_file_are_two_payments() -> None:
    twice = [an_entry(bank_ref=None), an_entry(bank_ref=None, entry_index=2)]
    first, second = domain.entry_identities(twice, ACCOUNT)
    assert first != second
    # The first of them is the entry a file holding it once would have.
    assert first == identity(an_entry(bank_ref=None))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("RF18539007547034", "RF18539007547034"), ("rf18 5390 0754 7034", "RF18539007547034"),
     (" 1234 5678 97 ", "1234567897"), ("", None), ("   ", None), (None, None)],
)  # fmt: skip
def test_reference_normalisation(raw: str | None, expected: str | None) -> None:
    assert domain.normalise_reference(raw) == expected


def test_one_claim_with_the_reference_matches() -> None:
    claim = a_claim()
    decision = domain.match("RF18539007547034", "ISK", [claim])
    assert decision.claim == claim
    assert decision.matched and decision.reason is None


def test_a_closed_claim_still_takes_the_payment() -> None:
    claim = a_claim(status="paid")
    assert domain.match("RF18539007547034", "ISK", [claim]).claim == claim


def test_no_reference_is_unmatched() -> None:
    assert domain.match(None, "ISK", []).reason is UnmatchedReason.NO_REFERENCE


def test_unknown_reference_is_unmatched() -> None:
    decision = domain.match("RF18539007547034", "ISK", [])
    assert decision.claim is None
    assert decision.reason is UnmatchedReason.UNKNOWN_REFERENCE


def test_reference_of_another_currency_is_unmatched() -> None:
    assert domain.match("RF18539007547034", "EUR", [a_claim("ISK")]).reason is UnmatchedReason.CURRENCY_MISMATCH


def test_reference_at_two_creditors_is_ambiguous() -> None:
    decision = domain.match("RF18539007547034", "ISK", [a_claim(), a_claim()])
    assert decision.claim is None
    assert decision.reason is UnmatchedReason.AMBIGUOUS_REFERENCE


def test_currency_settles_a_reference_shared_across_currencies() -> None:
    eur = a_claim("EUR")
    assert domain.match("RF18539007547034", "eur", [a_claim("ISK"), eur]).claim == eur


# --- the remittance text ---------------------------------------------------------------------


def keyed(claim: IndexedClaim, *keys: str) -> domain.TextKeyed:
    return domain.TextKeyed(claim, tuple(k for key in keys if (k := domain.text_key(key))))


UNKNOWN = domain.Match(None, UnmatchedReason.UNKNOWN_REFERENCE)
NO_REFERENCE = domain.Match(None, UnmatchedReason.NO_REFERENCE)


@pytest.mark.parametrize(
    ("text", "key", "found"),
    [("Invoice INV-1042, thanks", "INV-1042", True), ("invoice inv-1042", "INV-1042", True),
     ("XINV-1042", "INV-1042", False), ("INV-10421", "INV-1042", False), ("INV-1042/2", "INV-1042", True),
     ("ref RF18 5390 0754 7034.", "RF18539007547034", True), ("rf185390 07547034", "RF18539007547034", True),
     ("RF185390075470345", "RF18539007547034", False), (None, "INV-1042", False), ("", "INV-1042", False)],
)  # fmt: skip
def test_text_mentions_a_key_as_a_whole_word(text: str | None, key: str, found: bool) -> None:
    assert domain.text_mentions(text, key) is found


def test_text_candidates_hold_the_keys_the_text_names() -> None:
    found = domain.text_candidates("Invoice INV-1042, ref rf18 5390 0754 7034")
    assert {"INV-1042", "RF18539007547034"} <= found
    assert "INV-104" not in found and "NV-1042" not in found
    assert domain.text_candidates(None) == set() and domain.text_candidates("thanks") == set()


@pytest.mark.parametrize(("raw", "key"), [("INV-1042", "INV-1042"), ("inv 1042", "INV1042"), ("12", None),
                                          ("MARCH", None), ("x" * 41 + "1", None), (None, None)])  # fmt: skip
def test_weak_keys_are_never_looked_for(raw: str | None, key: str | None) -> None:
    assert domain.text_key(raw) == key


def test_invoice_number_in_the_text_matches_an_entry_without_reference() -> None:
    claim = a_claim()
    decision = domain.match_text("Payment for INV-1042", "isk", NO_REFERENCE, [keyed(claim, "INV-1042")])
    assert decision == domain.Match(claim, None)


def test_reference_in_the_text_matches_an_entry_with_an_unknown_reference() -> None:
    claim = a_claim()
    decision = domain.match_text("RF18 5390 0754 7034", "ISK", UNKNOWN, [keyed(claim, "RF18539007547034")])
    assert decision.claim == claim


def test_the_same_claim_named_twice_is_one_candidate() -> None:
    claim = a_claim()
    candidate = keyed(claim, "RF18539007547034", "INV-1042")
    text = "INV-1042 RF18539007547034"
    assert domain.match_text(text, "ISK", NO_REFERENCE, [candidate, candidate]).claim == claim


def test_two_claims_named_in_the_text_are_ambiguous() -> None:
    text = "INV-1042 and INV-1043"
    decision = domain.match_text(
        text, "ISK", NO_REFERENCE, [keyed(a_claim(), "INV-1042"), keyed(a_claim(), "INV-1043")]
    )
    assert decision.claim is None and decision.reason is UnmatchedReason.AMBIGUOUS_REFERENCE
    assert len(decision.candidates) == 2


def test_one_invoice_number_at_two_creditors_is_ambiguous() -> None:
    both = [keyed(a_claim(), "INV-1042"), keyed(a_claim(), "INV-1042")]
    assert domain.match_text("INV-1042", "ISK", NO_REFERENCE, both).reason is UnmatchedReason.AMBIGUOUS_REFERENCE


def test_currency_decides_between_claims_named_in_the_text() -> None:
    eur = a_claim("EUR")
    both = [keyed(a_claim("ISK"), "INV-1042"), keyed(eur, "INV-1042")]
    assert domain.match_text("INV-1042", "EUR", NO_REFERENCE, both).claim == eur
    only_isk = [keyed(a_claim("ISK"), "INV-1042")]
    assert domain.match_text("INV-1042", "EUR", NO_REFERENCE, only_isk).reason is UnmatchedReason.CURRENCY_MISMATCH


def test_text_that_names_no_candidate_keeps_the_structured_reason() -> None:
    candidate = [keyed(a_claim(), "INV-1042")]
    assert domain.match_text("INV-10420", "ISK", UNKNOWN, candidate) == UNKNOWN
    assert domain.match_text(None, "ISK", NO_REFERENCE, candidate) == NO_REFERENCE


def test_text_never_overrides_a_structured_decision() -> None:
    claim, other = a_claim(), a_claim()
    matched = domain.Match(claim, None)
    assert domain.match_text("INV-1042", "ISK", matched, [keyed(other, "INV-1042")]) == matched
    ambiguous = domain.Match(None, UnmatchedReason.AMBIGUOUS_REFERENCE)
    assert domain.match_text("INV-1042", "ISK", ambiguous, [keyed(other, "INV-1042")]) == ambiguous


def test_account_keys_compare_ibans_with_national_forms() -> None:
    # Iceland: bank-ledger-account; the IBAN's BBAN carries the owner's kennitala after it.
    assert domain.account_key("IS14 0159 2600 7654 5510 7303 39") == domain.account_key("0159-26-007654")
    assert domain.account_key("159-26-7654") == "015926007654"
    # Norway: 11 digits, written with dots.
    assert domain.account_key("NO93 8601 1117 947") == domain.account_key("8601.11.17947") == "86011117947"
    # Elsewhere the IBAN itself.
    assert domain.account_key("ee38 2200 2210 2014 5685") == "EE382200221020145685"
    assert domain.account_key("0159-26-007654") != domain.account_key("0133-26-012345")
    assert domain.account_key(None) is None and domain.account_key(" - ") is None


def test_a_reference_only_matches_claims_of_the_creditor_collecting_on_the_account() -> None:
    ours = dataclasses.replace(a_claim(), account="015926007654")
    theirs = dataclasses.replace(a_claim(), account="013326012345")
    unknown = a_claim()  # a creditor that gave no account
    assert domain.match("RF1", "ISK", [ours], "015926007654").claim == ours
    assert domain.match("RF1", "ISK", [ours, theirs], "015926007654").claim == ours
    assert domain.match("RF1", "ISK", [unknown], "015926007654").claim == unknown
    # The file does not say which account: nothing to filter on.
    assert domain.match("RF1", "ISK", [theirs], None).claim == theirs
    wrong = domain.match("RF1", "ISK", [theirs], "015926007654")
    assert wrong.reason is UnmatchedReason.ACCOUNT_MISMATCH and wrong.candidates == (theirs,)
    assert wrong.explanation is not None and "015926007654" in wrong.explanation
    assert str(theirs.claim_id) in wrong.explanation


def test_every_unmatched_decision_explains_itself() -> None:
    a, b, eur = a_claim(), a_claim(), a_claim("EUR")
    for decision, claims in (
        (domain.match(None, "ISK", []), ()),
        (domain.match("RF1", "ISK", []), ()),
        (domain.match("RF1", "ISK", [eur]), (eur,)),
        (domain.match("RF1", "ISK", [a, b]), (a, b)),
    ):
        assert decision.claim is None and decision.explanation, decision
        assert decision.candidates == claims
        for claim in claims:
            assert str(claim.claim_id) in (decision.explanation or "")


def test_text_matches_respect_the_account_too() -> None:
    ours = dataclasses.replace(a_claim(), account="015926007654")
    theirs = dataclasses.replace(a_claim(), account="013326012345")
    keyed = [domain.TextKeyed(ours, ("INV-1001",)), domain.TextKeyed(theirs, ("INV-1001",))]
    none = domain.match(None, "ISK", [])
    assert domain.match_text("invoice INV-1001", "ISK", none, keyed, "015926007654").claim == ours
    both = domain.match_text("invoice INV-1001", "ISK", none, keyed, None)
    assert both.reason is UnmatchedReason.AMBIGUOUS_REFERENCE and set(both.candidates) == {ours, theirs}
