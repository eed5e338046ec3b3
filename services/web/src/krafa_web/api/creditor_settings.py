"""The creditor web's settings (administrators only): API keys — created with scopes, the secret
shown once, revoked — webhook endpoints with their delivery log, where one delivery is sent
again or the given-up ones since a day, departments, and the sender identity (how messages name
the creditor). Everything runs through claims-api's own routes for the
user's creditor; every change, done or refused, leaves an audit row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web.api.creditor_pages import _context
from krafa_web.api.pages import see_other
from krafa_web.api.staff_pages import creditor_api, render_staff, require_user, staff_form_values, staff_of
from krafa_web.clients import ServiceError
from krafa_web.i18n import N_, Msg
from krafa_web.staff.service import StaffSession

router = APIRouter(include_in_schema=False)

# What each scope lets a key do, in the words of the form.
SCOPES = {
    "read": N_("Read claims, debtors, reports, policies and templates"),
    "claims:write": N_("Register and change claims; manage webhooks"),
    "contacts:write": N_("Change customers' contact details and upload contact lists"),
}
DONE = {
    "revoked": N_("The key is revoked: requests with it are refused from now on."),
    "disabled": N_("The endpoint is disabled: nothing more is sent to it."),
    "resent": N_("The delivery is queued: it goes out again within seconds."),
    "recovered": N_("The deliveries given up since then are queued again."),
}


async def _admin(request: Request) -> StaffSession:
    """An administrator of the creditor; anyone else gets the 403 page (and a forged post an audit row)."""
    session = await require_user(request, role="creditor")
    if not session.user.can_manage_users:
        if request.method == "POST":
            await staff_of(request).record(
                session.user,
                "settings." + request.url.path.rsplit("/", 1)[-1],
                outcome="refused",
                detail={"why": "role"},
            )
        raise StarletteHTTPException(403, "forbidden")
    return session


async def _form(request: Request, session: StaffSession) -> tuple[dict[str, str], list[str]]:
    """The checked form values and every value of a repeated field (`scope`, `event_type`)."""
    form = await request.form()
    values = await staff_form_values(request, session, form)
    many = [str(v) for key in ("scope", "event_type") for v in form.getlist(key)]
    return values, many


@router.get("/creditor/settings")
async def settings_home(request: Request) -> Response:
    await _admin(request)
    return see_other("/creditor/settings/api-keys")


# -- API keys --------------------------------------------------------------------------------------


async def _keys_page(request: Request, session: StaffSession, status_code: int = 200, **values: Any) -> Response:
    api, profile, formats = await _context(request, session)
    keys = (await api.get("/v1/api-keys"))["items"]
    return render_staff(
        request,
        "staff/settings_keys.html.j2",
        session,
        status_code,
        formats=formats,
        creditor_name=profile["name"],
        keys=sorted(keys, key=lambda k: (k["revoked_at"] is not None, k["created_at"]), reverse=False),
        scopes=SCOPES,
        form_key=str(uuid.uuid4()),
        **values,
    )


@router.get("/creditor/settings/api-keys")
async def keys_page(request: Request, done: str = "") -> Response:
    session = await _admin(request)
    return await _keys_page(request, session, done=DONE.get(done))


@router.post("/creditor/settings/api-keys")
async def create_key(request: Request) -> Response:
    """A new key with the scopes ticked; its secret is on this answer only (never in a URL or the audit)."""
    session = await _admin(request)
    form, scopes = await _form(request, session)
    name = form.get("name", "").strip()[:100]
    chosen = [s for s in SCOPES if s in scopes]
    if not name or not chosen:
        return await _keys_page(
            request,
            session,
            422,
            error=N_("Give the key a name and tick at least one scope."),
            form=form,
            chosen=chosen,
        )
    api = creditor_api(request, session.user)
    try:
        created = await api.post(
            "/v1/api-keys",
            {"name": name, "scopes": chosen},
            headers={"Idempotency-Key": form.get("key") or str(uuid.uuid4())},
        )
    except ServiceError as exc:
        if exc.status not in (403, 422):
            raise
        await staff_of(request).record(session.user, "apikey.create", outcome="refused", detail={"why": exc.detail})
        return await _keys_page(
            request, session, 422, error=N_("The key was not created: %(why)s", why=exc.detail), form=form
        )
    await staff_of(request).record(
        session.user,
        "apikey.create",
        target=f"apikey:{created['id']}",
        detail={"name": name, "scopes": chosen, "prefix": created["prefix"]},
    )
    return await _keys_page(request, session, 201, created=created)


@router.post("/creditor/settings/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: UUID) -> Response:
    session = await _admin(request)
    await _form(request, session)
    target = f"apikey:{key_id}"
    try:
        revoked = await creditor_api(request, session.user).delete(f"/v1/api-keys/{key_id}")
    except ServiceError as exc:
        if exc.status not in (403, 404):
            raise
        await staff_of(request).record(
            session.user, "apikey.revoke", target=target, outcome="refused", detail={"why": exc.detail}
        )
        raise StarletteHTTPException(404 if exc.status == 404 else 403, "no such key") from exc
    await staff_of(request).record(
        session.user, "apikey.revoke", target=target, detail={"name": revoked.get("name"), "prefix": revoked["prefix"]}
    )
    return see_other("/creditor/settings/api-keys?done=revoked")


# -- webhooks --------------------------------------------------------------------------------------


async def _hooks_page(request: Request, session: StaffSession, status_code: int = 200, **values: Any) -> Response:
    api, profile, formats = await _context(request, session)
    hooks = (await api.get("/v1/webhooks"))["items"]
    return render_staff(
        request,
        "staff/settings_webhooks.html.j2",
        session,
        status_code,
        formats=formats,
        creditor_name=profile["name"],
        hooks=sorted(hooks, key=lambda h: (h["disabled_at"] is not None, h["created_at"])),
        types=await api.webhook_types(),
        form_key=str(uuid.uuid4()),
        **values,
    )


@router.get("/creditor/settings/webhooks")
async def hooks_page(request: Request, done: str = "") -> Response:
    session = await _admin(request)
    return await _hooks_page(request, session, done=DONE.get(done))


@router.post("/creditor/settings/webhooks")
async def create_hook(request: Request) -> Response:
    """A new endpoint; claims-api checks the address is public https and shows the signing secret once."""
    session = await _admin(request)
    form, types = await _form(request, session)
    body: dict[str, Any] = {"url": form.get("url", "").strip()}
    if types:
        body["event_types"] = sorted(set(types))
    if description := form.get("description", "").strip()[:200]:
        body["description"] = description
    api = creditor_api(request, session.user)
    try:
        created = await api.post(
            "/v1/webhooks", body, headers={"Idempotency-Key": form.get("key") or str(uuid.uuid4())}
        )
    except ServiceError as exc:
        if exc.status not in (403, 409, 422):
            raise
        await staff_of(request).record(
            session.user, "webhook.create", outcome="refused", detail={"url": body["url"], "why": exc.detail}
        )
        why = exc.detail if exc.body.get("code") == "unsafe-webhook-url" else N_("check the address (https://…)")
        return await _hooks_page(
            request, session, 422, error=N_("The endpoint was not added: %(why)s.", why=why), form=form
        )
    await staff_of(request).record(
        session.user,
        "webhook.create",
        target=f"webhook:{created['id']}",
        detail={"url": created["url"], "event_types": created["event_types"]},
    )
    return await _hooks_page(request, session, 201, created=created)


@router.post("/creditor/settings/webhooks/{webhook_id}/disable")
async def disable_hook(request: Request, webhook_id: UUID) -> Response:
    session = await _admin(request)
    await _form(request, session)
    target = f"webhook:{webhook_id}"
    try:
        hook = await creditor_api(request, session.user).delete(f"/v1/webhooks/{webhook_id}")
    except ServiceError as exc:
        if exc.status != 404:
            raise
        await staff_of(request).record(session.user, "webhook.disable", target=target, outcome="refused")
        raise StarletteHTTPException(404, "no such endpoint") from exc
    await staff_of(request).record(session.user, "webhook.disable", target=target, detail={"url": hook["url"]})
    return see_other("/creditor/settings/webhooks?done=disabled")


@router.get("/creditor/settings/webhooks/{webhook_id}")
async def deliveries_page(request: Request, webhook_id: UUID, done: str = "", refused: str = "") -> Response:
    session = await _admin(request)
    api, profile, formats = await _context(request, session)
    hooks = {h["id"]: h for h in (await api.get("/v1/webhooks"))["items"]}
    hook = hooks.get(str(webhook_id))
    if hook is None:
        raise StarletteHTTPException(404, "no such endpoint")
    status = request.query_params.get("status")
    deliveries = (await api.get(f"/v1/webhooks/{webhook_id}/deliveries", {"limit": 100}))["items"]
    if status in ("pending", "delivered", "failed", "cancelled"):
        deliveries = [d for d in deliveries if d["status"] == status]
    return render_staff(
        request,
        "staff/settings_deliveries.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        hook=hook,
        deliveries=deliveries,
        status=status,
        done=DONE.get(done),
        refused=refused,
        # Deliveries are stamped on the wall clock; their retries give up after about a day.
        since=(datetime.now(formats.zone) - timedelta(days=2)).date().isoformat(),
    )


@router.post("/creditor/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/resend")
async def resend(request: Request, webhook_id: UUID, delivery_id: UUID) -> Response:
    session = await _admin(request)
    form, _ = await _form(request, session)
    target = f"webhook:{webhook_id}"
    try:
        await creditor_api(request, session.user).post(
            f"/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
            headers={"Idempotency-Key": form.get("key") or str(uuid.uuid4())},
        )
    except ServiceError as exc:
        if exc.status not in (404, 409):
            raise
        await staff_of(request).record(
            session.user,
            "webhook.resend",
            target=target,
            outcome="refused",
            detail={"delivery_id": str(delivery_id), "why": exc.detail},
        )
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such delivery") from exc
        return see_other(f"/creditor/settings/webhooks/{webhook_id}?refused={exc.body.get('code', 'conflict')}")
    await staff_of(request).record(
        session.user, "webhook.resend", target=target, detail={"delivery_id": str(delivery_id)}
    )
    return see_other(f"/creditor/settings/webhooks/{webhook_id}?done=resent")


@router.post("/creditor/settings/webhooks/{webhook_id}/recover")
async def recover(request: Request, webhook_id: UUID) -> Response:
    """Every delivery given up since a day goes out again (after the receiver was down for long)."""
    session = await _admin(request)
    form, _ = await _form(request, session)
    target = f"webhook:{webhook_id}"
    try:
        since = datetime.combine(datetime.fromisoformat(form.get("since", "")).date(), time(0), tzinfo=UTC)
    except ValueError:
        return see_other(f"/creditor/settings/webhooks/{webhook_id}?refused=bad-date")
    try:
        answer = await creditor_api(request, session.user).post(
            f"/v1/webhooks/{webhook_id}/recover",
            {"since": since.isoformat()},
            headers={"Idempotency-Key": form.get("key") or str(uuid.uuid4())},
        )
    except ServiceError as exc:
        if exc.status not in (404, 409):
            raise
        await staff_of(request).record(
            session.user, "webhook.recover", target=target, outcome="refused", detail={"why": exc.detail}
        )
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such endpoint") from exc
        return see_other(f"/creditor/settings/webhooks/{webhook_id}?refused={exc.body.get('code', 'conflict')}")
    await staff_of(request).record(
        session.user,
        "webhook.recover",
        target=target,
        detail={"since": since.date().isoformat(), "requeued": answer.get("requeued")},
    )
    return see_other(f"/creditor/settings/webhooks/{webhook_id}?done=recovered")


# -- departments -----------------------------------------------------------------------------------


async def _departments_page(request: Request, session: StaffSession, status_code: int = 200, **values: Any) -> Response:
    api, profile, formats = await _context(request, session)
    departments = (await api.get("/v1/departments"))["items"]
    return render_staff(
        request,
        "staff/settings_departments.html.j2",
        session,
        status_code,
        formats=formats,
        creditor_name=profile["name"],
        departments=departments,
        country=profile["country"],
        form_key=str(uuid.uuid4()),
        **values,
    )


@router.get("/creditor/settings/departments")
async def departments_page(request: Request) -> Response:
    session = await _admin(request)
    return await _departments_page(request, session)


@router.post("/creditor/settings/departments")
async def add_department(request: Request) -> Response:
    """A division whose claims get their own final due date rule (and policy, set with Krafa's staff)."""
    session = await _admin(request)
    form, _ = await _form(request, session)
    offset = form.get("final_due_offset_days", "").strip()
    body: dict[str, Any] = {"key": form.get("key", "").strip(), "name": form.get("name", "").strip()}
    if offset:
        if not offset.isdigit():
            return await _departments_page(
                request, session, 422, error=N_("The days to the final due date are a whole number."), form=form
            )
        body["final_due_offset_days"] = int(offset)
    try:
        created = await creditor_api(request, session.user).post(
            "/v1/departments", body, headers={"Idempotency-Key": form.get("form_key") or str(uuid.uuid4())}
        )
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        await staff_of(request).record(
            session.user, "department.add", outcome="refused", detail={**body, "why": exc.detail}
        )
        why = (
            N_("that key is taken already")
            if exc.status == 409
            else N_("give a key without spaces or slashes and a name")
        )
        return await _departments_page(
            request, session, 422, error=N_("The department was not added: %(why)s.", why=why), form=form
        )
    await staff_of(request).record(session.user, "department.add", target=f"department:{created['id']}", detail=body)
    return await _departments_page(
        request, session, 201, done=N_("The department %(name)s is added.", name=created["name"])
    )


# -- sender identity -------------------------------------------------------------------------------

SENDER_FIELDS = ("sender_name", "sender_email", "reply_to", "sms_sender_id", "contact_phone")
SENDER_LABELS = {
    "sender_name": N_("Name messages are sent in"),
    "sender_email": N_("From address"),
    "reply_to": N_("Reply-To address"),
    "sms_sender_id": N_("SMS sender"),
    "contact_phone": N_("Phone number for debtors"),
}


async def _sender_page(request: Request, session: StaffSession, status_code: int = 200, **values: Any) -> Response:
    api, profile, formats = await _context(request, session)
    changes = (await api.get("/v1/creditor/changes", {"limit": 20}))["items"]
    return render_staff(
        request,
        "staff/settings_sender.html.j2",
        session,
        status_code,
        formats=formats,
        creditor_name=profile["name"],
        profile=profile,
        changes=changes,
        labels=SENDER_LABELS,
        form_key=str(uuid.uuid4()),
        **{"form": None, "errors": {}, "done": None, **values},
    )


@router.get("/creditor/settings/sender")
async def sender_page(request: Request, done: str = "") -> Response:
    session = await _admin(request)
    return await _sender_page(
        request, session, done=N_("Saved. Every message sent from now on uses it.") if done == "saved" else None
    )


@router.post("/creditor/settings/sender")
async def change_sender(request: Request) -> Response:
    """How the creditor's messages name it (claims-api's PATCH /v1/creditor: checked there, then
    every later email, text and letter uses it)."""
    session = await _admin(request)
    form, _ = await _form(request, session)
    api, profile, _formats = await _context(request, session)
    body = {name: form.get(name, "").strip() for name in SENDER_FIELDS if name in form}
    changed = {name: value for name, value in body.items() if value != (profile.get(name) or "")}
    if not changed:
        return await _sender_page(
            request,
            session,
            422,
            form=form,
            errors={"": N_("Nothing was changed: the form shows the settings as they are.")},
        )
    try:
        saved = await api.patch("/v1/creditor", changed, form.get("form_key") or str(uuid.uuid4()))
    except ServiceError as exc:
        if exc.status != 422:
            raise
        errors: dict[str, str | Msg] = {
            str(e.get("pointer", "")).lstrip("/"): N_(
                "%(field)s: %(detail)s.",
                field=SENDER_LABELS.get(str(e.get("field")), N_("This")),
                detail=e.get("detail"),
            )
            for e in exc.body.get("errors") or []
        } or {"": exc.detail}
        await staff_of(request).record(
            session.user, "settings.sender", outcome="refused", detail={"why": exc.detail, **changed}
        )
        return await _sender_page(request, session, 422, form=form, errors=errors)
    summary = "; ".join(
        f"{str(SENDER_LABELS[name]).lower()} “{profile.get(name) or '—'}” → “{saved.get(name) or '—'}”"
        for name in changed
    )
    await staff_of(request).record(
        session.user,
        "settings.sender",
        target=f"creditor:{profile['id']}",
        detail={name: [profile.get(name) or "", saved.get(name) or ""] for name in changed} | {"summary": summary},
    )
    return see_other("/creditor/settings/sender?done=saved")
