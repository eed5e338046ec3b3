"""scheduler: the escalation engine. Timers are rows swept with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Body, Depends, FastAPI, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.http import PROBLEM_BASE, PROBLEM_SCHEMA, Problem, install_text_errors, operator_allowed
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec
from pydantic import BaseModel, ConfigDict, Field

from krafa_scheduler import domain, kpi, policy, repository, service
from krafa_scheduler.handlers import make_routes
from krafa_scheduler.policy import Policy
from krafa_scheduler.settings import Settings

SCHEMA = "scheduler"
MIGRATIONS = Path(__file__).parent / "migrations"

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <operator token>")


PROBLEM_EXAMPLES: dict[int, tuple[str, dict[str, object]]] = {
    401: (
        "no or a wrong operator token",
        {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "operator token required"},
    ),
    404: (
        "no timeline for this claim (or not this creditor's), or no policy of this creditor",
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no timeline for this claim"},
    ),
    422: (
        "validation failed: a malformed parameter or body, or a policy the jurisdiction pack cannot run",
        {
            "type": PROBLEM_BASE + "validation",
            "title": "Validation failed",
            "status": 422,
            "detail": "1 invalid field(s)",
            "errors": [{"pointer": "/path/claim_id", "field": "path.claim_id", "detail": "Input should be a UUID"}],
        },
    ),
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for RFC 9457 problems of the given statuses."""
    return {
        code: {
            "description": PROBLEM_EXAMPLES[code][0],
            "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": PROBLEM_EXAMPLES[code][1]}},
        }
        for code in codes
    }


# ISO 8601 as the use cases write it (`+00:00`, not re-serialised as `Z`).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Open(BaseModel):
    # Bodies the use cases build: documented here, and whatever they add later still passes.
    model_config = ConfigDict(extra="allow")


class FeeOut(_Open):
    kind: str
    amount_minor: int = Field(description="integer minor units of the claim's currency")


class PlannedStepOut(_Open):
    step: int = Field(description="1-based position in the policy")
    name: str
    kind: str = Field(description="reminder, call, creditor_notice, handover or claim_watch")
    at: Timestamp = Field(description="when it falls due (UTC)")
    local_time: Timestamp = Field(description="the same moment in the debtor's time zone")
    channels: list[str]
    template: str
    tone: str
    fees: list[FeeOut]
    interest_minor: int = Field(description="late interest accrued by then, integer minor units")
    pay_by: date | None
    currency: str


class ScheduleOut(_Open):
    claim_id: UUID
    creditor_id: UUID
    status: str = Field(description="active, paused, plan (instalments), completed or stopped")
    pause_reason: str | None
    policy: str = Field(description="the policy planned with, `key@version`")
    jurisdiction: str
    as_of: Timestamp
    interest_minor_today: int
    steps: list[PlannedStepOut] = Field(description="empty unless the timeline is active")


class PlanIn(BaseModel):
    """A claim that does not exist yet, to preview a policy on."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(pattern="^[A-Za-z]{2}$", description="the jurisdiction; any but IS, NO, EE: the EU pack")
    amount_minor: int = Field(gt=0, le=10**15, description="the principal in integer minor units")
    currency: str = Field(pattern="^[A-Z]{3}$")
    due_date: date
    final_due_date: date | None = Field(default=None, description="eindagi; default: the due date")
    policy: str | None = Field(
        default=None, max_length=80, description="a shipped policy, `key` or `key@version`; default: the pack's"
    )
    customer_class: str = Field(default="regular", max_length=40)
    debtor_kind: Literal["person", "company"] = "person"
    pays_on: date | None = Field(default=None, description="the claim is paid in full that day")
    watch_rounds: int = Field(default=2, ge=0, le=12)


class PlanOut(_Open):
    jurisdiction: str
    policy: str
    time_zone: str
    steps: list[PlannedStepOut]


class PolicyPut(BaseModel):
    creditor_id: UUID
    department: str | None
    customer_class: str | None
    policy: dict[str, Any] = Field(description="the policy as stored, with its new `version`")


class PolicyGot(BaseModel):
    source: Literal["creditor", "shipped"] = Field(description="the creditor's own, or the jurisdiction's default")
    department: str | None = None
    customer_class: str | None = None
    policy: dict[str, Any]


class ClockOut(BaseModel):
    now: Timestamp


POLICY_EXAMPLES: dict[str, Any] = {
    "gentle": {
        "summary": "a friendly SMS and email 3 days after the due date, the collection warning 10 days after eindagi",
        "value": {
            "key": "gentle",
            "jurisdiction": "IS",
            "steps": [
                {
                    "name": "friendly",
                    "notice": "aminning",
                    "when": {"after": "due_date", "days": 3},
                    "channels": ["sms", "email"],
                },
                {
                    "name": "warning",
                    "notice": "innheimtuvidvorun",
                    "when": {"after": "final_due_date", "days": 10},
                    "channels": ["email"],
                    "fallbacks": {"email": ["letter"]},
                    "tone": "firm",
                    "pay_within_days": 10,
                    "fees": [{"kind": "collection_fee", "rule": "collection_warning"}],
                },
            ],
        },
    }
}


def check_policy(candidate: Policy) -> list[dict[str, str]]:
    """What the models cannot see alone: the jurisdiction pack must exist, and the policy must
    keep its law (policy.problems)."""
    packs = policy.jurisdictions()
    if candidate.jurisdiction.upper() not in packs:
        return [
            {
                "pointer": "/jurisdiction",
                "detail": f"no jurisdiction pack {candidate.jurisdiction!r}; have {sorted(packs)}",
            }
        ]
    return policy.problems(candidate, packs[candidate.jurisdiction.upper()])


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    clock = clock or clock_from_settings(settings)
    runtime = Runtime(ServiceSpec("scheduler", SCHEMA, MIGRATIONS, make_routes(clock)), settings, clock)
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    runtime.add_background(
        "sweep",
        lambda: service.sweep_forever(runtime.db, runtime.clock, settings.sweep_batch_size, settings.sweep_idle_wall_s),
    )
    app = create_service_app(runtime, title="Krafa scheduler", description="Claim timelines and their steps.")
    install_text_errors(app)  # NUL in text → 422, not 500

    async def operator(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        # Policies change what debtors receive, timelines and dry runs show debtor data: behind the
        # operator token (no token: loopback listeners only).
        if not operator_allowed(settings, settings.operator_token, credentials.credentials if credentials else None):
            raise Problem(401, "Unauthorized", "operator token required", headers={"WWW-Authenticate": "Bearer"})

    @app.get(
        "/v1/timelines/{claim_id}",
        tags=["timelines"],
        summary="A claim's timeline: step, next action, status",
        dependencies=[Depends(operator)],
        responses=problems(401, 404, 422),
        response_model=dict[str, str | None],
    )
    async def timeline(claim_id: UUID) -> dict[str, object]:
        """Operator only. The scheduler's state for one claim: the policy it follows, the step reached, the
        next action and when it is due."""
        async with runtime.db.connection() as conn:
            row = await conn.fetchrow("SELECT * FROM timelines WHERE claim_id = $1", claim_id)
        if row is None:
            raise Problem(404, "Not Found", "no timeline for this claim")
        return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}

    async def operator_or_portal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        # The debtor portal shows a debtor what happens next (the web asks with its own token).
        presented = credentials.credentials if credentials else None
        if not operator_allowed(settings, settings.operator_token, presented) and not (
            settings.portal_token is not None and operator_allowed(settings, settings.portal_token, presented)
        ):
            raise Problem(401, "Unauthorized", "operator token required", headers={"WWW-Authenticate": "Bearer"})

    @app.get(
        "/v1/claims/{claim_id}/schedule",
        tags=["timelines"],
        summary="Dry run: what the debtor receives next and when, with fees and late interest",
        dependencies=[Depends(operator_or_portal)],
        responses=problems(401, 404, 422),
        response_model=ScheduleOut,
    )
    async def schedule(
        claim_id: UUID,
        creditor_id: Annotated[UUID | None, Query(description="answer 404 unless the claim is this creditor's")] = None,
    ) -> dict[str, Any]:
        """What happens next to a claim if nothing changes: each coming step with its local time, notice,
        channels, fees and late interest. Operator token, or the web service for a logged-in debtor with
        `creditor_id`."""
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
        responses=problems(401, 422),
        response_model=PolicyPut,
    )
    async def put_policy(
        creditor_id: UUID,
        body: Annotated[Policy, Body(openapi_examples=POLICY_EXAMPLES)],
        department: Annotated[str | None, Query(max_length=100)] = None,
        customer_class: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        """Operator only. Stores a new version of the creditor's reminder policy for a scope; claims
        registered from now on follow it, running claims keep the version they started with. A policy the law
        does not allow (too short a gap, a fee over the cap) answers 422 with the reasons."""
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
        responses=problems(401, 404, 422),
        response_model=PolicyGot,
    )
    async def get_policy(
        creditor_id: UUID,
        department: Annotated[str | None, Query(max_length=100)] = None,
        customer_class: Annotated[str | None, Query(max_length=40)] = None,
        jurisdiction: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$", description="ISO 3166 country")] = None,
    ) -> dict[str, Any]:
        """Operator only. The policy a new claim would get: the most specific of the creditor's policies for
        the department and customer class, else the country's default."""
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

    @app.post(
        "/v1/plan",
        tags=["timelines"],
        summary="Dry run of a hypothetical claim: each step's local time, notice kind, channels, pay-by, fees, "
        "interest, the total the debtor is told and the gap since the previous contact",
        dependencies=[Depends(operator)],
        responses=problems(401, 422),
        response_model=PlanOut,
    )
    async def plan(body: PlanIn) -> dict[str, Any]:
        """Operator only. Plans a hypothetical claim with a policy, without storing anything: the dry run
        behind `krafa plan`, to check a policy before it is used."""
        pack = policy.jurisdiction(body.country)
        if body.final_due_date is not None and body.final_due_date < body.due_date:
            raise Problem(422, "Invalid claim", "the final due date cannot be before the due date")
        shipped = policy.shipped_policies() | policy.shipped_policy_versions()
        pol = policy.default_policy(pack.code) if body.policy is None else shipped.get(body.policy)
        if pol is None or policy.jurisdiction(pol.jurisdiction).code != pack.code:
            raise Problem(422, "Unknown policy", f"no shipped {pack.code} policy {body.policy!r}")
        ctx = domain.hypothetical(
            pack,
            pol,
            amount_minor=body.amount_minor,
            currency=body.currency,
            due=body.due_date,
            final_due=body.final_due_date,
            customer_class=body.customer_class,
            debtor_kind=body.debtor_kind,
        )
        steps = domain.preview(ctx, pays_on=body.pays_on, watch_rounds=body.watch_rounds)
        return {
            "jurisdiction": pack.code,
            "policy": pol.ref,
            "time_zone": ctx.claim.time_zone,
            "steps": [p.as_json(body.currency) for p in steps],
        }

    @app.get(
        "/v1/clock",
        tags=["operations"],
        summary="The service's notion of now (simulated or wall)",
        response_model=ClockOut,
    )
    async def now() -> dict[str, str]:
        """The time the scheduler plans with: the wall clock in production, the simulated clock in a demo or
        test stack."""
        return {"now": runtime.clock.now().isoformat()}

    return app
