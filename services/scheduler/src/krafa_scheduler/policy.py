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


class Step(Model):
    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    kind: StepKind = "reminder"
    when: When
    channels: tuple[Channel, ...] = (Channel.EMAIL, Channel.LETTER)
    template: str = "reminder"
    tone: Literal["friendly", "firm", "final"] = "friendly"
    fees: tuple[Fee, ...] = ()
    pay_within_days: int | None = Field(default=None, ge=1, le=365)
    conditions: Conditions = Conditions()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    # A late friendly step is pointless once the next step is due as well; a legally required
    # one (a collection warning before handover) must never be skipped.
    skippable: bool = False
    # claim_watch: how often the debtor is contacted, and the creditor's share of recoveries.
    interval_days: int = Field(default=30, ge=1)
    creditor_share_pct: int = Field(default=50, ge=0, le=100)

    @model_validator(mode="after")
    def _channels(self) -> Step:
        if self.kind in ("reminder", "call", "claim_watch") and not self.channels:
            raise ValueError("a debtor-facing step needs at least one channel")
        if self.kind == "call" and self.channels != (Channel.CALL,):
            raise ValueError("a call step has channels ['call']")
        return self


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
