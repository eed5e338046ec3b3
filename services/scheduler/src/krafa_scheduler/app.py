"""scheduler: the escalation engine. Timers are rows swept with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query
from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.http import PROBLEM_BASE, Problem
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_scheduler import kpi, policy, repository, service
from krafa_scheduler.handlers import make_routes
from krafa_scheduler.policy import Policy
from krafa_scheduler.settings import Settings

SCHEMA = "scheduler"
MIGRATIONS = Path(__file__).parent / "migrations"


def check_policy(candidate: Policy) -> list[dict[str, str]]:
    """What the models cannot see alone: the jurisdiction pack and its fee rules must exist."""
    errors: list[dict[str, str]] = []
    packs = policy.jurisdictions()
    if candidate.jurisdiction.upper() not in packs:
        errors.append(
            {
                "pointer": "/jurisdiction",
                "detail": f"no jurisdiction pack {candidate.jurisdiction!r}; have {sorted(packs)}",
            }
        )
        return errors
    pack = packs[candidate.jurisdiction.upper()]
    for i, step in enumerate(candidate.steps):
        kinds = [f.kind for f in step.fees]
        if len(set(kinds)) != len(kinds):
            errors.append({"pointer": f"/steps/{i}/fees", "detail": "one fee per kind and step"})
        for j, fee in enumerate(step.fees):
            if fee.rule is not None and fee.rule not in pack.fees:
                errors.append(
                    {"pointer": f"/steps/{i}/fees/{j}/rule", "detail": f"{pack.code} has no fee rule {fee.rule!r}"}
                )
    return errors


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    clock = clock or clock_from_settings(settings)
    runtime = Runtime(ServiceSpec("scheduler", SCHEMA, MIGRATIONS, make_routes(clock)), settings, clock)
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    runtime.add_background(
        "sweep",
        lambda: service.sweep_forever(runtime.db, runtime.clock, settings.sweep_batch_size, settings.sweep_idle_wall_s),
    )
    app = create_service_app(runtime, title="Krafa scheduler", description="Claim timelines and their steps.")

    async def operator(authorization: Annotated[str | None, Header()] = None) -> None:
        # Policies change what debtors receive: behind the operator token when one is set.
        token = settings.operator_token.get_secret_value() if settings.operator_token else None
        if token is not None and authorization != f"Bearer {token}":
            raise Problem(401, "Unauthorized", "operator token required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/v1/timelines/{claim_id}", tags=["timelines"], summary="A claim's timeline: step, next action, status")
    async def timeline(claim_id: UUID) -> dict[str, object]:
        async with runtime.db.connection() as conn:
            row = await conn.fetchrow("SELECT * FROM timelines WHERE claim_id = $1", claim_id)
        if row is None:
            raise Problem(404, "Not Found", "no timeline for this claim")
        return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}

    @app.get(
        "/v1/claims/{claim_id}/schedule",
        tags=["timelines"],
        summary="Dry run: what the debtor receives next and when, with fees and late interest",
    )
    async def schedule(
        claim_id: UUID,
        creditor_id: Annotated[UUID | None, Query(description="answer 404 unless the claim is this creditor's")] = None,
    ) -> dict[str, Any]:
        body = await service.schedule(runtime.db, claim_id, runtime.clock.now())
        if body is None or (creditor_id is not None and body["creditor_id"] != str(creditor_id)):
            raise Problem(404, "Not Found", "no timeline for this claim")
        return body

    @app.put(
        "/v1/policies/{creditor_id}",
        tags=["policies"],
        summary="A new version of the creditor's policy for a scope (department and/or customer class)",
        dependencies=[Depends(operator)],
        status_code=201,
    )
    async def put_policy(
        creditor_id: UUID,
        body: Policy,
        department: Annotated[str | None, Query(max_length=100)] = None,
        customer_class: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        errors = check_policy(body)
        if errors:
            raise Problem(
                422,
                "Invalid policy",
                f"{len(errors)} problem(s) in the policy",
                type_=PROBLEM_BASE + "invalid-policy",
                extra={"errors": errors},
            )
        document = json.loads(body.model_dump_json())
        async with runtime.db.uow() as uow:
            version = await repository.insert_policy(
                uow.conn, creditor_id, department or "", customer_class or "", document
            )
            await uow.commit()
        return {
            "creditor_id": str(creditor_id),
            "department": department,
            "customer_class": customer_class,
            "policy": {**document, "version": version},
        }

    @app.get(
        "/v1/policies/{creditor_id}",
        tags=["policies"],
        summary="The policy a new claim of this creditor (and scope) would be planned with",
        dependencies=[Depends(operator)],
    )
    async def get_policy(
        creditor_id: UUID,
        department: Annotated[str | None, Query(max_length=100)] = None,
        customer_class: Annotated[str | None, Query(max_length=40)] = None,
        jurisdiction: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    ) -> dict[str, Any]:
        async with runtime.db.connection() as conn:
            row = await repository.scoped_policy(conn, creditor_id, department, customer_class)
        if row is not None:
            return {
                "source": "creditor",
                "department": row["department"] or None,
                "customer_class": row["customer_class"] or None,
                "policy": row["document"],
            }
        if jurisdiction is None:
            raise Problem(404, "Not Found", "no policy of this creditor; pass ?jurisdiction= for the default")
        return {"source": "shipped", "policy": json.loads(policy.default_policy(jurisdiction).model_dump_json())}

    @app.get("/v1/clock", tags=["operations"], summary="The service's notion of now (simulated or wall)")
    async def now() -> dict[str, str]:
        return {"now": runtime.clock.now().isoformat()}

    return app
