"""A creditor's reminder policies as its staff read them: each step's rule in words, and a dry-run
plan as marks on a timeline (days from the sample claim's due date). Pure: the pages format money
and dates, the scheduler owns the rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Final

from krafa_web.charts import Mark
from krafa_web.i18n import N_, Msg, gettext_for, ngettext_for

ANCHORS = {
    "due_date": N_("the due date"),
    "final_due_date": N_("the final due date"),
    "previous": N_("the step before"),
}
KINDS = {
    "reminder": N_("Reminder"),
    "call": N_("Phone call"),
    "creditor_notice": N_("Notice to you (24 hours to react)"),
    "handover": N_("Handover to collection"),
    "claim_watch": N_("Claim watch"),
}
# A kind's short name, inside a step's title: "Handover (handover to collection)".
SHORT_KINDS = {
    "reminder": N_("reminder"),
    "call": N_("phone call"),
    "creditor_notice": N_("notice to you"),
    "handover": N_("handover to collection"),
    "claim_watch": N_("claim watch"),
}
# The shipped policies' step names in words (a creditor's own names are shown as written).
STEP_NAMES = {
    "reminder": N_("Reminder"),
    "friendly": N_("Friendly"),
    "friendly_reminder": N_("Friendly reminder"),
    "free_reminder": N_("Free reminder"),
    "payment_reminder": N_("Payment reminder"),
    "paid_reminder": N_("Paid reminder"),
    "second_reminder": N_("Second reminder"),
    "final_reminder": N_("Final reminder"),
    "warning": N_("Warning"),
    "purring": N_("Purring"),
    "inkassovarsel": N_("Inkassovarsel"),
    "due_date_passed": N_("Due date passed"),
    "final_due_date_passed": N_("Final due date passed"),
    "collection_warning": N_("Collection warning"),
    "creditor_notice": N_("Creditor notice"),
    "handover": N_("Handover"),
    "collection_letter_1": N_("Collection letter 1"),
    "collection_letter_2": N_("Collection letter 2"),
    "collection_call": N_("Collection call"),
    "reminder_call": N_("Reminder call"),
    "followup_call": N_("Followup call"),
    "final_letter": N_("Final letter"),
    "claim_watch": N_("Claim watch"),
}
# The channels as the policy pages name them.
CHANNELS = {
    "email": N_("email"),
    "sms": N_("sms"),
    "letter": N_("letter"),
    "netbank": N_("netbank"),
    "call": N_("call"),
}
Gettext = Callable[..., str]
ENGLISH: Final = gettext_for("en")
ENGLISH_PLURAL: Final = ngettext_for("en")


def describe_when(when: dict[str, Any], _: Gettext = ENGLISH, ngettext: Gettext = ENGLISH_PLURAL) -> str:
    """A step's timing in words: "3 days after the due date, at 09:00" (in the language of `_`)."""
    after = str(when.get("after", "due_date"))
    anchor = _(ANCHORS[after]) if after in ANCHORS else after
    spans = []
    if when.get("days"):
        spans.append(ngettext("%(num)d day", "%(num)d days", int(when["days"])))
    if when.get("business_days"):
        spans.append(ngettext("%(num)d business day", "%(num)d business days", int(when["business_days"])))
    if when.get("hours"):
        spans.append(ngettext("%(num)d hour", "%(num)d hours", int(when["hours"])))
    at = str(when.get("at") or "09:00")[:5]
    if not spans:
        return _("On %(anchor)s, at %(time)s", anchor=anchor, time=at)
    text = _("%(span)s after %(anchor)s, at %(time)s", span=_(" and ").join(spans), anchor=anchor, time=at)
    return text[:1].upper() + text[1:]


def channel_list(channels: list[str] | None, _: Gettext = ENGLISH) -> str:
    """A step's channels in words, in the order the policy gives them ("" for none)."""
    return ", ".join(_(CHANNELS[c]) if c in CHANNELS else c for c in channels or [])


def step_name(name: str, _: Gettext = ENGLISH) -> str:
    """A step's name in words: a shipped policy's in the reader's language, any other as written."""
    known = STEP_NAMES.get(name)
    return _(known) if known else name.replace("_", " ").strip().capitalize()


def step_title(step: dict[str, Any], _: Gettext = ENGLISH) -> str:
    """What the page calls a step: its name in words, with its kind when that is not a plain reminder."""
    name = step_name(str(step.get("name", "")), _) or _("Step")
    kind = str(step.get("kind") or "reminder")
    short: Msg | None = SHORT_KINDS.get(kind)
    said = _(short) if short else kind
    # A name that already says its kind ("Afhending í innheimtu") is not repeated in brackets.
    return name if kind == "reminder" or said.lower() in name.lower() else f"{name} ({said})"


def day_of(step: dict[str, Any], due: date) -> int:
    """The step's day counted from the due date, in the debtor's own calendar."""
    return (date.fromisoformat(str(step["local_time"])[:10]) - due).days


def plan_marks(steps: list[dict[str, Any]], due: date, when: Callable[[str], str], _: Gettext = ENGLISH) -> list[Mark]:
    """The planned steps as timeline marks; `when` formats a step's local time for the label."""
    marks = []
    for step in steps:
        channels = channel_list(step.get("channels"), _) or _("no message")
        marks.append(
            Mark(
                day=day_of(step, due),
                label=step_title(step, _),
                detail=f"{when(str(step['local_time']))} · {channels}",
                kind=str(step.get("kind") or "reminder"),
            )
        )
    return marks


def fee_total(step: dict[str, Any]) -> int:
    return sum(int(f.get("amount_minor") or 0) for f in step.get("fees") or [])
