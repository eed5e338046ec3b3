"""The creditor web: a creditor's staff follow their claims and act on them. Every read and
action goes to claims-api for the user's own creditor with their role's scopes (a viewer's
requests carry `read` only); every action, done or refused, leaves an audit row."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import charts, claim_changes, contact_lists, domain, i18n
from krafa_web.api.pages import Redirect, see_other
from krafa_web.api.staff_pages import (
    creditor_api,
    render_staff,
    require_user,
    staff_form,
    staff_form_values,
    staff_formats,
    staff_of,
)
from krafa_web.clients import CreditorClient, ServiceError
from krafa_web.i18n import N_, Msg
from krafa_web.staff.service import StaffRefused, StaffSession

router = APIRouter(include_in_schema=False)

STATUSES = ("open", "held", "disputed", "paid", "cancelled", "written_off")
ACTIONS = {
    "cancel": "cancel",
    "hold": "hold",
    "release": "release",
    "write-off": "write-off",
}
DONE = {
    "cancel": N_("The claim is cancelled. No more reminders will be sent."),
    "hold": N_("The claim is on hold: no reminder or handover happens until it is released."),
    "release": N_("The hold is lifted; the claim follows its plan again."),
    "write-off": N_("What was left of the claim is written off."),
    "let_go": N_("Noted: the claim goes to collection as planned."),
    "special": N_("The claim is held for special treatment; it will not go to collection until released."),
    "amend": N_("The claim is amended. Reminders from now on state the new amount and dates."),
    "dispute_reject": N_("The dispute is rejected: reminders resume, on a plan made from today."),
    "dispute_correct": N_("The dispute is upheld in part: the claim is corrected and reminders resume on it."),
    "dispute_cancel": N_("The dispute is upheld: the claim is cancelled."),
}
DISPUTE_DECISIONS = ("reject", "correct", "cancel")
REFUSED = {
    "forbidden": N_("Your role can look at claims but not change them. Ask an administrator."),
    "illegal": N_("That cannot be done to the claim in its present state."),
    "invalid": N_("The date to hold the claim until is not a valid date."),
}


async def _context(request: Request, session: StaffSession) -> tuple[CreditorClient, dict[str, Any], i18n.Formats]:
    api = creditor_api(request, session.user)
    profile = await api.profile()
    # Texts, money and dates in the reader's language (42.780 kr. in Icelandic); times in the
    # creditor's own zone.
    return api, profile, staff_formats(request, session, _zone(profile))


def _zone(profile: dict[str, Any]) -> str:
    return {"IS": "Atlantic/Reykjavik", "NO": "Europe/Oslo", "EE": "Europe/Tallinn"}.get(profile["country"], "UTC")


# -- overview --------------------------------------------------------------------------------------


@router.get("/creditor")
async def overview(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    aging, notices = await asyncio.gather(
        api.aging(), staff_of(request).notices(profile["id"], _service_now(request) - timedelta(hours=1))
    )
    currency = profile["currency"]
    report = next((c for c in aging["currencies"] if c["currency"] == currency), None)
    buckets = report["buckets"] if report else []
    names = {
        "current": N_("Not yet overdue"),
        "1-30": N_("1–30 days"),
        "31-60": N_("31–60 days"),
        "61-90": N_("61–90 days"),
    }
    over_90 = N_("Over 90 days")
    _ = i18n.gettext_for(formats.language)
    chart = charts.bar_chart(
        _("Open amount by days overdue"),
        [
            charts.Bar(
                _(names.get(b["bucket"], over_90)), b["balance_minor"], formats.money(b["balance_minor"], currency)
            )
            for b in buckets
        ],
    )
    pending = [n for n in notices if n["decision"] is None]
    return render_staff(
        request,
        "staff/overview.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        profile=profile,
        report=report,
        buckets=buckets,
        names=names,
        over_90=over_90,
        chart=chart,
        pending=len(pending),
    )


# -- claims ----------------------------------------------------------------------------------------


def _minor(value: str, currency: str) -> int | None:
    """An amount typed in major units ("12000", "12,000.50") as minor units; None when blank or unreadable."""
    if not value.strip():
        return None
    try:
        return domain.parse_amount(value, currency, i18n.formats("en").locale)
    except domain.BadAmount:
        return None


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "status": q.get("status") if q.get("status") in STATUSES else None,
        "department": q.get("department") or None,
        "customer_no": q.get("customer_no") or None,
        "overdue_days_min": q.get("overdue_days_min") if (q.get("overdue_days_min") or "").isdigit() else None,
    }


def _by_balance(request: Request, items: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """The balance filter (claims-api filters the rest)."""
    q = request.query_params
    low, high = _minor(q.get("amount_min", ""), currency), _minor(q.get("amount_max", ""), currency)
    if low is not None:
        items = [c for c in items if c["balance_minor"] >= low]
    if high is not None:
        items = [c for c in items if c["balance_minor"] <= high]
    return items


@router.get("/creditor/claims")
async def claims_list(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    q = request.query_params
    page = await api.claims({**_filters(request), "cursor": q.get("cursor") or None, "limit": 100})
    items = _by_balance(request, page["items"], profile["currency"])
    await staff_of(request).record(session.user, "claims.search", detail={k: v for k, v in q.items() if v})
    return render_staff(
        request,
        "staff/claims.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        claims=items,
        next_cursor=page.get("next_cursor"),
        q=dict(q),
        export="/creditor/claims.csv" + (f"?{request.url.query}" if request.url.query else ""),
        statuses=STATUSES,
        today=_service_now(request).date(),
    )


EXPORT_COLUMNS = (
    "invoice_no",
    "customer_no",
    "department",
    "status",
    "currency",
    "amount_minor",
    "fees_minor",
    "paid_minor",
    "balance_minor",
    "issue_date",
    "due_date",
    "final_due_date",
    "reference",
    "id",
)
EXPORT_LIMIT = 50_000


@router.get("/creditor/claims.csv")
async def claims_export(request: Request) -> Response:
    """The filtered claims as CSV (amounts in minor units, as the API gives them), audited."""
    session = await require_user(request, role="creditor")
    api, profile, _ = await _context(request, session)
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < EXPORT_LIMIT:
        page = await api.claims({**_filters(request), "cursor": cursor, "limit": 500})
        rows.extend(_by_balance(request, page["items"], profile["currency"]))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows[:EXPORT_LIMIT]:
        writer.writerow([row.get(column) if row.get(column) is not None else "" for column in EXPORT_COLUMNS])
    await staff_of(request).record(
        session.user, "claims.export", detail={"rows": min(len(rows), EXPORT_LIMIT), **dict(request.query_params)}
    )
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="claims.csv"'},
    )


async def _claim_view(request: Request, session: StaffSession, claim_id: UUID) -> dict[str, Any]:
    api, profile, formats = await _context(request, session)
    try:
        claim = await api.claim(claim_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such claim") from exc
        raise
    ledger, timeline, schedule, audit = await asyncio.gather(
        api.ledger(claim_id),
        api.timeline(claim_id),
        api.schedule(claim_id),
        staff_of(request).audit_log(session.user.creditor_id, target=f"claim:{claim_id}", limit=50),
    )
    items = timeline.get("items", [])
    messages = [i for i in items if i["kind"] in ("reminder_sent", "fallback")]
    payments = [e for e in ledger.get("entries", []) if e["kind"] in ("payment", "reversal")]
    return {
        "formats": formats,
        "creditor_name": profile["name"],
        "profile": profile,
        "claim": claim,
        "ledger": ledger,
        "timeline": list(reversed(items)),
        "messages": list(reversed(messages)),
        "payments": payments,
        "watched": domain.watch_summary(ledger),
        "schedule": schedule,
        "audit": audit,
    }


@router.get("/creditor/claims/{claim_id}")
async def claim_page(request: Request, claim_id: UUID, done: str = "", refused: str = "") -> Response:
    session = await require_user(request, role="creditor")
    view = await _claim_view(request, session, claim_id)
    return _render_claim(request, session, view, done=DONE.get(done), refused=REFUSED.get(refused))


async def _refused_claim(request: Request, session: StaffSession, view: dict[str, Any], **values: Any) -> Response:
    """The claim page again after a refused change, its audit read anew (the refusal is on it)."""
    claim_id = view["claim"]["id"]
    audit = await staff_of(request).audit_log(session.user.creditor_id, target=f"claim:{claim_id}", limit=50)
    return _render_claim(request, session, {**view, "audit": audit}, 422, **values)


def _render_claim(
    request: Request, session: StaffSession, view: dict[str, Any], status_code: int = 200, **values: Any
) -> Response:
    """The claim page; a form that came back refused keeps what was typed (`amend_form`,
    `resolve_form`) with its errors by field. Each form carries a fresh idempotency key, so a
    double click acts once and a corrected resubmission is a new request."""
    return render_staff(
        request,
        "staff/claim.html.j2",
        session,
        status_code,
        form_key=str(uuid.uuid4()),
        **{"done": None, "refused": None, "amend_form": None, "resolve_form": None, "errors": {}, **values},
        **view,
    )


def _summary(change: dict[str, Any], claim: dict[str, Any], formats: i18n.Formats) -> str:
    """An amendment in words for the audit ("amount 12.000 kr. → 10.000 kr.; due date …")."""
    parts = []
    if "amount_minor" in change:
        before, after = (formats.money(v, claim["currency"]) for v in (claim["amount_minor"], change["amount_minor"]))
        parts.append(f"amount {before} → {after}")
    for name, label in (("due_date", "due date"), ("final_due_date", "final due date")):
        if name in change:
            parts.append(f"{label} {formats.date(claim[name])} → {formats.date(change[name])}")
    return "; ".join(parts)


async def _refuse_role(request: Request, session: StaffSession, action: str, claim_id: UUID) -> None:
    """A viewer's post (only a forged one: the page shows them no form) is refused and audited."""
    if not session.user.can_act:
        await staff_of(request).record(
            session.user, action, target=f"claim:{claim_id}", outcome="refused", detail={"why": "role"}
        )
        raise StarletteHTTPException(403, "forbidden")


async def _send_change(
    request: Request, session: StaffSession, claim_id: UUID, action: str, body: dict[str, Any], key: str
) -> dict[str, str | Msg] | None:
    """The change through claims-api: None when done; the errors by field when it refused the values;
    a redirect (as an exception) when the claim's state no longer allows it."""
    user, target = session.user, f"claim:{claim_id}"
    try:
        await creditor_api(request, user).act(claim_id, action, body, key)
    except ServiceError as exc:
        await staff_of(request).record(
            user, f"claim.{action}", target=target, outcome="refused", detail={"why": exc.detail, **body}
        )
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such claim") from exc
        if exc.status == 409:
            raise Redirect(f"/creditor/claims/{claim_id}?refused=illegal") from exc
        if exc.status == 422:
            return claim_changes.refusal_errors(exc.body)
        raise
    return None


@router.post("/creditor/claims/{claim_id}/amend")
async def amend_claim(request: Request, claim_id: UUID) -> Response:
    """A change of the claim's amount or dates (claims-api's amend: ClaimAmended, the ledger's
    amendment entry, dunning re-planned on the new dates)."""
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    await _refuse_role(request, session, "claim.amend", claim_id)
    view = await _claim_view(request, session, claim_id)
    claim, formats = view["claim"], view["formats"]
    change = claim_changes.read_change(form, claim, formats.locale)
    errors: dict[str, str | Msg] | None = change.errors
    if change.ok:
        reason = form.get("reason", "").strip()[:500] or None
        body = {**change.body, "reason": reason}
        errors = await _send_change(request, session, claim_id, "amend", body, form.get("key") or str(uuid.uuid4()))
        if errors is None:
            await staff_of(request).record(
                session.user,
                "claim.amend",
                target=f"claim:{claim_id}",
                detail={**body, "summary": _summary(change.body, claim, formats)},
            )
            return see_other(f"/creditor/claims/{claim_id}?done=amend")
    return await _refused_claim(request, session, view, amend_form=form, errors=errors)


@router.post("/creditor/claims/{claim_id}/resolve")
async def resolve_dispute(request: Request, claim_id: UUID) -> Response:
    """The creditor's decision on a debtor's dispute: rejected (dunning resumes, re-planned from
    now), upheld in part (the claim corrected, then resumed) or upheld (the claim cancelled, with
    the cancellation fee)."""
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    decision = form.get("decision", "")
    if decision not in DISPUTE_DECISIONS:
        raise StarletteHTTPException(404, "no such decision")
    await _refuse_role(request, session, "claim.resolve", claim_id)
    view = await _claim_view(request, session, claim_id)
    claim, formats = view["claim"], view["formats"]
    note = form.get("note", "").strip()[:500] or None
    body: dict[str, Any] = {"outcome": "cancel" if decision == "cancel" else "resume", "note": note}
    summary = {"reject": "dispute rejected", "cancel": "dispute upheld, claim cancelled"}.get(decision, "")
    errors: dict[str, str | Msg] | None = None
    if decision == "correct":
        change = claim_changes.read_change(form, claim, formats.locale)
        errors = change.errors or None
        body["correction"] = change.body
        summary = "dispute upheld in part: " + _summary(change.body, claim, formats)
    if errors is None:
        errors = await _send_change(request, session, claim_id, "resolve", body, form.get("key") or str(uuid.uuid4()))
    if errors is None:
        await staff_of(request).record(
            session.user,
            "claim.resolve",
            target=f"claim:{claim_id}",
            detail={"decision": decision, **body, "summary": summary},
        )
        return see_other(f"/creditor/claims/{claim_id}?done=dispute_{decision}")
    return await _refused_claim(request, session, view, resolve_form=form, errors=errors)


@router.post("/creditor/claims/{claim_id}/{action}")
async def claim_action(request: Request, claim_id: UUID, action: str) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user, staff = session.user, staff_of(request)
    if action not in ACTIONS:
        raise StarletteHTTPException(404, "no such action")
    target = f"claim:{claim_id}"
    if not user.can_act:
        await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": "role"})
        raise StarletteHTTPException(403, "forbidden")
    body: dict[str, Any] = {}
    reason = form.get("reason", "").strip()
    if reason:
        body["reason"] = reason[:500]
    if action == "hold" and form.get("until"):
        try:
            until = datetime.combine(datetime.fromisoformat(form["until"]).date(), time(12), tzinfo=UTC)
        except ValueError:
            return see_other(f"/creditor/claims/{claim_id}?refused=invalid")
        body["until"] = until.isoformat()
    api = creditor_api(request, user)
    try:
        await api.act(claim_id, ACTIONS[action], body, form.get("key") or str(uuid.uuid4()))
    except ServiceError as exc:
        if exc.status == 404:
            await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": "not found"})
            raise StarletteHTTPException(404, "no such claim") from exc
        if exc.status in (409, 422):
            await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": exc.detail})
            return see_other(f"/creditor/claims/{claim_id}?refused=illegal")
        raise
    await staff.record(user, f"claim.{action}", target=target, detail=body)
    return see_other(f"/creditor/claims/{claim_id}?done={action}")


@router.get("/creditor/claims/{claim_id}/documents/{delivery_id}")
async def claim_document(request: Request, claim_id: UUID, delivery_id: UUID) -> Response:
    """A notice as it was sent (the PDF the notifier kept), for the claim's debtor only."""
    session = await require_user(request, role="creditor")
    api = creditor_api(request, session.user)
    claim = await api.claim(claim_id)
    timeline = await api.timeline(claim_id)
    known = {str(i.get("details", {}).get("delivery_id")) for i in timeline.get("items", [])}
    if str(delivery_id) not in known:
        raise StarletteHTTPException(404, "no such notice")
    pdf = await api.document(UUID(claim["debtor_id"]), delivery_id)
    await staff_of(request).record(session.user, "claim.document", target=f"claim:{claim_id}")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-{delivery_id}.pdf"'},
    )


# -- handover notices ------------------------------------------------------------------------------


@router.get("/creditor/handovers")
async def handovers(request: Request, done: str = "") -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    now = _service_now(request)
    notices = await staff_of(request).notices(profile["id"], now - timedelta(days=2))
    claims = await asyncio.gather(*(api.claim(n["claim_id"]) for n in notices), return_exceptions=True)
    rows = []
    for notice, claim in zip(notices, claims, strict=True):
        if isinstance(claim, BaseException):
            continue
        left = notice["handover_at"] - now
        rows.append({"notice": notice, "claim": claim, "left": left, "past": left.total_seconds() <= 0})
    return render_staff(
        request,
        "staff/handovers.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        rows=rows,
        done=DONE.get(done),
    )


def _service_now(request: Request) -> datetime:
    """The services' clock (simulated in demos): handover times are on it."""
    now: datetime = request.app.state.portal.clock.now()
    return now


@router.post("/creditor/handovers/{claim_id}")
async def handover_decision(request: Request, claim_id: UUID) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user, staff = session.user, staff_of(request)
    decision = form.get("decision", "")
    if decision not in ("let_go", "hold", "special"):
        raise StarletteHTTPException(404, "no such decision")
    if not user.can_act:
        await staff.record(user, f"handover.{decision}", target=f"claim:{claim_id}", outcome="refused")
        raise StarletteHTTPException(403, "forbidden")
    if decision in ("hold", "special"):
        api = creditor_api(request, user)
        note = form.get("reason", "").strip()
        reason = "special treatment" + (f": {note}" if note else "") if decision == "special" else "held from handover"
        try:
            await api.act(claim_id, "hold", {"reason": reason[:500]}, form.get("key") or str(uuid.uuid4()))
        except ServiceError as exc:
            if exc.status == 404:
                raise StarletteHTTPException(404, "no such claim") from exc
            if exc.status not in (409, 422):
                raise
    if not await staff.decide_notice(user, claim_id, decision):
        raise StarletteHTTPException(404, "no notice for that claim")
    return see_other(f"/creditor/handovers?done={'hold' if decision == 'hold' else decision}")


# -- audit -----------------------------------------------------------------------------------------


@router.get("/creditor/audit")
async def audit_page(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    _, profile, formats = await _context(request, session)
    rows = await staff_of(request).audit_log(session.user.creditor_id, limit=300)
    return render_staff(
        request, "staff/audit.html.j2", session, formats=formats, creditor_name=profile["name"], rows=rows
    )


# -- contact lists ---------------------------------------------------------------------------------

MAX_UPLOAD = 20 * 1024 * 1024


async def _uploads(request: Request, session: StaffSession, api: CreditorClient) -> list[dict[str, Any]]:
    """The creditor's uploads, newest first: each from the audit, its report from claims-api."""
    rows = await staff_of(request).audit_log(session.user.creditor_id, limit=500)
    uploads = [r for r in rows if r["action"] == "contacts.upload" and r["outcome"] == "ok"][:20]
    jobs = await asyncio.gather(
        *(api.get(f"/v1/contact-uploads/{r['target'].split(':', 1)[1]}") for r in uploads), return_exceptions=True
    )
    return [
        {"audit": r, "job": job} for r, job in zip(uploads, jobs, strict=True) if not isinstance(job, BaseException)
    ]


@router.get("/creditor/contacts")
async def contacts_page(request: Request, error: str = "") -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    return render_staff(
        request,
        "staff/contacts.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        uploads=await _uploads(request, session, api),
        error=error,
    )


@router.post("/creditor/contacts")
async def contacts_upload(request: Request) -> Response:
    """A contact list (CSV or Excel) shared with Krafa: the uploader attests the creditor's terms allow it;
    claims-api applies the good rows and reports every bad one by its line."""
    session = await require_user(request, role="creditor")
    user, staff = session.user, staff_of(request)
    form = await request.form()
    await staff_form_values(request, session, form)
    if not user.can_act:
        await staff.record(user, "contacts.upload", outcome="refused", detail={"why": "role"})
        raise StarletteHTTPException(403, "forbidden")
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return see_other("/creditor/contacts?error=no_file")
    if form.get("attest") != "yes":
        return see_other("/creditor/contacts?error=no_consent")
    content = await upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        return see_other("/creditor/contacts?error=too_big")
    try:
        content = contact_lists.as_csv(upload.filename, content)
    except contact_lists.UnreadableList as exc:
        await staff.record(
            user, "contacts.upload", outcome="refused", detail={"file": upload.filename, "why": str(exc)}
        )
        return see_other("/creditor/contacts?error=unreadable")
    source = str(form.get("consent_source") or "").strip() or "the creditor's terms of business"
    params = {
        "consent_source": f"{source} (attested by {user.email})"[:100],
        "consent_at": _service_now(request).isoformat(),
    }
    if terms := str(form.get("terms_version") or "").strip():
        params["terms_version"] = terms[:50]
    api = creditor_api(request, user)
    try:
        job = await api.upload_contacts(content, params, str(uuid.uuid4()))
    except ServiceError as exc:
        await staff.record(
            user, "contacts.upload", outcome="refused", detail={"file": upload.filename, "why": exc.detail}
        )
        if exc.status in (413, 415, 422):
            return see_other("/creditor/contacts?error=unreadable")
        raise
    await staff.record(
        user,
        "contacts.upload",
        target=f"upload:{job['id']}",
        detail={
            "file": upload.filename,
            "consent_attested": params["consent_source"],
            "accepted": job["rows_accepted"],
            "rejected": job["rows_rejected"],
        },
    )
    return see_other(f"/creditor/contacts/{job['id']}")


@router.get("/creditor/contacts/{upload_id}")
async def upload_report(request: Request, upload_id: UUID) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    try:
        job = await api.get(f"/v1/contact-uploads/{upload_id}")
    except ServiceError as exc:
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such upload") from exc
        raise
    return render_staff(
        request, "staff/upload.html.j2", session, formats=formats, creditor_name=profile["name"], job=job
    )


# -- debtors' requests beyond the terms ------------------------------------------------------------


@router.get("/creditor/requests")
async def requests_page(request: Request, done: str = "") -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    pending = (await api.get("/v1/arrangement-requests", {"status": "pending"}))["items"]
    claims = await asyncio.gather(*(api.claim(UUID(r["claim_id"])) for r in pending), return_exceptions=True)
    rows = [
        {"request": r, "claim": c} for r, c in zip(pending, claims, strict=True) if not isinstance(c, BaseException)
    ]
    return render_staff(
        request,
        "staff/requests.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        rows=rows,
        done=done,
    )


@router.post("/creditor/requests/{request_id}/{decision}")
async def decide_request(request: Request, request_id: UUID, decision: str) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user, staff = session.user, staff_of(request)
    if decision not in ("approve", "refuse"):
        raise StarletteHTTPException(404, "no such decision")
    target = f"request:{request_id}"
    if not user.can_act:
        await staff.record(user, f"request.{decision}", target=target, outcome="refused", detail={"why": "role"})
        raise StarletteHTTPException(403, "forbidden")
    note = form.get("note", "").strip()[:500] or None
    api = creditor_api(request, user)
    try:
        await api.post(
            f"/v1/arrangement-requests/{request_id}/{decision}",
            {"note": note},
            headers={"Idempotency-Key": form.get("key") or str(uuid.uuid4())},
        )
    except ServiceError as exc:
        if exc.status in (404, 409):
            await staff.record(
                user, f"request.{decision}", target=target, outcome="refused", detail={"why": exc.detail}
            )
            return see_other("/creditor/requests?done=gone")
        raise
    await staff.record(user, f"request.{decision}", target=target, detail={"note": note})
    return see_other(f"/creditor/requests?done={decision}d")


# -- users (admins) --------------------------------------------------------------------------------


def _qr_svg(uri: str) -> str:
    """The authenticator enrolment QR code as inline SVG (no image request, no third party)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=5,
        border=2,
        omitsize=True,
        xmldecl=False,
        svgns=True,
        title="QR code to enrol the authenticator app",
    )
    return buffer.getvalue().decode()


async def _users_page(request: Request, session: StaffSession, status_code: int = 200, **values: Any) -> Response:
    if not session.user.can_manage_users:
        raise StarletteHTTPException(403, "forbidden")
    _, profile, formats = await _context(request, session)
    users = await staff_of(request).users(session.user.creditor_id)
    return render_staff(
        request,
        "staff/users.html.j2",
        session,
        status_code,
        formats=formats,
        creditor_name=profile["name"],
        users=users,
        **values,
    )


@router.get("/creditor/users")
async def users_page(request: Request, done: str = "") -> Response:
    session = await require_user(request, role="creditor")
    return await _users_page(request, session, done=done)


@router.post("/creditor/users")
async def add_user(request: Request) -> Response:
    """An admin adds a user of their own creditor; the authenticator's QR code is shown once,
    on this answer only (never in a URL)."""
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    if not session.user.can_manage_users:
        await staff_of(request).record(session.user, "user.add", outcome="refused", detail={"why": "role"})
        raise StarletteHTTPException(403, "forbidden")
    role = form.get("role", "")
    if role not in ("viewer", "clerk", "admin"):
        return await _users_page(request, session, 422, error=N_("Choose a role."), form=form)
    try:
        created = await staff_of(request).add_user(
            creditor_id=session.user.creditor_id,
            email=form.get("email", ""),
            name=form.get("name", ""),
            role=role,
            password=form.get("password", ""),
            departments=tuple(d.strip() for d in form.get("departments", "").split(",") if d.strip()),
            by=session.user,
        )
    except StaffRefused as refused:
        texts = {
            "weak_password": N_("The password must have at least 12 characters and not contain the email address."),
            "email_taken": N_("A user with that email address exists already."),
            "bad_user": N_("Give the person's name and email address."),
        }
        return await _users_page(
            request, session, 422, error=texts.get(refused.reason, N_("That user cannot be added.")), form=form
        )
    return await _users_page(
        request,
        session,
        created_email=form.get("email", ""),
        secret=created.totp_secret,
        qr=_qr_svg(created.provisioning_uri),
    )


@router.post("/creditor/users/{user_id}/disable")
async def disable_user(request: Request, user_id: UUID) -> Response:
    session = await require_user(request, role="creditor")
    await staff_form(request, session)
    try:
        await staff_of(request).disable_user(session.user, user_id)
    except StaffRefused as refused:
        await staff_of(request).record(session.user, "user.disable", target=f"user:{user_id}", outcome="refused")
        raise StarletteHTTPException(403, "forbidden") from refused
    return see_other("/creditor/users?done=disabled")
