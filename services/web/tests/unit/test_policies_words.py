"""A policy's steps in words and a plan's steps as timeline marks, as the creditor's staff read them."""

from __future__ import annotations

from datetime import date

from krafa_web.i18n import gettext_for, ngettext_for
from krafa_web.policies import day_of, describe_when, fee_total, plan_marks, step_title


def test_a_steps_timing_reads_as_a_sentence() -> None:
    assert describe_when({"after": "due_date", "days": 3}) == "3 days after the due date, at 09:00"
    assert describe_when({"after": "final_due_date", "days": 1, "at": "10:30:00"}) == (
        "1 day after the final due date, at 10:30"
    )
    assert describe_when({"after": "previous", "hours": 24}) == "24 hours after the step before, at 09:00"
    assert describe_when({"after": "previous", "business_days": 5}) == "5 business days after the step before, at 09:00"
    assert describe_when({"after": "due_date", "at": "12:00"}) == "On the due date, at 12:00"


def test_a_step_is_named_with_its_kind_unless_a_plain_reminder() -> None:
    assert step_title({"name": "friendly_sms"}) == "Friendly sms"
    assert step_title({"name": "handover", "kind": "handover"}) == "Handover (handover to collection)"
    assert step_title({"name": "notice", "kind": "creditor_notice"}) == "Notice (notice to you)"
    # In Icelandic a shipped step's name is translated, and one that says its kind is not repeated.
    icelandic = gettext_for("is")
    assert step_title({"name": "handover", "kind": "handover"}, icelandic) == "Afhending í innheimtu"
    assert step_title({"name": "collection_call", "kind": "call"}, icelandic) == "Innheimtusímtal"
    assert step_title({"name": "creditor_notice", "kind": "creditor_notice"}, icelandic) == (
        "Tilkynning til kröfuhafa (tilkynning til þín)"
    )
    assert describe_when({"after": "due_date", "days": 21}, icelandic, ngettext_for("is")) == (
        "21 degi eftir gjalddaga, kl. 09:00"  # 21 takes the singular in Icelandic
    )


def test_plan_steps_become_marks_counted_in_the_debtors_days_from_the_due_date() -> None:
    due = date(2026, 3, 2)
    steps = [
        {"name": "first", "kind": "reminder", "local_time": "2026-03-05T09:00:00+00:00", "channels": ["sms", "email"]},
        # Late in the evening UTC is the next day in Tallinn: the debtor's calendar counts.
        {"name": "handover", "kind": "handover", "local_time": "2026-04-01T01:00:00+03:00", "channels": []},
    ]
    assert day_of(steps[1], due) == 30
    marks = plan_marks(steps, due, lambda value: value[:10])
    assert [(m.day, m.kind, m.detail) for m in marks] == [
        (3, "reminder", "2026-03-05 · sms, email"),
        (30, "handover", "2026-04-01 · no message"),
    ]


def test_a_steps_fees_add_up_in_minor_units() -> None:
    assert (
        fee_total({"fees": [{"kind": "reminder_fee", "amount_minor": 950}, {"kind": "x", "amount_minor": 50}]}) == 1000
    )
    assert fee_total({"fees": []}) == 0
