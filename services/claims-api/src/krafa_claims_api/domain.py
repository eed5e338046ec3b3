"""Claims and creditors as values: the rules that need no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import phonenumbers
from krafa_events import references
from krafa_events.catalog import CreditorSnapshot, PaymentIdentity
from stdnum.ee import registrikood
from stdnum.exceptions import ValidationError
from stdnum.is_ import kennitala
from stdnum.no import orgnr

from krafa_claims_api.debtors import domain as debtor_rules


class ClaimStatus(StrEnum):
    OPEN = "open"
    DISPUTED = "disputed"
    HELD = "held"
    PAID = "paid"
    CANCELLED = "cancelled"
    WRITTEN_OFF = "written_off"


# Statuses in which the debtor still owes the claim (a payment can settle it).
ACTIVE = frozenset({ClaimStatus.OPEN, ClaimStatus.DISPUTED, ClaimStatus.HELD})


@dataclass(frozen=True, slots=True)
class Correction:
    """What a dispute upheld in part changes on the claim before dunning resumes (as an amendment)."""

    amount_minor: int | None = None
    due_date: date | None = None
    final_due_date: date | None = None

    def is_empty(self) -> bool:
        return self.amount_minor is None and self.due_date is None and self.final_due_date is None


class Action(StrEnum):
    AMEND = "amend"
    CANCEL = "cancel"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    DEFER = "defer"
    SPLIT = "split"
    HOLD = "hold"
    RELEASE = "release"
    WRITE_OFF = "write-off"


# The state machine: which statuses each action may start from. A disputed claim is decided
# before anything else happens to it: the creditor resolves it (rejects it, or upholds it in part
# or in full), may correct the invoice meanwhile (amend), or cancels it — a cancellation of a
# disputed claim is the dispute upheld in full (`lifecycle.cancel` resolves it first). Dunning
# actions and a write-off (which would settle the debt the debtor says is not owed) wait.
ALLOWED_FROM: dict[Action, frozenset[ClaimStatus]] = {
    Action.AMEND: ACTIVE,
    Action.CANCEL: ACTIVE,
    Action.DISPUTE: frozenset({ClaimStatus.OPEN, ClaimStatus.HELD}),
    Action.RESOLVE: frozenset({ClaimStatus.DISPUTED}),
    Action.DEFER: frozenset({ClaimStatus.OPEN, ClaimStatus.HELD}),
    Action.SPLIT: frozenset({ClaimStatus.OPEN, ClaimStatus.HELD}),
    Action.HOLD: frozenset({ClaimStatus.OPEN}),
    Action.RELEASE: frozenset({ClaimStatus.HELD}),
    Action.WRITE_OFF: frozenset({ClaimStatus.OPEN, ClaimStatus.HELD}),
}


def allowed(action: Action, status: str) -> bool:
    return status in ALLOWED_FROM[action]


# What a claim in each status allows now, as the API shows it (`actions` on a claim): pages and
# ERPs offer these and nothing else, so the rule has one owner.
ACTIONS_BY_STATUS: dict[str, tuple[str, ...]] = {
    status.value: tuple(sorted(a.value for a in Action if status in ALLOWED_FROM[a])) for status in ClaimStatus
}


# Iceland: the final due date (eindagi) defaults to due + 10 days (docs/domain.md: Icelandic payment slips).
FINAL_DUE_OFFSET_DAYS = {"IS": 10}


def default_final_due_date(jurisdiction: str, due: date, department_offset_days: int | None = None) -> date:
    """The department's rule first (each division sets its own: docs/domain.md, Icelandic payment
    slips), else the country's."""
    if department_offset_days is not None:
        return due + timedelta(days=department_offset_days)
    return due + timedelta(days=FINAL_DUE_OFFSET_DAYS.get(jurisdiction.upper(), 0))


def payment_reference(
    jurisdiction: str, given: str | None, number: int, kid_scheme: references.KidScheme = "mod10"
) -> str:
    """The creditor's reference, validated; or a new one with check digits for the country, made
    from `number`, a random draw (references.random_number): no counter, so one creditor's
    references say nothing about another's."""
    if given:
        return references.validate(jurisdiction, given)
    return references.generate(jurisdiction, number, kid_scheme)


def normalize_registration_no(country: str, value: str) -> str:
    """The creditor's registry id, validated and compact where the country's format is known:
    kennitala (IS), organisasjonsnummer (NO), registrikood (EE). Raises ValueError saying why."""
    validators = {"IS": kennitala, "NO": orgnr, "EE": registrikood}
    module = validators.get(country.upper())
    if module is None:
        return " ".join(value.split())
    try:
        return str(module.validate(value))
    except ValidationError as exc:
        raise ValueError(f"{value!r} is not a valid registry id for {country.upper()}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class CreditorPaymentTerms:
    """What decides how a creditor's debtors pay: its country, account, KID scheme and, in
    Iceland, its agreement with a claim bank (api.schemas.BankClaimsIn as a dict)."""

    country: str
    account: str
    registration_no: str
    kid_scheme: references.KidScheme
    bank_claims: dict[str, object] | None


def payment_terms(creditor: Mapping[str, Any]) -> CreditorPaymentTerms:
    """A creditors row's payment terms."""
    return CreditorPaymentTerms(
        country=creditor["country"],
        account=creditor["payment_account"],
        registration_no=creditor["registration_no"],
        kid_scheme=creditor["kid_scheme"],
        bank_claims=creditor["bank_claims"],
    )


def creditor_snapshot(creditor: Mapping[str, Any]) -> CreditorSnapshot:
    """What a debtor-facing message needs to know about the creditor (a creditors row)."""
    return CreditorSnapshot(
        name=creditor["name"],
        contact_phone=creditor["contact_phone"],
        payment_account=creditor["payment_account"],
        payment_link_template=creditor["payment_link_template"],
        sender_email=creditor["sender_email"],
        registration_no=creditor["registration_no"],
        sender_name=creditor.get("sender_name", ""),
        reply_to=creditor.get("reply_to", ""),
        sms_sender_id=creditor.get("sms_sender_id", ""),
        # Every consumer keeps a sandbox's messages from providers and its claims from banks.
        sandbox=creditor.get("sandbox_of") is not None,
    )


# A creditor's sender identity: how its messages name it. Each may be "" (the default: the
# creditor's name, the agency's From address and SMS sender, no Reply-To, no phone).
SENDER_FIELDS = ("sender_name", "sender_email", "reply_to", "sms_sender_id", "contact_phone")
# An alphanumeric SMS sender: at most 11 characters of the GSM basic set that every network passes
# (A-Z, a-z, digits, space), with a letter in it — all digits would be read as a number.
SMS_SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ]{0,10}")
SENDER_NAME_MAX = 100


def checked_sender(given: Mapping[str, str], country: str) -> tuple[dict[str, str], dict[str, str]]:
    """The sender fields given, normalised (addresses and numbers as they are stored), and what is
    wrong with any of them, by field. Nothing is applied unless the second is empty."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, raw in given.items():
        value = raw.strip()
        try:
            values[name] = _sender_value(name, value, country) if value else ""
        except ValueError as exc:
            errors[name] = str(exc)
    return values, errors


def _sender_value(name: str, value: str, country: str) -> str:
    if name == "sender_name":
        if len(value) > SENDER_NAME_MAX:
            raise ValueError(f"at most {SENDER_NAME_MAX} characters")
        if any(ord(c) < 32 or c in "<>@" for c in value):
            # A name that looks like an address would let a message pass for someone else's.
            raise ValueError("a name only: no line breaks, no <, > or @")
        return value
    if name in ("sender_email", "reply_to"):
        try:
            return debtor_rules.normalize_email(value)
        except debtor_rules.InvalidValue as exc:
            raise ValueError(exc.message) from exc
    if name == "sms_sender_id":
        if value.startswith("+") or value.replace(" ", "").isdigit():
            try:
                return debtor_rules.normalize_phone(value, country)
            except debtor_rules.InvalidValue as exc:
                raise ValueError(f"a sender number must be a valid phone number: {exc.message}") from exc
        if not SMS_SENDER_ID.fullmatch(value) or not any(c.isalpha() for c in value):
            raise ValueError(
                "at most 11 characters, only the letters A-Z, digits and spaces, with a letter among them "
                "(phones show no other characters in a sender name)"
            )
        return value
    if name == "contact_phone":
        try:
            number = debtor_rules.normalize_phone(value, country)
        except debtor_rules.InvalidValue as exc:
            raise ValueError(exc.message) from exc
        # Printed on letters for people to dial: grouped as the country writes it (+354 555 1234).
        return str(phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL))
    raise ValueError("not a sender field")


def payment_identity(
    terms: CreditorPaymentTerms,
    given_reference: str | None,
    number: int,
    *,
    debtor_country: str,
    debtor_national_id: str | None,
    due_date: date,
    currency: str = "ISK",
) -> PaymentIdentity:
    """How the debtor of a new claim pays it, where debtors of the creditor's country already pay.

    Iceland with a claim bank: the claim is created in the payer's netbank, so a debtor with an
    Icelandic kennitala owing krónur gets a bank claim (the creditor's own reference, if any, is checked but the
    claim's key at the bank identifies it). Everyone else: the creditor's reference, validated, or
    a new one with the country's check digits (KID by the creditor's scheme in Norway, the 7-3-1
    reference number in Estonia, RF elsewhere), paid to the creditor's account."""
    reference = payment_reference(terms.country, given_reference, number, terms.kid_scheme)
    bank = terms.bank_claims
    netbank = debtor_country.upper() == "IS" and currency.upper() == "ISK"
    if bank and netbank and debtor_national_id and kennitala.is_valid(debtor_national_id):
        claim_bank, claim_number = str(bank["claim_bank"]), references.claim_number_from(number)
        return PaymentIdentity(
            kind="bank_claim",
            reference=references.bank_claim_reference(terms.registration_no, claim_bank, claim_number, due_date),
            claimant_id=terms.registration_no,
            claim_bank=claim_bank,
            claim_number=claim_number,
            payor_id=kennitala.compact(debtor_national_id),
            template_code=str(bank["template_code"]),
            secondary_template_code=str(secondary) if (secondary := bank.get("secondary_template_code")) else None,
            partial_payment_allowed=bool(bank.get("partial_payment_allowed", True)),
        )
    # A reference drawn here is of the kind drawn (its check digits are made, not read): checking
    # an RF's again cost as much as drawing it.
    kind = references.kind_in(terms.country, reference) if given_reference else references.generated_kind(terms.country)
    match kind:
        case "kid" if terms.country.upper() == "NO":
            return PaymentIdentity(
                kind="kid",
                reference=reference,
                account=terms.account,
                kid_scheme=references.kid_scheme_of(reference, terms.kid_scheme),
            )
        case "viitenumber" if terms.country.upper() in ("EE", "FI"):
            return PaymentIdentity(kind="reference_number", reference=reference, account=terms.account)
        case "rf":
            return PaymentIdentity(kind="rf", reference=reference, account=terms.account)
        case _:
            return PaymentIdentity(kind="plain", reference=reference, account=terms.account)


@dataclass(frozen=True, slots=True)
class Balance:
    amount_minor: int
    fees_minor: int
    paid_minor: int
    interest_minor: int = 0
    written_off_minor: int = 0

    @property
    def owed_minor(self) -> int:
        return self.amount_minor + self.fees_minor + self.interest_minor - self.written_off_minor

    @property
    def balance_minor(self) -> int:
        return max(self.owed_minor - self.paid_minor, 0)

    @property
    def overpaid_minor(self) -> int:
        return max(self.paid_minor - self.owed_minor, 0)

    @property
    def settled(self) -> bool:
        return self.paid_minor >= self.owed_minor


COMPONENTS = ("fees", "interest", "principal")


@dataclass(frozen=True, slots=True)
class AllocationRule:
    """Which component of a claim a part payment covers first, and the rule it follows."""

    order: tuple[str, ...]
    source: str


# One allocation order per jurisdiction, owned here: claims-api's ledger is the only place a
# payment is split, and every other service reads the split from ClaimBalanceChanged.
ALLOCATION_ORDER: dict[str, AllocationRule] = {
    "EE": AllocationRule(
        COMPONENTS,
        "võlaõigusseadus § 88 (1): costs of collecting the claim first, then interest, then the principal",
    ),
    "IS": AllocationRule(
        COMPONENTS,
        "Icelandic claims law and collection practice (innheimtulög 95/2008; the debtor's statement splits a "
        "payment over collection costs, then dráttarvextir, then höfuðstóll)",
    ),
    "NO": AllocationRule(
        COMPONENTS,
        "Norwegian law of obligations, as inkassoforskriften's statements show it: costs (gebyr, salær), then "
        "interest (forsinkelsesrente), then the principal (hovedstol)",
    ),
    "EU": AllocationRule(
        COMPONENTS,
        "the general European rule where a national one is silent (e.g. BGB § 367 (1)): costs, interest, principal",
    ),
}


@dataclass(frozen=True, slots=True)
class Allocation:
    fees_minor: int
    interest_minor: int
    principal_minor: int
    overpaid_minor: int


def allocate_payment(
    jurisdiction: str, amount_minor: int, outstanding: dict[str, int], overpaid_minor: int = 0
) -> Allocation:
    """Split a payment over the outstanding components in the jurisdiction's order; what is left
    over is an overpayment. A negative amount (a reversal) first takes back overpayment, then
    restores the components in reverse order, principal first."""
    rule = ALLOCATION_ORDER.get(jurisdiction.upper(), ALLOCATION_ORDER["EU"])
    order = rule.order
    parts = dict.fromkeys(COMPONENTS, 0)
    if amount_minor >= 0:
        left = amount_minor
        for component in order:
            take = min(left, max(outstanding.get(component, 0), 0))
            parts[component] = take
            left -= take
        return Allocation(parts["fees"], parts["interest"], parts["principal"], left)
    back = min(-amount_minor, overpaid_minor)
    parts[order[-1]] = -(-amount_minor - back)
    return Allocation(parts["fees"], parts["interest"], parts["principal"], -back)


@dataclass(frozen=True, slots=True)
class WatchSplit:
    """What a payment received in claim watch brings each party: the creditor's share and the
    collection agency's (its commission). The two always add up to what was collected."""

    collected_minor: int
    creditor_minor: int
    agency_minor: int


def watch_split(collected_minor: int, creditor_share_pct: int) -> WatchSplit:
    """Split what a payment collected on a claim in claim watch (kröfuvakt) between the creditor
    and the collection agency. The share is a term of the agency's contract with the creditor, not
    law. The agency's share is rounded toward zero and the creditor takes the rest: the odd minor
    unit of an uneven split goes to the creditor (the agency never takes more than its percentage),
    and a reversal of the same amount takes back exactly what the payment gave each."""
    if not 0 <= creditor_share_pct <= 100:
        raise ValueError(f"creditor share {creditor_share_pct} % is not a percentage")
    magnitude = abs(collected_minor) * (100 - creditor_share_pct) // 100
    agency = magnitude if collected_minor >= 0 else -magnitude
    return WatchSplit(collected_minor, collected_minor - agency, agency)


def instalments_cover(balance_minor: int, amounts: list[int]) -> bool:
    return sum(amounts) == balance_minor


# Aging report: days past the due date of open balances. "current" is not yet overdue (day 0 is the
# due date itself).
AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def aging_bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


def aging_report(rows: list[tuple[str, int, int, int]]) -> dict[str, dict[str, tuple[int, int]]]:
    """(currency, days overdue, count, balance) groups → currency → bucket → (count, balance).
    Every bucket is present for each currency seen, so the shape is stable."""
    report: dict[str, dict[str, tuple[int, int]]] = {}
    for currency, days, count, balance in rows:
        buckets = report.setdefault(currency, dict.fromkeys(AGING_BUCKETS, (0, 0)))
        name = aging_bucket(days)
        n, total = buckets[name]
        buckets[name] = (n + count, total + balance)
    return dict(sorted(report.items()))


# API keys: "krf_<prefix>_<secret>". Keys are 256-bit random, so a fast hash is safe to store
# (no dictionary to guess from); the prefix finds the row, the hash is compared in constant time.
KEY_PREFIX = "krf"
SCOPES = ("claims:write", "contacts:write", "read")


@dataclass(frozen=True, slots=True)
class NewApiKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_PREFIX}_{self.prefix}_{self.secret}"

    @property
    def secret_hash(self) -> bytes:
        return hash_secret(self.secret)


def new_api_key() -> NewApiKey:
    return NewApiKey(prefix=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
