"""REST routes for what a creditor configures: departments, webhook endpoints (with the delivery
log), and API keys (scoped, revocable), plus the admin's key endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, get_args
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from krafa_kit.db import UnitOfWork
from krafa_kit.http import PROBLEM_BASE, Problem

from krafa_claims_api import apikey_repository as apikeys
from krafa_claims_api import department_repository as departments
from krafa_claims_api import sandbox, webhook_events, webhook_repository, webhooks
from krafa_claims_api.api.deps import DB, ClaimsWriter, CurrentClock, IdempotencyKey, Reader, get_caller, require_admin
from krafa_claims_api.api.errors import problems, webhook_endpoint_disabled
from krafa_claims_api.api.idempotency import idempotent
from krafa_claims_api.api.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyList,
    ApiKeyOut,
    DepartmentIn,
    DepartmentList,
    DepartmentOut,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookRecovered,
    WebhookRecoverIn,
    WebhookType,
    WebhookTypeList,
    WebhookTypeOut,
)
from krafa_claims_api.service import Caller

router = APIRouter(prefix="/v1")
Authenticated = Annotated[Caller, Depends(get_caller)]


def department_out(row: asyncpg.Record) -> DepartmentOut:
    return DepartmentOut(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        final_due_offset_days=row["final_due_offset_days"],
        policy_key=row["policy_key"],
        created_at=row["created_at"],
    )


@router.post(
    "/departments",
    status_code=status.HTTP_201_CREATED,
    response_model=DepartmentOut,
    tags=["departments"],
    summary="Add a department (a division) with its own final-due-date rule and policy",
    responses=problems(401, 403, 409, 422),
    description="Claims whose `department` is this key get final due date = due date + "
    "`final_due_offset_days` unless they give one; without a department the country's rule applies "
    "(Iceland: + 10 days).",
)
async def create_department(
    request: Request,
    body: DepartmentIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def action(uow: UnitOfWork) -> DepartmentOut:
        row = await departments.create(
            uow.conn,
            caller.creditor_id,
            key=body.key,
            name=body.name,
            final_due_offset_days=body.final_due_offset_days,
            policy_key=body.policy_key,
        )
        return department_out(row)

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)


@router.get(
    "/departments",
    response_model=DepartmentList,
    tags=["departments"],
    summary="The creditor's departments",
    responses=problems(401, 403),
)
async def list_departments(caller: Reader, db: DB) -> DepartmentList:
    """The departments of the API key's creditor, each with its own sender details and policy."""
    async with db.connection() as conn:
        rows = await departments.list_all(conn, caller.creditor_id)
    return DepartmentList(items=[department_out(r) for r in rows])


@router.get(
    "/departments/{department_id}",
    response_model=DepartmentOut,
    tags=["departments"],
    summary="One department",
    responses=problems(401, 403, 404, 422),
)
async def get_department(department_id: UUID, caller: Reader, db: DB) -> DepartmentOut:
    """One department of the API key's creditor; another creditor's answers 404."""
    async with db.connection() as conn:
        row = await departments.get(conn, caller.creditor_id, department_id)
    if row is None:
        raise Problem(404, "Not Found", "no such department")
    return department_out(row)


def webhook_out(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "description": row["description"],
        "created_at": row["created_at"],
        "disabled_at": row["disabled_at"],
    }


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    tags=["webhooks"],
    summary="Register a webhook endpoint; the signing secret is shown once",
    responses=problems(401, 403, 409, 422),
    description="Krafa POSTs JSON `{type, timestamp, data}` with the Standard Webhooks headers `webhook-id`, "
    '`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed '
    "with the base64 part of the `whsec_` secret. Non-2xx answers are retried after 5 s, 5 min, 30 min, "
    "2 h, 5 h, 10 h and 10 h, then given up (`POST /v1/webhooks/{webhook_id}/recover` sends those again). "
    "The URL must be https without credentials, and its host must be and resolve "
    "to public addresses only (no loopback, private, link-local, multicast, reserved or unspecified address); "
    "otherwise 422 `unsafe-webhook-url`. The address is checked again before every attempt, and redirects "
    "are not followed.",
)
async def create_webhook(
    request: Request,
    body: WebhookIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    settings = request.app.state.settings
    policy = webhooks.UrlPolicy(allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private)
    try:
        await webhooks.resolve(body.url, policy)  # the SSRF guard; checked again at every delivery
    except webhooks.UnsafeUrl as exc:
        raise Problem(
            422,
            "Validation failed",
            str(exc),
            type_=PROBLEM_BASE + "unsafe-webhook-url",
            extra={"errors": [{"pointer": "/url", "field": "body.url", "detail": str(exc)}]},
        ) from exc

    async def action(uow: UnitOfWork) -> WebhookCreated:
        row = await webhook_repository.create_endpoint(
            uow.conn,
            caller.creditor_id,
            body.url,
            sorted(set(body.event_types)),
            body.description,
            secret=webhooks.new_secret(),
        )
        return WebhookCreated(**webhook_out(row), secret=row["secret"])

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)


@router.get(
    "/webhooks",
    response_model=WebhookList,
    tags=["webhooks"],
    summary="The creditor's webhook endpoints (without their secrets)",
    responses=problems(401, 403),
)
async def list_webhooks(caller: Reader, db: DB) -> WebhookList:
    """The webhook endpoints of the API key's creditor with the events each subscribes to. Secrets are shown
    only once, when an endpoint is created."""
    async with db.connection() as conn:
        rows = await webhook_repository.list_endpoints(conn, caller.creditor_id)
    return WebhookList(items=[WebhookOut(**webhook_out(r)) for r in rows])


@router.get(
    "/webhook-event-types",
    response_model=WebhookTypeList,
    tags=["webhooks"],
    summary="The events a webhook endpoint may subscribe to",
    responses=problems(401, 403),
)
async def list_webhook_types(caller: Reader) -> WebhookTypeList:
    """Every value `event_types` takes, with what it means: what a creditor's settings screen offers."""
    return WebhookTypeList(
        items=[
            WebhookTypeOut(
                type=t, description=" ".join((webhook_events.DATA[t].__doc__ or "").replace("`", "").split())
            )
            for t in get_args(WebhookType)
        ]
    )


@router.delete(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    tags=["webhooks"],
    summary="Disable a webhook endpoint (idempotent); its delivery log stays",
    responses=problems(401, 403, 404, 422),
)
async def disable_webhook(webhook_id: UUID, caller: ClaimsWriter, db: DB) -> WebhookOut:
    """Stops deliveries to the endpoint at once. Disabling one twice is not an error; its delivery log stays
    readable. Needs `claims:write`."""
    async with db.uow() as uow:
        row = await webhook_repository.disable_endpoint(uow.conn, caller.creditor_id, webhook_id)
        await uow.commit()
    if row is None:
        raise Problem(404, "Not Found", "no such webhook endpoint")
    return WebhookOut(**webhook_out(row))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=WebhookDeliveryList,
    tags=["webhooks"],
    summary="The endpoint's delivery log, newest first, with every attempt",
    responses=problems(401, 403, 404, 422),
)
async def list_deliveries(
    webhook_id: UUID, caller: Reader, db: DB, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> WebhookDeliveryList:
    """The webhooks sent to the endpoint, newest first, each with every attempt (status code, error, time):
    what to look at when your receiver missed one."""
    async with db.connection() as conn:
        rows = await webhook_repository.deliveries(conn, caller.creditor_id, webhook_id, limit)
    if rows is None:
        raise Problem(404, "Not Found", "no such webhook endpoint")
    return WebhookDeliveryList(items=[WebhookDeliveryOut(**dict(r)) for r in rows])


@router.post(
    "/webhooks/{webhook_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookRecovered,
    tags=["webhooks"],
    summary="Send again the deliveries given up since a time",
    responses=problems(401, 403, 404, 409, 422),
)
async def recover_webhook(
    request: Request,
    webhook_id: UUID,
    body: WebhookRecoverIn,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """After your endpoint was down longer than the retry schedule (about 27.5 hours), the deliveries
    Krafa gave up on (`status: failed` in the delivery log) are queued again: those created at or after
    `since`, each with its `webhook-id` (drop one you did receive after all) and a fresh retry schedule.
    Deliveries still being retried are not touched. 409 when the endpoint is disabled. Needs `claims:write`."""

    async def action(uow: UnitOfWork) -> WebhookRecovered:
        state = await webhook_repository.endpoint_state(uow.conn, caller.creditor_id, webhook_id)
        if state is None:
            raise Problem(404, "Not Found", "no such webhook endpoint")
        if state == "disabled":
            raise webhook_endpoint_disabled()
        return WebhookRecovered(requeued=await webhook_repository.requeue_failed(uow.conn, webhook_id, body.since))

    return await idempotent(request, db, clock, caller, idempotency_key, 202, action)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookDeliveryOut,
    tags=["webhooks"],
    summary="Send one delivery again now (delivered, given up or cancelled), with its webhook-id",
    responses=problems(401, 403, 404, 409, 422),
)
async def resend_delivery(
    request: Request,
    webhook_id: UUID,
    delivery_id: UUID,
    caller: ClaimsWriter,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Queues one delivery of the endpoint's log again, due now, with a fresh retry schedule; its attempts so
    far stay in the log. It keeps its `webhook-id`, so a receiver that did get it can drop the copy. 409 when
    the endpoint is disabled, or when the delivery is still pending (it is being retried already). Needs
    `claims:write`."""

    async def action(uow: UnitOfWork) -> WebhookDeliveryOut:
        state = await webhook_repository.endpoint_state(uow.conn, caller.creditor_id, webhook_id)
        found = await webhook_repository.delivery_status(uow.conn, caller.creditor_id, webhook_id, delivery_id)
        if state is None or found is None:
            raise Problem(404, "Not Found", "no such delivery of this webhook endpoint")
        if state == "disabled":
            raise webhook_endpoint_disabled()
        if found == "pending":
            raise Problem(
                409,
                "Conflict",
                "the delivery is still being retried; it goes out again at its `next_attempt_at`",
                type_=PROBLEM_BASE + "webhook-delivery-pending",
            )
        return WebhookDeliveryOut(**dict(await webhook_repository.resend(uow.conn, delivery_id)))

    return await idempotent(request, db, clock, caller, idempotency_key, 202, action)


def key_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "prefix": row["prefix"],
        "name": row["name"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    tags=["api keys"],
    summary="Create another API key for this creditor (or its sandbox), with some of the caller's scopes",
    responses=problems(
        401, 403, 422, _403="the key lacks a scope it would grant, or is itself a sandbox key asking for a sandbox key"
    ),
    description="A key can only hand out scopes it has itself. The key is shown once; only its hash is stored. "
    "With `\"sandbox\": true` the key is the creditor's sandbox's: a creditor of its own (made on first use, a copy "
    "of this one's settings, departments included) whose claims run through every step — reminders, fees, "
    "handover, webhooks — on a clock of its own (`POST /v1/sandbox/clock`), and never reach a debtor, a "
    "provider or a bank. Live keys never see sandbox data, nor sandbox keys live data.",
)
async def create_api_key(
    request: Request,
    body: ApiKeyIn,
    caller: Authenticated,
    db: DB,
    clock: CurrentClock,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    missing = sorted(set(body.scopes) - caller.scopes)
    if missing:
        raise Problem(403, "Forbidden", f"the API key cannot grant scopes it lacks: {', '.join(missing)}")

    async def action(uow: UnitOfWork) -> ApiKeyCreated:
        if body.sandbox:
            sandbox_id, made, token = await sandbox.create_sandbox_key(
                uow, caller.creditor_id, list(body.scopes), body.name
            )
            return ApiKeyCreated(**key_out(made), api_key=token, creditor_id=sandbox_id, sandbox=True)
        row, key = await apikeys.create(uow.conn, caller.creditor_id, list(body.scopes), body.name)
        return ApiKeyCreated(
            **key_out(row), api_key=key.token, creditor_id=caller.creditor_id, sandbox=caller.sandbox_of is not None
        )

    return await idempotent(request, db, clock, caller, idempotency_key, 201, action)


@router.get(
    "/api-keys",
    response_model=ApiKeyList,
    tags=["api keys"],
    summary="The creditor's API keys (prefixes and scopes, never the secrets)",
    responses=problems(401, 403),
)
async def list_api_keys(caller: Reader, db: DB) -> ApiKeyList:
    """The API keys of the creditor with their prefixes, scopes and revocation times. The secrets themselves
    are never shown again."""
    async with db.connection() as conn:
        rows = await apikeys.list_keys(conn, caller.creditor_id)
    return ApiKeyList(items=[ApiKeyOut(**key_out(r)) for r in rows])


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKeyOut,
    tags=["api keys"],
    summary="Revoke an API key (idempotent); it stops working at once",
    responses=problems(401, 403, 404, 422),
)
async def revoke_api_key(key_id: UUID, caller: Authenticated, db: DB) -> ApiKeyOut:
    """Revokes one of the creditor's keys; requests with it answer 401 from then on. Revoking twice is not an
    error. Any key of the creditor may revoke another (or itself)."""
    async with db.uow() as uow:
        scopes = await apikeys.scopes_of(uow.conn, caller.creditor_id, key_id)
        if scopes is None:
            raise Problem(404, "Not Found", "no such API key")
        # A narrower key cannot revoke a wider one (a read-only key cannot lock out the ERP).
        if not set(scopes) <= caller.scopes:
            raise Problem(403, "Forbidden", "the API key cannot revoke a key with scopes it lacks")
        row = await apikeys.revoke(uow.conn, caller.creditor_id, key_id)
        await uow.commit()
    assert row is not None
    return ApiKeyOut(**key_out(row))


@router.post(
    "/admin/creditors/{creditor_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    tags=["admin"],
    summary="Create an API key for a creditor (admin token)",
    responses=problems(401, 403, 404, 422, _403="a sandbox key asked for a creditor that is itself a sandbox"),
    dependencies=[Depends(require_admin)],
)
async def admin_create_api_key(creditor_id: UUID, body: ApiKeyIn, db: DB) -> ApiKeyCreated:
    """Operator only (the admin token). Creates another API key for a creditor with the scopes asked for; the
    key is shown once. With `"sandbox": true`, a key of the creditor's sandbox (made on first use)."""
    async with db.uow() as uow:
        if not await apikeys.creditor_exists(uow.conn, creditor_id):
            raise Problem(404, "Not Found", "no such creditor")
        if body.sandbox:
            sandbox_id, made, token = await sandbox.create_sandbox_key(uow, creditor_id, list(body.scopes), body.name)
            await uow.commit()
            return ApiKeyCreated(**key_out(made), api_key=token, creditor_id=sandbox_id, sandbox=True)
        row, key = await apikeys.create(uow.conn, creditor_id, list(body.scopes), body.name)
        await uow.commit()
    return ApiKeyCreated(**key_out(row), api_key=key.token, creditor_id=creditor_id)


@router.delete(
    "/admin/creditors/{creditor_id}/api-keys/{key_id}",
    response_model=ApiKeyOut,
    tags=["admin"],
    summary="Revoke a creditor's API key (admin token)",
    responses=problems(401, 404, 422),
    dependencies=[Depends(require_admin)],
)
async def admin_revoke_api_key(creditor_id: UUID, key_id: UUID, db: DB) -> ApiKeyOut:
    """Operator only (the admin token). Revokes a creditor's API key at once, for example when a creditor has
    lost it."""
    async with db.uow() as uow:
        row = await apikeys.revoke(uow.conn, creditor_id, key_id)
        await uow.commit()
    if row is None:
        raise Problem(404, "Not Found", "no such API key")
    return ApiKeyOut(**key_out(row))
