"""Debtors and their contact points as values: validation, the upsert rules, the usable snapshot
and the credit verdict. Pure: no I/O.

Contact data is held per (creditor, debtor): a debtor row belongs to one creditor, so a creditor's
uploaded address can never reach another creditor's claims (docs/domain.md: digital letters; GDPR Art. 5(1)(b))."""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from krafa_events import DebtorSnapshot, PostalAddress, locales
from krafa_kit.inputs import IDENTIFIER_PATTERN
from stdnum.ee import ik, registrikood
from stdnum.exceptions import ValidationError
from stdnum.is_ import kennitala
from stdnum.no import fodselsnummer, orgnr


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    NETBANK = "netbank"


class ContactState(StrEnum):
    ACTIVE = "active"
    BOUNCED = "bounced"
    OPTED_OUT = "opted_out"


class ContactOrigin(StrEnum):
    CREDITOR_UPLOAD = "creditor_upload"
    DEBTOR_OPT_IN = "debtor_opt_in"


CUSTOMER_CLASSES = ("gold", "silver", "bronze", "regular", "risky")
LANGUAGES = locales.LANGUAGES  # every language the notifier writes
# The master-data columns of a debtor that an upsert may set.
MASTER_FIELDS = (
    "kind",
    "name",
    "national_id",
    "language",
    "time_zone",
    "country",
    "address",
    "fallback_channel",
    "customer_class",
    "credit_limit_minor",
    "credit_limit_currency",
    "overdue_warn_days",
    "overdue_block_days",
    "overdue_warn_minor",
    "overdue_block_minor",
)
MASTER_DEFAULTS: dict[str, Any] = {
    "kind": "person",
    "national_id": None,
    "language": "en",
    "time_zone": "UTC",
    "address": None,
    "fallback_channel": "letter",
    "customer_class": "regular",
    "credit_limit_minor": None,
    "credit_limit_currency": None,
    "overdue_warn_days": None,
    "overdue_block_days": None,
    "overdue_warn_minor": None,
    "overdue_block_minor": None,
}
REQUIRED_FOR_NEW = ("name", "country")

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidValue(ValueError):
    """A value that fails validation; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_CUSTOMER_NO = re.compile(IDENTIFIER_PATTERN)


def check_customer_no(value: str) -> str:
    """A customer number reads back by URL: no '/', control characters or surrounding spaces."""
    if not _CUSTOMER_NO.match(value):
        raise InvalidValue("customer_no", "must not contain '/' or control characters, nor start or end with a space")
    return value


def normalize_national_id(country: str, kind: str, value: str) -> str:
    """Validate the national id of the debtor's country (compact form); others pass unvalidated."""
    value = value.strip()
    if not value:
        raise InvalidValue("national_id", "must not be empty")
    try:
        match country.upper():
            case "IS":
                number = kennitala.validate(value)
                # Companies add 40 to the day of the kennitala.
                is_company = int(number[:2]) > 31
                if is_company != (kind == "company"):
                    raise InvalidValue(
                        "national_id", f"a {'company' if is_company else 'person'} kennitala for a {kind}"
                    )
                return str(number)
            case "NO":
                return str(orgnr.validate(value) if kind == "company" else fodselsnummer.validate(value))
            case "EE":
                return str(registrikood.validate(value) if kind == "company" else ik.validate(value))
    except ValidationError as exc:
        raise InvalidValue("national_id", f"not a valid {country.upper()} national id: {exc}") from exc
    return value


def normalize_phone(value: str, region: str | None) -> str:
    """E.164; a number without a country code is read in the debtor's country."""
    try:
        number = phonenumbers.parse(value.strip(), (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue("phone", f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("phone", "not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# A bulk of claims often names one number many times (a family's phone on each child's slip), and
# parsing with phonenumbers is the dearest step of a claim's debtor. Errors are not cached.
normalize_phone_cached = functools.lru_cache(maxsize=4096)(normalize_phone)


def normalize_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not EMAIL_PATTERN.match(value):
        raise InvalidValue("email", "not an email address")
    local, _, domain = value.rpartition("@")
    # The domain part is case-insensitive; the local part is kept as given.
    return f"{local}@{domain.lower()}"


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValue("time_zone", f"unknown time zone {value!r}") from exc
    return value


def contact_value(kind: ContactKind, value: str | None, region: str | None) -> str:
    if kind is ContactKind.EMAIL:
        return normalize_email(value or "")
    if kind is ContactKind.PHONE:
        return normalize_phone(value or "", region)
    # The netbank e-document opt-in is a yes/no per debtor; it has no address of its own.
    return ""


def same_value(kind: str, a: str, b: str) -> bool:
    return a.lower() == b.lower() if kind == ContactKind.EMAIL else a == b


@dataclass(frozen=True, slots=True)
class Consent:
    """The creditor's evidence that its terms allow sharing a debtor's address with us (docs/domain.md,
    digital letters): which terms (`terms_version`), as of when (`at`), and where it comes from."""

    source: str | None = None
    at: datetime | None = None
    terms_version: str | None = None

    @property
    def evidenced(self) -> bool:
        """Evidence names the terms' version and date; a source alone proves nothing."""
        return self.terms_version is not None and self.at is not None


@dataclass(frozen=True, slots=True)
class ContactOffer:
    """A contact point named by a creditor's upload, an API call, a claim, or the debtor."""

    kind: ContactKind
    value: str
    origin: ContactOrigin = ContactOrigin.CREDITOR_UPLOAD
    verified: bool | None = None
    consent: Consent = field(default_factory=Consent)
    # Recorded as the consent source of a new contact point only: restating a known address from
    # another channel (a claim, an upload without consent parameters) is not a change.
    source_if_new: str | None = None


@dataclass(slots=True)
class ContactPoint:
    id: UUID
    kind: str
    value: str
    origin: str
    state: str
    verified: bool
    consent_source: str | None
    consent_at: datetime | None
    terms_version: str | None
    state_reason: str | None
    listed_at: datetime
    created_at: datetime
    updated_at: datetime
    # When the debtor last proved the address reaches them (the portal's one-time code).
    verified_at: datetime | None = None
    new: bool = False
    dirty: bool = False

    @property
    def consented(self) -> bool:
        """The debtor's own opt-in, or the creditor's consent evidence for the address."""
        return self.origin == ContactOrigin.DEBTOR_OPT_IN or (
            self.terms_version is not None and self.consent_at is not None
        )

    @property
    def usable(self) -> bool:
        """Used for digital delivery: active, and consented. An address without consent evidence
        is kept (the creditor may add it) but reminders go by letter meanwhile."""
        return self.state == ContactState.ACTIVE and self.consented

    @property
    def unusable_reason(self) -> str | None:
        if self.state == ContactState.BOUNCED:
            return "bounced: only the debtor's verification (a one-time code in the portal) revives it"
        if self.state == ContactState.OPTED_OUT:
            return "opted out: only the debtor can opt in again, through the portal"
        if not self.consented:
            return "no consent evidence: name the terms' version and date (consent) or set the contact consent"
        return None


@dataclass(slots=True)
class Debtor:
    id: UUID
    customer_no: str
    master: dict[str, Any]
    contact_points: list[ContactPoint]
    created_at: datetime
    erased_at: datetime | None = None
    new: bool = False
    dirty: bool = False
    changed_fields: set[str] = field(default_factory=set)

    @property
    def touched(self) -> bool:
        return self.new or self.dirty or any(cp.new or cp.dirty for cp in self.contact_points)


def new_debtor(customer_no: str, master: dict[str, Any], now: datetime) -> Debtor:
    missing = [name for name in REQUIRED_FOR_NEW if not master.get(name)]
    if missing:
        raise InvalidValue(missing[0], f"a new debtor needs {' and '.join(missing)}")
    values = {**MASTER_DEFAULTS, **{k: v for k, v in master.items() if v is not None}}
    # A debtor registered without a language or time zone gets their country's, never English
    # and UTC by accident (krafa_events.locales owns the rule).
    if master.get("language") is None:
        values["language"] = locales.country_language(str(values["country"]))
    if master.get("time_zone") is None:
        values["time_zone"] = locales.country_time_zone(str(values["country"]))
    return Debtor(uuid.uuid4(), customer_no, values, [], now, new=True, changed_fields=set(values))


def merge_master(debtor: Debtor, master: dict[str, Any]) -> None:
    for name, value in master.items():
        if debtor.master.get(name) != value:
            debtor.master[name] = value
            debtor.dirty = True
            debtor.changed_fields.add(name)


def offer_contact(debtor: Debtor, offer: ContactOffer, now: datetime, standing: Consent | None = None) -> ContactPoint:
    """Apply one named contact point to the debtor; changes nothing when it is already as named.

    A list never revives a bounced or opted-out address (docs/domain.md, digital letters: a bounced address is never
    used again). Only the debtor undoes an opt-out (their own opt-in, through the portal), and a
    bounced address comes back only with the debtor's verification of it. Naming an address again
    makes it the newest of its origin, so a changed address in a fresh list wins over the older one.

    `standing` is the creditor's contact consent (its terms allow sharing addresses): the evidence of
    a creditor's address that brings none of its own, and of one that had none."""
    consent = offer.consent
    by_debtor = offer.origin == ContactOrigin.DEBTOR_OPT_IN
    if not by_debtor and not consent.evidenced and standing is not None and standing.evidenced:
        consent = standing
    existing = next(
        (cp for cp in debtor.contact_points if cp.kind == offer.kind and same_value(cp.kind, cp.value, offer.value)),
        None,
    )
    if existing is None:
        cp = ContactPoint(
            id=uuid.uuid4(),
            kind=offer.kind,
            value=offer.value,
            origin=offer.origin,
            state=ContactState.ACTIVE,
            verified=bool(offer.verified),
            consent_source=consent.source or offer.source_if_new,
            consent_at=consent.at,
            terms_version=consent.terms_version,
            state_reason=None,
            listed_at=now,
            created_at=now,
            updated_at=now,
            verified_at=now if by_debtor and offer.verified else None,
            new=True,
        )
        debtor.contact_points.append(cp)
        return cp
    cp = existing
    changed = False
    if by_debtor and cp.origin != ContactOrigin.DEBTOR_OPT_IN:
        cp.origin = ContactOrigin.DEBTOR_OPT_IN
        changed = True
    if by_debtor and cp.state == ContactState.OPTED_OUT:
        cp.state, cp.state_reason = ContactState.ACTIVE, "debtor opted in"
        changed = True
    if by_debtor and cp.state == ContactState.BOUNCED and offer.verified:
        cp.state, cp.state_reason = ContactState.ACTIVE, "verified by the debtor after a bounce"
        changed = True
    if by_debtor and offer.verified:
        cp.verified_at = now  # the notifier lifts its suppression of an address that bounced before
        changed = True
    if cp.state == ContactState.ACTIVE and not _newest_of_origin(debtor, cp):
        cp.listed_at = now
        changed = True
    if offer.verified is not None and offer.verified != cp.verified:
        cp.verified = offer.verified
        changed = True
    if consent is standing and cp.consented:
        consent = offer.consent  # evidence it has stays; the standing consent only fills a gap
    for attr, value in (
        ("consent_source", consent.source),
        ("consent_at", consent.at),
        ("terms_version", consent.terms_version),
    ):
        if value is not None and getattr(cp, attr) != value:
            setattr(cp, attr, value)
            changed = True
    if changed:
        cp.updated_at = now
        cp.dirty = True
    return cp


def _newest_of_origin(debtor: Debtor, cp: ContactPoint) -> bool:
    peers = [
        other
        for other in debtor.contact_points
        if other.kind == cp.kind and other.origin == cp.origin and other.usable and other is not cp
    ]
    return all(other.listed_at <= cp.listed_at for other in peers)


def set_state(cp: ContactPoint, state: ContactState, reason: str | None, now: datetime) -> bool:
    if cp.state == state:
        return False
    cp.state, cp.state_reason, cp.updated_at, cp.dirty = state, reason, now, True
    return True


def primaries(debtor: Debtor) -> dict[str, ContactPoint]:
    """The contact point to use per kind: the debtor's own opt-in first, then the newest listed.
    One pass, since a bulk of claims builds a snapshot per debtor."""
    best: dict[str, tuple[tuple[bool, datetime, datetime], ContactPoint]] = {}
    for cp in debtor.contact_points:
        if not cp.usable:
            continue
        rank = (cp.origin == ContactOrigin.DEBTOR_OPT_IN, cp.listed_at, cp.created_at)
        current = best.get(cp.kind)
        if current is None or rank > current[0]:
            best[cp.kind] = (rank, cp)
    return {kind: cp for kind, (_, cp) in best.items()}


def primary(debtor: Debtor, kind: ContactKind) -> ContactPoint | None:
    return primaries(debtor).get(kind)


def legacy_email(debtor: Debtor, usable_by_kind: dict[str, ContactPoint] | None = None) -> tuple[str | None, str]:
    """The pre-0003 `debtors.email`/`email_state` columns, kept as a projection for old readers
    (`usable_by_kind`: the debtor's primaries, if the caller has them already)."""
    usable = (primaries(debtor) if usable_by_kind is None else usable_by_kind).get(ContactKind.EMAIL)
    if usable is not None:
        return usable.value, ContactState.ACTIVE
    bounced = [cp for cp in debtor.contact_points if cp.kind == ContactKind.EMAIL]
    if bounced:
        latest = max(bounced, key=lambda cp: cp.updated_at)
        return latest.value, latest.state
    return None, ContactState.ACTIVE


def snapshot(debtor: Debtor) -> DebtorSnapshot:
    """What the other services may use for this creditor's claims: bounced and opted-out contact
    points, and those without consent evidence, are left out."""
    m = debtor.master
    usable = primaries(debtor)
    email, phone = usable.get(ContactKind.EMAIL), usable.get(ContactKind.PHONE)
    address = m.get("address")
    return DebtorSnapshot(
        customer_no=debtor.customer_no,
        name=m["name"],
        kind=m["kind"],
        language=m["language"],
        time_zone=m["time_zone"],
        country=m["country"],
        email=email.value if email else None,
        phone=phone.value if phone else None,
        address=PostalAddress(
            name=m["name"],
            lines=tuple(address.get("lines", ())),
            postcode=address.get("postcode", ""),
            city=address.get("city", ""),
            country=address["country"],
        )
        if address
        else None,
        fallback_channel=m["fallback_channel"],
        customer_class=m["customer_class"],
        netbank_opt_in=ContactKind.NETBANK in usable,
        email_verified_at=email.verified_at if email else None,
    )


def pseudonym(debtor_id: UUID) -> str:
    """A stable stand-in for an erased debtor's name: it keeps the financial records readable
    without saying who the person was."""
    return "erased-" + hashlib.sha256(debtor_id.bytes).hexdigest()[:16]


# --- Credit status (docs/domain.md, ERP reminders: warnings for overdue invoices, credit limits, per-customer
# thresholds that warn the seller or block new sales). ---


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    BLOCK = "block"


# Overdue days that warn / block by customer class, when the debtor has no thresholds of its own.
CLASS_THRESHOLDS: dict[str, tuple[int, int]] = {
    "gold": (30, 90),
    "silver": (21, 60),
    "bronze": (14, 45),
    "regular": (7, 30),
    "risky": (1, 14),
}
LIMIT_WARN_PERCENT = 90


@dataclass(frozen=True, slots=True)
class CreditFigures:
    overdue_minor: dict[str, int]
    open_minor: dict[str, int]
    oldest_due: date | None


@dataclass(frozen=True, slots=True)
class CreditStatus:
    oldest_overdue_days: int
    limit_used_minor: int | None
    limit_used_percent: int | None
    verdict: Verdict
    reasons: tuple[str, ...]
    warn_days: int
    block_days: int


def credit_status(master: dict[str, Any], figures: CreditFigures, today: date) -> CreditStatus:
    default_warn, default_block = CLASS_THRESHOLDS.get(master.get("customer_class") or "regular", (7, 30))
    warn_days = master.get("overdue_warn_days") or default_warn
    block_days = master.get("overdue_block_days") or default_block
    oldest = max((today - figures.oldest_due).days, 0) if figures.oldest_due else 0
    limit_currency = master.get("credit_limit_currency")
    limit = master.get("credit_limit_minor")
    used = figures.open_minor.get(limit_currency, 0) if limit_currency else None
    percent = (
        (used * 100 // limit if limit else (100 if used else 0)) if used is not None and limit is not None else None
    )
    # Amount thresholds are in the credit-limit currency (or the only overdue currency).
    amount_currency = limit_currency or (next(iter(figures.overdue_minor)) if len(figures.overdue_minor) == 1 else None)
    overdue_amount = figures.overdue_minor.get(amount_currency, 0) if amount_currency else 0
    block: list[str] = []
    warn: list[str] = []
    if oldest and oldest >= block_days:
        block.append(f"overdue {oldest} days (block at {block_days})")
    elif oldest and oldest >= warn_days:
        warn.append(f"overdue {oldest} days (warn at {warn_days})")
    block_minor, warn_minor = master.get("overdue_block_minor"), master.get("overdue_warn_minor")
    if block_minor is not None and overdue_amount and overdue_amount >= block_minor:
        block.append(f"overdue amount {overdue_amount} (block at {block_minor})")
    elif warn_minor is not None and overdue_amount and overdue_amount >= warn_minor:
        warn.append(f"overdue amount {overdue_amount} (warn at {warn_minor})")
    if percent is not None and limit is not None and used is not None:
        if used > limit:
            block.append(f"credit limit exceeded ({percent}% used)")
        elif percent >= LIMIT_WARN_PERCENT:
            warn.append(f"credit limit {percent}% used")
    verdict = Verdict.BLOCK if block else Verdict.WARN if warn else Verdict.OK
    return CreditStatus(oldest, used, percent, verdict, tuple(block + warn), warn_days, block_days)
