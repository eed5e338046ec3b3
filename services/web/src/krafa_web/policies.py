"""A creditor's reminder policies as its staff read them: each step's rule in words, and a dry-run
plan as marks on a timeline (days from the sample claim's due date). Pure: the pages format money
and dates, the scheduler owns the rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from krafa_web.charts import Mark

ANCHORS = {"due_date": "the due date", "final_due_date": "the final due date", "previous": "the step before"}
KINDS = {
    "reminder": "Reminder",
    "call": "Phone call",
    "creditor_notice": "Notice to you (24 hours to react)",
    "handover": "Handover to collection",
    "claim_watch": "Claim watch",
}


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def describe_when(when: dict[str, Any]) -> str:
    """A step's timing in words: "3 days after the due date, at 09:00"."""
    anchor = ANCHORS.get(str(when.get("after", "due_date")), str(when.get("after")))
    spans = []
    if when.get("days"):
        spans.append(_count(int(when["days"]), "day"))
    if when.get("business_days"):
        spans.append(_count(int(when["business_days"]), "business day"))
    if when.get("hours"):
        spans.append(_count(int(when["hours"]), "hour"))
    at = str(when.get("at") or "09:00")[:5]
    if not spans:
        return f"On {anchor}, at {at}"
    return f"{' and '.join(spans)} after {anchor}, at {at}".capitalize()


def step_title(step: dict[str, Any]) -> str:
    """What the page calls a step: its name in words, with its kind when that is not a plain reminder."""
    name = str(step.get("name", "")).replace("_", " ").strip().capitalize() or "Step"
    kind = str(step.get("kind") or "reminder")
    return name if kind == "reminder" else f"{name} ({KINDS.get(kind, kind).split(' (')[0].lower()})"


def day_of(step: dict[str, Any], due: date) -> int:
    """The step's day counted from the due date, in the debtor's own calendar."""
    return (date.fromisoformat(str(step["local_time"])[:10]) - due).days


def plan_marks(steps: list[dict[str, Any]], due: date, when: Callable[[str], str]) -> list[Mark]:
    """The planned steps as timeline marks; `when` formats a step's local time for the label."""
    marks = []
    for step in steps:
        channels = ", ".join(step.get("channels") or []) or "no message"
        marks.append(
            Mark(
                day=day_of(step, due),
                label=step_title(step),
                detail=f"{when(str(step['local_time']))} · {channels}",
                kind=str(step.get("kind") or "reminder"),
            )
        )
    return marks


def fee_total(step: dict[str, Any]) -> int:
    return sum(int(f.get("amount_minor") or 0) for f in step.get("fees") or [])
