"""Self-service terms and the verdict on a debtor's arrangement: pure, no I/O.

A creditor sets how far a debtor may help themselves (docs/domain.md, SMS, email and phone: "move the due date or
split the bill in two"): a deferral up to N days from today, a plan of at most N instalments within N days,
each at least an amount. Within the terms the arrangement is granted at once; beyond them it
becomes a request the creditor decides. One self-service deferral and one self-service plan per
claim: a second one is always a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

# History entries of requests (they are not events on a topic; the webhook tells the creditor).
ARRANGEMENT_REQUESTED = "krafa.portal.arrangement_requested"
ARRANGEMENT_DECIDED = "krafa.portal.arrangement_decided"


class Kind(StrEnum):
    DEFERRAL = "deferral"
    INSTALMENTS = "instalments"


@dataclass(frozen=True, slots=True)
class Terms:
    max_deferral_days: int = 14
    max_instalments: int = 3
    max_plan_days: int = 90
    min_instalment_minor: int = 0
    interval_days: int = 30  # the gap between instalments the portal proposes
    requests_allowed: bool = True  # beyond the terms: a request (True) or nothing (False)


DEFAULT_TERMS = Terms()


@dataclass(frozen=True, slots=True)
class Verdict:
    within: bool
    reasons: tuple[str, ...]


def deferral_verdict(terms: Terms, new_due: date, today: date, *, used: bool) -> Verdict:
    reasons = []
    if used:
        reasons.append("a deferral was already granted in the portal")
    if new_due > today + timedelta(days=terms.max_deferral_days):
        reasons.append(f"more than {terms.max_deferral_days} days from today")
    return Verdict(not reasons, tuple(reasons))


def plan_verdict(terms: Terms, plan: list[tuple[date, int]], today: date, *, used: bool) -> Verdict:
    reasons = []
    if used:
        reasons.append("a plan was already granted in the portal")
    if len(plan) > terms.max_instalments:
        reasons.append(f"more than {terms.max_instalments} instalments")
    if plan and plan[-1][0] > today + timedelta(days=terms.max_plan_days):
        reasons.append(f"the last instalment more than {terms.max_plan_days} days from today")
    if any(amount < terms.min_instalment_minor for _, amount in plan):
        reasons.append(f"an instalment below {terms.min_instalment_minor}")
    return Verdict(not reasons, tuple(reasons))


def propose_plan(balance_minor: int, count: int, first: date, interval_days: int) -> list[tuple[date, int]]:
    """`count` instalments `interval_days` apart from `first`, adding up to the balance exactly;
    the remainder of the division goes on the first (so later ones are round)."""
    if count < 1 or balance_minor < count:
        raise ValueError("at least one minor unit per instalment")
    share, remainder = divmod(balance_minor, count)
    return [(first + timedelta(days=interval_days * i), share + (remainder if i == 0 else 0)) for i in range(count)]
