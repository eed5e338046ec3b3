"""The scheduler's operator routes: timelines, dry runs of what a debtor receives next, and the
creditors' policies. Thin: they parse, call the use case or the domain, and shape the answer."""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query
from krafa_kit.deps import DB, CurrentClock
from krafa_kit.http import PROBLEM_BASE, Problem, problems

from krafa_scheduler import domain, policy, repository, service
from krafa_scheduler.api.deps import operator, operator_or_gateway, operator_or_portal
from krafa_scheduler.api.schemas import (
    POLICY_EXAMPLES,
    ClockOut,
    CreditorPlanIn,
    CreditorPlanOut,
    PlanIn,
    PlanOut,
    PoliciesOut,
    PolicyGot,
    PolicyPut,
    ScheduleOut,
    StoredPolicyOut,
)
from krafa_scheduler.policy import Policy

router = APIRouter(prefix="/v1")

PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    401: {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "a valid operator token is required",
    },
    404: {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no timeline for this claim"},
    422: {
        "type": PROBLEM_BASE + "validation",
        "title": "Validation failed",
        "status": 422,
        "detail": "1 invalid field(s)",
        "errors": [{"pointer": "/path/claim_id", "field": "path.claim_id", "detail": "Input should be a UUID"}],
    },
}
DESCRIPTIONS = {
    "_401": "no or a wrong operator token",
    "_404": "no timeline for this claim (or not this creditor's), or no policy of this creditor",
    "_422": "validation failed: a malformed parameter or body, or a policy the jurisdiction pack cannot run",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems of the given statuses, with the scheduler's texts."""
    return problems(
        *codes, examples=PROBLEM_EXAMPLES, **{key: text for key, text in DESCRIPTIONS.items() if int(key[1:]) in codes}
    )


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


@router.get(
    "/timelines/{claim_id}",
    tags=["timelines"],
    summary="A claim's timeline: step, next action, status",
    dependencies=[Depends(operator)],
    responses=answers(401, 404, 422),
    response_model=dict[str, str | None],
)
async def timeline(claim_id: UUID, db: DB) -> dict[str, object]:
    """Operator only. The scheduler's state for one claim: the policy it follows, the step reached, the
    next action and when it is due."""
    async with db.connection() as conn:
        row = await repository.timeline(conn, claim_id)
    if row is None:
        raise Problem(404, "Not Found", "no timeline for this claim")
    return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}


@router.get(
    "/claims/{claim_id}/schedule",
    tags=["timelines"],
    summary="Dry run: what the debtor receives next and when, with fees and late interest",
    responses=answers(401, 404, 422),
    response_model=ScheduleOut,
)
async def schedule(
    claim_id: UUID,
    db: DB,
    clock: CurrentClock,
    caller: Annotated[str, Depends(operator_or_portal)],
    creditor_id: Annotated[
        UUID | None,
        Query(description="answer 404 unless the claim is this creditor's; required but with the operator token"),
    ] = None,
) -> dict[str, Any]:
    """What happens next to a claim if nothing changes: each coming step with its local time, notice,
    channels, fees and late interest. Operator token; or, with `creditor_id`, claims-api's gateway token
    (for a creditor) or the web service's portal token (for a logged-in debtor)."""
    if creditor_id is None and caller != "operator":
        detail = "required unless the operator token is presented"
        raise Problem(
            422,
            "Validation failed",
            f"creditor_id is {detail}",
            type_=PROBLEM_BASE + "validation",
            extra={"errors": [{"pointer": "", "field": "query.creditor_id", "detail": detail}]},
        )
    body = await service.schedule(db, claim_id, clock.now())
    if body is None or (creditor_id is not None and body["creditor_id"] != str(creditor_id)):
        raise Problem(404, "Not Found", "no timeline for this claim")
    return body


@router.put(
    "/policies/{creditor_id}",
    tags=["policies"],
    summary="A new version of the creditor's policy for a scope (department and/or customer class)",
    dependencies=[Depends(operator)],
    status_code=201,
    responses=answers(401, 422),
    response_model=PolicyPut,
)
async def put_policy(
    creditor_id: UUID,
    body: Annotated[Policy, Body(openapi_examples=POLICY_EXAMPLES)],
    db: DB,
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
    async with db.uow() as uow:
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


@router.get(
    "/policies/{creditor_id}",
    tags=["policies"],
    summary="The policy a new claim of this creditor (and scope) would be planned with",
    dependencies=[Depends(operator_or_gateway)],
    responses=answers(401, 404, 422),
    response_model=PolicyGot,
)
async def get_policy(
    creditor_id: UUID,
    db: DB,
    department: Annotated[str | None, Query(max_length=100)] = None,
    customer_class: Annotated[str | None, Query(max_length=40)] = None,
    jurisdiction: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$", description="ISO 3166 country")] = None,
) -> dict[str, Any]:
    """Operator or gateway. The policy a new claim would get: the most specific of the creditor's policies for
    the department and customer class, else the country's default."""
    async with db.connection() as conn:
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


def _stored_policy(row: Any) -> dict[str, Any]:
    document = row["document"]
    return {
        "key": row["key"],
        "version": row["version"],
        "department": row["department"] or None,
        "customer_class": row["customer_class"] or None,
        "created_at": row["created_at"].isoformat(),
        "current": row["current"],
        "policy": json.loads(document) if isinstance(document, str) else document,
    }


@router.get(
    "/creditors/{creditor_id}/policies",
    tags=["policies"],
    summary="Every version of the creditor's policies, per scope",
    dependencies=[Depends(operator_or_gateway)],
    responses=answers(401, 422),
    response_model=PoliciesOut,
)
async def list_policies(creditor_id: UUID, db: DB) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor as `GET /v1/policies`). Every version of every
    policy the creditor stored, grouped by scope (department, customer class), newest first; `current` marks
    the one a new claim of that scope gets. Empty when the creditor follows the country's default."""
    async with db.connection() as conn:
        rows = await repository.policies(conn, creditor_id)
    return {"items": [_stored_policy(r) for r in rows]}


@router.get(
    "/creditors/{creditor_id}/policies/{key}/{version}",
    tags=["policies"],
    summary="One version of one of the creditor's policies",
    dependencies=[Depends(operator_or_gateway)],
    responses=answers(401, 404, 422),
    response_model=StoredPolicyOut,
)
async def get_policy_version(
    creditor_id: UUID,
    key: Annotated[str, Path(min_length=1, max_length=80)],
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    db: DB,
) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor). The policy a claim's schedule names as
    `key@version`, as it was stored."""
    async with db.connection() as conn:
        row = await repository.stored_policy(conn, creditor_id, key, version)
    if row is None:
        raise Problem(404, "Not Found", "no such policy version of this creditor")
    return _stored_policy(row)


@router.post(
    "/plan",
    tags=["timelines"],
    summary="Dry run of a hypothetical claim: each step's local time, notice kind, channels, pay-by, fees, "
    "interest, the total the debtor is told and the gap since the previous contact",
    dependencies=[Depends(operator)],
    responses=answers(401, 422),
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


@router.post(
    "/creditors/{creditor_id}/plan",
    tags=["policies"],
    summary="Dry run of a sample claim of the creditor's with one of its policies, or the one its scope gets",
    dependencies=[Depends(operator_or_gateway)],
    responses=answers(401, 404, 422),
    response_model=CreditorPlanOut,
)
async def creditor_plan(creditor_id: UUID, body: CreditorPlanIn, db: DB) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor as `POST /v1/policies/plan`). Plans a sample claim
    without storing anything: with the creditor's stored policy `key@version` when given, else with the policy
    a new claim of that department and customer class would follow (the creditor's own for the most specific
    scope, else the `jurisdiction`'s default). 404 when the creditor has no such policy version."""
    if body.final_due_date is not None and body.final_due_date < body.due_date:
        raise Problem(422, "Invalid claim", "the final due date cannot be before the due date")
    try:
        return await service.sample_plan(
            db,
            creditor_id,
            policy_ref=body.policy,
            department=body.department,
            customer_class=body.customer_class,
            jurisdiction=body.jurisdiction.upper(),
            amount_minor=body.amount_minor,
            currency=body.currency,
            due=body.due_date,
            final_due=body.final_due_date,
            debtor_kind=body.debtor_kind,
            pays_on=body.pays_on,
            watch_rounds=body.watch_rounds,
        )
    except service.NoSuchPolicy as exc:
        raise Problem(404, "Not Found", "no such policy version of this creditor") from exc


@router.get(
    "/clock",
    tags=["operations"],
    summary="The service's notion of now (simulated or wall)",
    response_model=ClockOut,
)
async def now(clock: CurrentClock) -> dict[str, str]:
    """The time the scheduler plans with: the wall clock in production, the simulated clock in a demo or
    test stack."""
    return {"now": clock.now().isoformat()}
