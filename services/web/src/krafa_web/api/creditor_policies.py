"""The creditor web's policies screens: the reminder policy per department and customer class as
the scheduler holds it, a dry run of a sample claim drawn as a timeline, and each customer's credit
limit and overdue warning as claims-api works them out. Every read goes through claims-api for the
user's own creditor (docs/adr/0013)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from krafa_web import charts, i18n, policies
from krafa_web.api.creditor_pages import _context, _minor, _service_now
from krafa_web.api.staff_pages import render_staff, require_user
from krafa_web.clients import ServiceError
from krafa_web.i18n import N_, Msg

router = APIRouter(include_in_schema=False)

SAMPLE_AMOUNT = "25000"  # in the creditor's currency, major units
KINDS = ("person", "company")
FEES = {
    "reminder_fee": N_("reminder fee"),
    "notice_fee": N_("notice fee"),
    "collection_fee": N_("collection fee"),
    "slip_fee": N_("slip fee"),
    "cancellation_fee": N_("cancellation fee"),
    "late_interest": N_("late interest"),
}
# The law's rule a fee follows, in words: "(by law: collection letter)".
FEE_RULES = {
    "collection_call": N_("collection call"),
    "collection_letter": N_("collection letter"),
    "collection_warning": N_("collection warning"),
    "compensation": N_("compensation"),
    "inkassovarsel": N_("inkassovarsel"),
    "purregebyr": N_("purregebyr"),
    "reminder_fee": N_("reminder fee"),
}


def _scopes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scope's versions, the current one first, scopes ordered most general first."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault((item.get("department") or "", item.get("customer_class") or ""), []).append(item)
    return [
        {"department": d or None, "customer_class": c or None, "versions": versions}
        for (d, c), versions in sorted(grouped.items())
    ]


@router.get("/creditor/policies")
async def policies_page(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    q = request.query_params
    currency = profile["currency"]
    answers: tuple[Any, ...] = await asyncio.gather(
        api.get("/v1/policies"), api.get("/v1/departments"), return_exceptions=True
    )
    stored_answer, departments_answer = answers
    unavailable = isinstance(stored_answer, ServiceError)
    stored: list[dict[str, Any]] = [] if isinstance(stored_answer, BaseException) else stored_answer["items"]
    departments: list[dict[str, Any]] = (
        [] if isinstance(departments_answer, BaseException) else departments_answer["items"]
    )
    default = None
    if not stored and not unavailable:
        try:
            default = await api.get("/v1/policies/current", {"jurisdiction": profile["country"]})
        except ServiceError:
            unavailable = True

    today = _service_now(request).date()
    try:
        due = date.fromisoformat(q.get("due_date") or today.isoformat())
    except ValueError:
        due = today
    amount = _minor(q.get("amount", ""), currency) or _minor(SAMPLE_AMOUNT, currency) or 1
    sample: dict[str, Any] = {
        "amount_minor": amount,
        "currency": currency,
        "due_date": due.isoformat(),
        "customer_class": (q.get("customer_class") or "regular").strip()[:40] or "regular",
        "debtor_kind": q.get("debtor_kind") if q.get("debtor_kind") in KINDS else "person",
        "watch_rounds": 1,
    }
    refs = {f"{p['key']}@{p['version']}" for p in stored}
    if q.get("policy") in refs:
        sample["policy"] = q["policy"]
    if department := (q.get("department") or "").strip()[:100]:
        sample["department"] = department
    plan, chart = None, None
    plan_error: Msg | None = None
    _ = i18n.gettext_for(formats.language)
    plural = i18n.ngettext_for(formats.language)
    try:
        plan = await api.post("/v1/policies/plan", sample)
    except ServiceError as exc:
        if exc.status >= 500:
            plan_error = N_("The scheduler is not answering just now, so the plan cannot be drawn. Try again shortly.")
        elif exc.detail:
            plan_error = N_("That sample cannot be planned: %(why)s.", why=exc.detail)
        else:
            plan_error = N_("That sample cannot be planned: check the form.")
    if plan is not None:
        marks = policies.plan_marks(plan["steps"], due, lambda v: formats.date(v, "medium"), _)
        summary = (
            N_(
                "%(steps)s steps for %(amount)s falling due on %(date)s, planned with your own policy; the table"
                " below lists each step."
            )
            if plan["source"] == "creditor"
            else N_(
                "%(steps)s steps for %(amount)s falling due on %(date)s, planned with the country's default"
                " policy; the table below lists each step."
            )
        )
        chart = charts.timeline_chart(
            _("Plan of a sample claim with %(policy)s", policy=plan["policy"]),
            _(summary, steps=len(marks), amount=formats.money(amount, currency), date=formats.date(due)),
            marks,
            start_label=_("Due date %(date)s", date=formats.date(due)),
        )
    classes = sorted({p["customer_class"] for p in stored if p.get("customer_class")} | {"regular"})
    return render_staff(
        request,
        "staff/policies.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        profile=profile,
        scopes=_scopes(stored),
        default=default,
        unavailable=unavailable,
        departments=departments,
        classes=classes,
        refs=sorted(refs),
        sample=sample,
        amount_text=formats.amount(amount, currency),
        plan=plan,
        plan_error=plan_error,
        chart=chart,
        kinds=policies.KINDS,
        describe_when=lambda when: policies.describe_when(when, _, plural),
        step_title=lambda step: policies.step_title(step, _),
        channel_list=lambda channels: policies.channel_list(channels, _),
        fee_name=lambda kind: _(FEES[kind]) if kind in FEES else kind.replace("_", " "),
        fee_rule=lambda rule: _(FEE_RULES[rule]) if rule in FEE_RULES else rule.replace("_", " "),
        fee_total=policies.fee_total,
    )


CUSTOMERS_PAGE = 25


@router.get("/creditor/policies/customers")
async def customers_page(request: Request) -> Response:
    """Each customer's credit limit, its use, the oldest overdue days and the verdict claims-api
    gives before a sale (ok, warn, block), a page of customers at a time."""
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    q = request.query_params
    params: dict[str, Any] = {"limit": CUSTOMERS_PAGE}
    if q.get("cursor"):
        params["cursor"] = q["cursor"]
    if q.get("customer_class"):
        params["customer_class"] = q["customer_class"][:32]
    # One call for the page: each customer with its credit status.
    page = await api.get("/v1/credit-statuses", params)
    rows = [{"debtor": {"customer_no": s["customer_no"], "name": s["name"]}, "credit": s} for s in page["items"]]
    only = q.get("verdict") if q.get("verdict") in ("warn", "block") else None
    if only:
        rows = [r for r in rows if r["credit"]["verdict"] in (("warn", "block") if only == "warn" else ("block",))]
    return render_staff(
        request,
        "staff/customers.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        rows=rows,
        next_cursor=page.get("next_cursor"),
        q=dict(q),
        only=only,
    )
