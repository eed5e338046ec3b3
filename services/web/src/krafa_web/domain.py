"""The portal's rules that need no I/O: secrets and their digests, one-time codes, what a
session may see, masking contact points, reading an amount typed by a person."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from babel import Locale
from babel.numbers import NumberFormatError, get_currency_precision, parse_decimal

CODE_DIGITS = 6


def new_secret() -> str:
    """A random token for a cookie (256 bits); only its digest is stored."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(challenge_id: UUID, code: str) -> bytes:
    """A one-time code is only six digits: keyed by its challenge, its digest says nothing about
    any other challenge's code."""
    return hmac.new(challenge_id.bytes, code.strip().encode(), hashlib.sha256).digest()


def code_matches(challenge_id: UUID, code: str, stored: bytes) -> bool:
    cleaned = "".join(ch for ch in code if ch.isdigit())
    return len(cleaned) == CODE_DIGITS and hmac.compare_digest(code_digest(challenge_id, cleaned), stored)


@dataclass(frozen=True, slots=True)
class Principal:
    """One (creditor, debtor) a session may see: a link login gives one, an e-ID login every
    creditor's record of that person."""

    creditor_id: UUID
    debtor_id: UUID


@dataclass(frozen=True, slots=True)
class SessionTimes:
    created_at: datetime
    last_seen_at: datetime


def session_alive(times: SessionTimes, now: datetime, *, idle: timedelta, absolute: timedelta) -> bool:
    return now - times.last_seen_at < idle and now - times.created_at < absolute


def locked_out(recent_failures: int, threshold: int) -> bool:
    return recent_failures >= threshold


def mask_email(address: str) -> str:
    """`j•••@e•••.is`: enough for the debtor to recognise, not enough to learn it."""
    local, _, domain = address.partition("@")
    name, dot, tld = domain.rpartition(".")
    masked_domain = (name[:1] + "•••" + dot + tld) if dot else domain[:1] + "•••"
    return f"{local[:1]}•••@{masked_domain}"


def mask_phone(number: str) -> str:
    digits = number.strip()
    return digits[:4] + " •••• " + digits[-3:] if len(digits) > 7 else "••• " + digits[-2:]


def mask(kind: str, value: str) -> str:
    return mask_email(value) if kind == "email" else mask_phone(value)


class BadAmount(ValueError):
    pass


def parse_amount(text: str, currency: str, locale: Locale) -> int:
    """An amount typed in the debtor's locale ("10.390" in Icelandic, "1 234,50" in Estonian,
    "1,234.50" in English) to integer minor units; never through a float."""
    cleaned = text.strip().replace("\u00a0", " ").replace(" ", "")
    for symbol in (currency, "kr.", "kr", "€", "EUR", "ISK", "NOK"):
        cleaned = cleaned.replace(symbol, "")
    if not cleaned:
        raise BadAmount("empty")
    try:
        value = Decimal(parse_decimal(cleaned, locale=locale, strict=True))
    except (NumberFormatError, InvalidOperation) as exc:
        raise BadAmount(str(exc)) from exc
    precision = int(get_currency_precision(currency))
    minor = value.scaleb(precision)
    if minor != minor.to_integral_value() or minor <= 0:
        raise BadAmount("not a whole number of minor units")
    return int(minor)


def safe_path(target: str | None, default: str = "/claims") -> str:
    """A redirect target of our own: a path, never another origin (`//evil`, `https://…`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@dataclass(frozen=True, slots=True)
class WatchSummary:
    """What claim watch has collected on a claim and how it was shared (claims-api's ledger)."""

    started_on: str
    creditor_share_pct: int
    collected_minor: int
    creditor_minor: int
    agency_minor: int


def watch_summary(ledger: Mapping[str, Any]) -> WatchSummary | None:
    """The split of the payments claims-api booked in claim watch, summed from their ledger
    entries as booked (never recomputed here); None when no payment was received in claim watch."""
    splits = [
        e["details"]["watch_split"]
        for e in ledger.get("entries", [])
        if isinstance((e.get("details") or {}).get("watch_split"), Mapping)
    ]
    if not splits:
        return None
    return WatchSummary(
        started_on=str(splits[0]["watch_started_at"])[:10],
        creditor_share_pct=int(splits[-1]["creditor_share_pct"]),
        collected_minor=sum(int(s["collected_minor"]) for s in splits),
        creditor_minor=sum(int(s["creditor_minor"]) for s in splits),
        agency_minor=sum(int(s["agency_minor"]) for s in splits),
    )
