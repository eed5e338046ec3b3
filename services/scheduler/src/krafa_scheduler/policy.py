"""Escalation policies as data. Pure: pydantic models and the shipped JSON files under
`data/policies`; no I/O beyond reading those files once.

A policy is an ordered list of steps. The law around it — notice kinds, fee caps, interest
rates, calendars and sending windows — is the jurisdiction pack's (krafa_law), shared with every
service. Policies are immutable per version: a timeline remembers `key@version` and keeps it
until it is re-planned.
"""

from __future__ import annotations

import json
from datetime import time
from functools import cache
from pathlib import Path
from typing import Literal

from krafa_events import Channel
from krafa_law import Dated, Jurisdiction, dated_value, jurisdiction, jurisdictions
from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA = Path(__file__).parent / "data"

__all__ = ["Dated", "Jurisdiction", "Policy", "Step", "dated_value", "jurisdiction", "jurisdictions"]

StepKind = Literal["reminder", "call", "creditor_notice", "handover", "claim_watch"]
Anchor = Literal["due_date", "final_due_date", "previous"]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class When(Model):
    """How long after the anchor a step falls due. Business days count the jurisdiction's
    working days; `hours` suits short hold windows (the 24 h creditor notice)."""

    after: Anchor = "due_date"
    days: int = Field(default=0, ge=0, le=3650)
    business_days: int = Field(default=0, ge=0, le=3650)
    hours: int = Field(default=0, ge=0, le=24 * 365)
    at: time = Field(default=time(9, 0), description="local time of day in the debtor's zone")

    @model_validator(mode="after")
    def _one_unit(self) -> When:
        if self.days and self.business_days:
            raise ValueError("use either days or business_days, not both")
        return self


class Fee(Model):
    """A fixed amount, or a rule of the jurisdiction pack (which also caps a fixed amount)."""

    kind: str = Field(default="reminder_fee", pattern=r"^[a-z_]{3,40}$")
    amount_minor: int | None = Field(default=None, gt=0)
    rule: str | None = Field(default=None, description="a fee rule of the jurisdiction pack")

    @model_validator(mode="after")
    def _amount_or_rule(self) -> Fee:
        if self.amount_minor is None and self.rule is None:
            raise ValueError("a fee needs amount_minor or rule")
        return self


class Conditions(Model):
    min_amount_minor: int = Field(default=0, ge=0)
    customer_classes: tuple[str, ...] = Field(default=(), description="empty: every class")
    debtor_kinds: tuple[Literal["person", "company"], ...] = ()
    no_contact_days: int = Field(default=0, ge=0, description="skip if the debtor was contacted this recently")


Fallbacks = dict[Channel, tuple[Channel, ...]]


def _check_channels(channels: tuple[Channel, ...], fallbacks: Fallbacks) -> None:
    if len(set(channels)) != len(channels):
        raise ValueError("each channel once per step")
    for channel, instead in fallbacks.items():
        if channel not in channels:
            raise ValueError(f"fallbacks for {channel.value!r}, which the step does not send on")
        if set(instead) & set(channels) or channel in instead or len(set(instead)) != len(instead):
            raise ValueError(f"the fallbacks of {channel.value!r} repeat a channel the step already uses")


class WatchContact(Model):
    """One contact of claim watch's cadence: the rounds take the contacts in turn, each `days`
    after the round before (the first round when the step falls due)."""

    channels: tuple[Channel, ...] = Field(min_length=1)
    fallbacks: Fallbacks = {}
    notice: str | None = None
    template: str = "claim_watch"
    days: int = Field(ge=1, le=3650, description="days after the previous round")

    @model_validator(mode="after")
    def _channels(self) -> WatchContact:
        _check_channels(self.channels, self.fallbacks)
        if Channel.CALL in self.channels and self.channels != (Channel.CALL,):
            raise ValueError("a call is a contact of its own: channels ['call']")
        return self


class Step(Model):
    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    kind: StepKind = "reminder"
    when: When
    notice: str | None = Field(
        default=None,
        description="the jurisdiction pack's notice kind this contact is (its legal form, days to pay, gap to the "
        "next step, the fees it may carry); only a step with a notice kind books fees",
    )
    channels: tuple[Channel, ...] = Field(
        default=(Channel.EMAIL,), description="every channel is a delivery of its own (e.g. ['sms', 'email'])"
    )
    fallbacks: Fallbacks = Field(
        default={}, description="per channel, where its delivery goes when the channel cannot carry it, in order"
    )
    template: str = "reminder"
    tone: Literal["friendly", "firm", "final"] = "friendly"
    fees: tuple[Fee, ...] = ()
    pay_within_days: int | None = Field(
        default=None, ge=1, le=365, description="days to pay from the send; at least the notice kind's minimum"
    )
    conditions: Conditions = Conditions()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    # A late friendly step is pointless once the next step is due as well; a legally required
    # one (a collection warning before handover) must never be skipped.
    skippable: bool = False
    # claim_watch: the contacts' cadence (empty: `channels` every `interval_days`), and the
    # creditor's share of recoveries.
    cadence: tuple[WatchContact, ...] = ()
    interval_days: int = Field(default=30, ge=1)
    creditor_share_pct: int = Field(
        default=50,
        ge=0,
        le=100,
        description="claim watch: the creditor's percentage of what is recovered; the collection agency keeps the "
        "rest as its commission (claims-api books the split on each payment)",
    )
    share_terms: str = Field(
        default="",
        max_length=500,
        description="claim watch: where the split comes from, with its date — a term of the collection agency's "
        "contract with the creditor, not law",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_delivery(cls, data: object) -> object:
        # A step that names no channels goes by email, by letter where email cannot reach.
        if isinstance(data, dict) and "channels" not in data and "fallbacks" not in data:
            return {**data, "fallbacks": {Channel.EMAIL: (Channel.LETTER,)}}
        return data

    @model_validator(mode="after")
    def _channels(self) -> Step:
        if self.kind in ("reminder", "call", "claim_watch") and not self.channels:
            raise ValueError("a debtor-facing step needs at least one channel")
        if self.kind == "call" and self.channels != (Channel.CALL,):
            raise ValueError("a call step has channels ['call']")
        if self.kind in ("creditor_notice", "handover") and (self.notice or self.fees):
            raise ValueError(f"a {self.kind} step is no contact with the debtor: no notice kind, no fees")
        if self.cadence and self.kind != "claim_watch":
            raise ValueError("only claim watch has a cadence")
        _check_channels(self.channels, self.fallbacks)
        return self

    def chain(self, channel: Channel) -> tuple[Channel, ...]:
        """One delivery's channels in order: the channel, then its fallbacks."""
        return (channel, *self.fallbacks.get(channel, ()))

    def watch_round(self, watch_round: int) -> Step:
        """Claim watch: the step as round `watch_round` (1, 2, …) sends it — that round's
        contact of the cadence."""
        if not self.cadence or watch_round < 1:
            return self
        index = (watch_round - 1) % len(self.cadence)
        key = (id(self), index)
        hit = _ROUNDS.get(key)
        if hit is None:
            contact = self.cadence[index]
            update = {
                "channels": contact.channels,
                "fallbacks": contact.fallbacks,
                "notice": contact.notice,
                "template": contact.template,
            }
            hit = _ROUNDS[key] = (self.model_copy(update=update), self)  # holding self pins its id
        return hit[0]


_ROUNDS: dict[tuple[int, int], tuple[Step, Step]] = {}


class BudgetRule(Model):
    channel: Channel | None = Field(default=None, description="None: contacts on any channel")
    max: int = Field(ge=1)
    days: int = Field(ge=1)


class Policy(Model):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    version: int = Field(default=1, ge=1)
    jurisdiction: str = Field(min_length=2, max_length=2)
    aggregation: Literal["debtor", "claim"] = "debtor"
    contact_budget: tuple[BudgetRule, ...] = (
        BudgetRule(channel=Channel.SMS, max=1, days=3),
        BudgetRule(max=3, days=7),
    )
    steps: tuple[Step, ...] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _order(self) -> Policy:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        if self.steps[0].when.after == "previous":
            raise ValueError("the first step cannot be anchored on a previous step")
        for i, step in enumerate(self.steps):
            if step.kind == "creditor_notice" and (i + 1 >= len(self.steps) or self.steps[i + 1].kind != "handover"):
                raise ValueError("a creditor_notice step must be followed by its handover step")
            if step.kind == "claim_watch" and i != len(self.steps) - 1:
                raise ValueError("claim_watch must be the last step")
        return self

    @property
    def ref(self) -> str:
        return f"{self.key}@{self.version}"


def problems(pol: Policy, pack: Jurisdiction) -> list[dict[str, str]]:
    """What the models cannot see alone — the policy against its jurisdiction pack, as JSON
    pointers with a reason: every notice kind exists, a fee is booked only by a notice whose kind
    allows the fee's rule, the days to pay reach the kind's legal minimum, and the channels may
    carry the kind (a written notice on a written channel)."""
    out: list[dict[str, str]] = []

    def add(pointer: str, detail: str) -> None:
        out.append({"pointer": pointer, "detail": detail})

    for i, step in enumerate(pol.steps):
        at = f"/steps/{i}"
        kinds = [f.kind for f in step.fees]
        if len(set(kinds)) != len(kinds):
            add(f"{at}/fees", "one fee per kind and step")
        contacts = [(at, step.notice, step.channels, step.fallbacks)] + [
            (f"{at}/cadence/{j}", c.notice, c.channels, c.fallbacks) for j, c in enumerate(step.cadence)
        ]
        for where, notice, channels, fallbacks in contacts:
            if notice is None:
                continue
            kind = pack.notice_kinds.get(notice)
            if kind is None:
                add(f"{where}/notice", f"{pack.code} has no notice kind {notice!r}; have {sorted(pack.notice_kinds)}")
                continue
            used = set(channels) | {c for chain in fallbacks.values() for c in chain}
            wrong = sorted(c.value for c in used if c not in kind.channels)
            if wrong:
                add(f"{where}/channels", f"a {notice} cannot go by {', '.join(wrong)}")
        for j, fee in enumerate(step.fees):
            if fee.rule is None:
                add(f"{at}/fees/{j}/rule", "a fee names the pack's fee rule that allows and caps it")
            elif fee.rule not in pack.fees:
                add(f"{at}/fees/{j}/rule", f"{pack.code} has no fee rule {fee.rule!r}")
            elif step.notice is None:
                add(f"{at}/fees/{j}", "only a step with a notice kind books fees")
            elif step.notice in pack.notice_kinds and fee.rule not in pack.notice(step.notice).fee_rules:
                add(f"{at}/fees/{j}/rule", f"a {step.notice} may not carry a {fee.rule} fee")
        if step.notice in pack.notice_kinds:
            kind = pack.notice(step.notice)
            if step.pay_within_days is not None and step.pay_within_days < kind.min_days_to_pay:
                basis = kind.legal_basis or kind.source
                add(f"{at}/pay_within_days", f"a {step.notice} gives at least {kind.min_days_to_pay} days ({basis})")
    return out


def _read(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def shipped_policies() -> dict[str, Policy]:
    """key -> the newest shipped version; files are `<key>@<version>.json`."""
    found: dict[str, Policy] = {}
    for path in sorted((DATA / "policies").glob("*.json")):
        policy = Policy.model_validate(_read(path))
        current = found.get(policy.key)
        if current is None or policy.version > current.version:
            found[policy.key] = policy
    return found


@cache
def shipped_policy_versions() -> dict[str, Policy]:
    """`key@version` -> policy, every version ever shipped (timelines keep theirs)."""
    return {(p := Policy.model_validate(_read(path))).ref: p for path in sorted((DATA / "policies").glob("*.json"))}


def default_policy(code: str) -> Policy:
    return shipped_policies()[jurisdiction(code).default_policy]
