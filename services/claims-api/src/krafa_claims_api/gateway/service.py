"""Use cases of a creditor's reads through claims-api: each checks that the claims asked about are
the caller's in claims-api's own table (another creditor's answers 404 before anyone else is
asked), then asks their owner for the caller's creditor only — never one named in the request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import quote
from uuid import UUID

from krafa_kit.db import Database
from krafa_kit.errors import NotFound

from krafa_claims_api import domain
from krafa_claims_api import repository as claims_repository
from krafa_claims_api.gateway import repository
from krafa_claims_api.gateway.client import Upstreams
from krafa_claims_api.service import Caller


async def _own(db: Database, caller: Caller, claim_ids: Sequence[UUID]) -> None:
    async with db.connection() as conn:
        owned = await repository.owned_claims(conn, caller.creditor_id, claim_ids)
    if owned != set(claim_ids):
        raise NotFound("no such claim", kind="not-found")


def _segment(value: str) -> str:
    return quote(value, safe="")


# -- the notifier: templates and previews ---------------------------------------------------------


async def templates(upstreams: Upstreams, caller: Caller) -> dict[str, Any]:
    return await upstreams.notifier.call("GET", "/v1/templates", caller.creditor_id)


async def template(upstreams: Upstreams, caller: Caller, key: str, channel: str, language: str) -> dict[str, Any]:
    path = f"/v1/templates/{_segment(key)}/{_segment(channel)}/{_segment(language)}"
    return await upstreams.notifier.call("GET", path, caller.creditor_id)


async def claim_preview(
    db: Database, upstreams: Upstreams, caller: Caller, claim_id: UUID, params: dict[str, Any]
) -> dict[str, Any]:
    await _own(db, caller, [claim_id])
    return await upstreams.notifier.call("GET", f"/v1/claims/{claim_id}/preview", caller.creditor_id, params=params)


async def preview(db: Database, upstreams: Upstreams, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """`body` as the notifier's `POST /v1/preview` takes it (JSON values)."""
    await _own(db, caller, [UUID(c) for c in body["claim_ids"]])
    return await upstreams.notifier.call("POST", "/v1/preview", caller.creditor_id, json=body)


async def sample_preview(db: Database, upstreams: Upstreams, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """A sample debtor's notice as the caller would send it: its name, phone and account from its own
    record, as its claims' events carry them."""
    async with db.connection() as conn:
        creditor = await claims_repository.get_creditor(conn, caller.creditor_id)
    if creditor is None:
        raise NotFound("no such creditor", kind="not-found")
    sender = domain.creditor_snapshot(creditor).model_dump(mode="json")
    return await upstreams.notifier.call(
        "POST", "/v1/preview/sample", caller.creditor_id, json={**body, "creditor": sender}
    )


async def sent_document(db: Database, upstreams: Upstreams, caller: Caller, claim_id: UUID, delivery_id: UUID) -> bytes:
    """A notice the claim's timeline names, as a PDF of what it said when it was sent."""
    async with db.connection() as conn:
        named = await repository.claim_names_delivery(conn, caller.creditor_id, claim_id, delivery_id)
    if not named:
        raise NotFound("no such delivery of this claim", kind="not-found")
    return await upstreams.notifier.document(
        f"/v1/deliveries/{delivery_id}/document", caller.creditor_id, "application/pdf"
    )


# -- the scheduler: policies and schedules --------------------------------------------------------


async def policies(upstreams: Upstreams, caller: Caller) -> dict[str, Any]:
    return await upstreams.scheduler.call("GET", f"/v1/creditors/{caller.creditor_id}/policies", caller.creditor_id)


async def policy_version(upstreams: Upstreams, caller: Caller, key: str, version: int) -> dict[str, Any]:
    path = f"/v1/creditors/{caller.creditor_id}/policies/{_segment(key)}/{version}"
    return await upstreams.scheduler.call("GET", path, caller.creditor_id)


async def current_policy(upstreams: Upstreams, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """The policy a new claim of the caller's (in the scope given) would be planned with."""
    return await upstreams.scheduler.call(
        "GET", f"/v1/policies/{caller.creditor_id}", caller.creditor_id, params=params
    )


async def plan_sample(db: Database, upstreams: Upstreams, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """A sample claim planned for the caller as if registered now: in its own country (whose default
    applies when it has no policy of its own), with the final due date registering would give it (the
    department's rule, else the country's) unless the sample names one."""
    async with db.connection() as conn:
        creditor = await claims_repository.get_creditor(conn, caller.creditor_id)
        offsets = await claims_repository.department_offsets(conn, caller.creditor_id)
    if creditor is None:
        raise NotFound("no such creditor", kind="not-found")
    if body.get("final_due_date") is None:
        final_due = domain.default_final_due_date(
            creditor["country"], date.fromisoformat(body["due_date"]), offsets.get(body.get("department") or "")
        )
        body = {**body, "final_due_date": final_due.isoformat()}
    return await upstreams.scheduler.call(
        "POST",
        f"/v1/creditors/{caller.creditor_id}/plan",
        caller.creditor_id,
        json={**body, "jurisdiction": creditor["country"]},
    )


async def schedule(db: Database, upstreams: Upstreams, caller: Caller, claim_id: UUID) -> dict[str, Any]:
    await _own(db, caller, [claim_id])
    return await upstreams.scheduler.call(
        "GET", f"/v1/claims/{claim_id}/schedule", caller.creditor_id, params={"creditor_id": str(caller.creditor_id)}
    )
