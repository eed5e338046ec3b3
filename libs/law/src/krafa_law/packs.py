"""Jurisdiction packs: the law around a claim as dated data, one JSON file per jurisdiction under
`data/jurisdictions`. A pack holds the legal notice kinds (what each must say, how long the debtor
has to pay, how long before the next step, which fees it may carry), the fee rules and their caps
per claim, the late-interest rates as a complete dated table, the calendar (holidays, half days)
and the sending windows per channel. Every figure carries its source.

Pure: pydantic models and the shipped files, read once."""

from __future__ import annotations

import itertools
import json
from datetime import date, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from krafa_events import Channel
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krafa_law.notices import ELEMENTS

DATA = Path(__file__).parent / "data"

WRITTEN = frozenset({Channel.EMAIL, Channel.LETTER, Channel.NETBANK})


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Dated(Model):
    """A value in force from `valid_from` until the next entry starts."""

    valid_from: date
    value: Decimal
    source: str = ""


class RateRow(Model):
    """One published late-interest rate: the annual percentage in force from `valid_from` to
    `valid_to` (inclusive), as the source published it. `verified` is false where the figure was
    derived (e.g. a reference rate + the statutory margin) rather than read in the publication."""

    valid_from: date
    valid_to: date
    rate_pct: Decimal = Field(ge=0, le=100)
    source: str = Field(min_length=3)
    verified: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> RateRow:
        if self.valid_to < self.valid_from:
            raise ValueError(f"rate row {self.valid_from}: valid_to before valid_from")
        return self


class Band(Model):
    up_to_minor: int | None = None  # None: no upper bound
    amount_minor: int = Field(gt=0)


class FeeRule(Model):
    """A fee a notice may book. The amount is the legal maximum: a fixed dated amount, bands by
    outstanding principal, or a fraction of a dated base (Norway: 1/20 of the inkassosats)."""

    amount_minor: tuple[Dated, ...] = ()
    fraction_of: str | None = None
    fraction: Decimal = Decimal(1)
    bands: tuple[Band, ...] = ()
    min_days_after_due: int = Field(default=0, ge=0)
    debtor_kinds: tuple[Literal["person", "company"], ...] = ()
    after_free_reminders: int = Field(default=0, ge=0)
    min_pay_within_days: int = Field(default=0, ge=0)
    source: str = ""


class FeeCap(Model):
    """How many fees of the listed rules one claim may carry in all, and (optionally) their total."""

    rules: tuple[str, ...] = Field(min_length=1)
    max_count: int | None = Field(default=None, ge=0)
    max_total_minor: int | None = Field(default=None, ge=0)
    source: str = Field(min_length=3)


class Window(Model):
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    start: time = time(9, 0)
    end: time = time(20, 0)


class ChannelWindows(Model):
    windows: tuple[Window, ...]
    holidays: bool = Field(default=False, description="allowed on public holidays")


class CallRetry(Model):
    """An unanswered call: tried again the same afternoon (from `afternoon_from`) when the first
    try was in the morning, else the next calling morning; `max_attempts` tries in all."""

    afternoon_from: time = time(13, 0)
    max_attempts: int = Field(default=4, ge=1, le=10)
    source: str = ""


Stage = Literal["reminder", "collection", "watch"]


class NoticeKind(Model):
    """A legal kind of contact with the debtor, and what the law asks of it."""

    name: dict[str, str] = Field(min_length=1, description="the kind's legal name by language")
    stage: Stage
    sender: Literal["creditor", "agency"] = "creditor"
    legal_basis: str = ""
    channels: tuple[Channel, ...] = Field(min_length=1, description="channels that may carry it")
    written: bool = Field(default=False, description="must reach the debtor in writing (letter, email, netbank)")
    min_days_to_pay: int = Field(default=0, ge=0, description="days from the send to the pay-by date, at least")
    min_gap_days: int = Field(
        default=0,
        ge=0,
        description="no later step (but the creditor's own notice) before this many days after the notice was "
        "actually sent, nor before its pay-by date has passed",
    )
    business_days_only: bool = Field(
        default=False, description="goes out on business days only (not on a Sunday, a holiday or after a half day)"
    )
    fee_rules: tuple[str, ...] = Field(default=(), description="fee rules a notice of this kind may book")
    required: tuple[str, ...] = Field(default=(), description="elements (krafa_law.notices.Element) it must render")
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> NoticeKind:
        unknown = set(self.required) - ELEMENTS
        if unknown:
            raise ValueError(f"unknown required elements {sorted(unknown)}")
        if self.written and not set(self.channels) & WRITTEN:
            raise ValueError("a written notice needs a written channel")
        return self

    def label(self, language: str) -> str:
        return self.name.get(language) or self.name.get("en") or next(iter(self.name.values()))


class Jurisdiction(Model):
    code: str = Field(min_length=2, max_length=2)
    language: str = Field(default="en", description="the language a debtor here is written to unless known otherwise")
    time_zone: str = Field(default="UTC", description="the debtor's time zone unless known otherwise")
    holidays: str = Field(description="country code for the `holidays` package (ECB: the TARGET calendar)")
    half_days_closed: bool = Field(
        default=False,
        description="half holidays (IS: aðfangadagur, gamlársdagur) are no business days for deadlines, and "
        "no contact goes out after they close",
    )
    half_day_closes_at: time = time(13, 0)
    due_date_shift: Literal["next_business_day", "none"] = "next_business_day"
    interest_from: Literal["due_date", "final_due_date"] = "due_date"
    interest_rates: tuple[RateRow, ...] = Field(default=(), description="late interest, complete and dated")
    interest_rule: str = Field(default="", description="how the rate is set, with its source")
    tables: dict[str, tuple[Dated, ...]] = {}
    fees: dict[str, FeeRule] = {}
    fee_caps: dict[str, FeeCap] = {}
    notice_kinds: dict[str, NoticeKind] = {}
    windows: dict[Channel, ChannelWindows] = {}
    call_retry: CallRetry = CallRetry()
    default_policy: str

    @model_validator(mode="after")
    def _consistent(self) -> Jurisdiction:
        for name, cap in self.fee_caps.items():
            missing = set(cap.rules) - set(self.fees)
            if missing:
                raise ValueError(f"{self.code} fee cap {name}: no fee rules {sorted(missing)}")
        for key, kind in self.notice_kinds.items():
            missing = set(kind.fee_rules) - set(self.fees)
            if missing:
                raise ValueError(f"{self.code} notice kind {key}: no fee rules {sorted(missing)}")
        rows = self.interest_rates
        for before, after in itertools.pairwise(rows):
            if after.valid_from != before.valid_to + timedelta(days=1):
                raise ValueError(
                    f"{self.code} interest rates: {before.valid_to} is followed by {after.valid_from} "
                    "(rows must be in order, without gaps or overlaps)"
                )
        return self

    def notice(self, key: str) -> NoticeKind:
        try:
            return self.notice_kinds[key]
        except KeyError:
            raise KeyError(f"{self.code} has no notice kind {key!r}; have {sorted(self.notice_kinds)}") from None


@cache
def jurisdictions() -> dict[str, Jurisdiction]:
    packs = [
        Jurisdiction.model_validate(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted((DATA / "jurisdictions").glob("*.json"))
    ]
    return {pack.code: pack for pack in packs}


def jurisdiction(code: str) -> Jurisdiction:
    """The pack for a country, else the generic EU pack (Late Payment Directive)."""
    packs = jurisdictions()
    return packs.get(code.upper()) or packs["EU"]


def dated_value(table: tuple[Dated, ...], day: date) -> Decimal | None:
    """The value in force on `day`: the last entry that started on or before it."""
    value: Decimal | None = None
    for entry in sorted(table, key=lambda e: e.valid_from):
        if entry.valid_from <= day:
            value = entry.value
    return value
