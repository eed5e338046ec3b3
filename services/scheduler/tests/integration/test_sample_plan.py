"""The dry run of a sample claim with a creditor's own policies (what the creditor web's policies
page draws): the most specific scope's newest version, a named version, the country's default when
the creditor stored none — and never another creditor's policy."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from krafa_scheduler import policy, repository, service

from .conftest import Engine

pytestmark = pytest.mark.integration


def club(template: str, days: int) -> dict[str, Any]:
    return {
        "key": "club",
        "jurisdiction": "IS",
        "steps": [
            {"name": "first", "when": {"after": "due_date", "days": days}, "template": template},
            {"name": "second", "when": {"after": "due_date", "days": days + 20}, "template": template},
        ],
    }


async def plan(engine: Engine, creditor_id: uuid.UUID, **scope: Any) -> dict[str, Any]:
    return await service.sample_plan(
        engine.db,
        creditor_id,
        policy_ref=scope.get("policy_ref"),
        department=scope.get("department"),
        customer_class=scope.get("customer_class", "regular"),
        jurisdiction="IS",
        amount_minor=25_000,
        currency="ISK",
        due=date(2026, 3, 2),
        final_due=date(2026, 3, 12),
        debtor_kind="person",
        pays_on=None,
        watch_rounds=0,
    )


async def test_a_sample_claim_is_planned_with_the_creditors_policy_for_its_scope(engine: Engine) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    async with engine.db.uow() as uow:
        await repository.insert_policy(uow.conn, mine, "", "", club("general", 1))
        await repository.insert_policy(uow.conn, mine, "", "", club("general-v2", 2))
        await repository.insert_policy(uow.conn, mine, "golf", "", {**club("golf", 5), "key": "golf"})
        await repository.insert_policy(uow.conn, theirs, "", "", {**club("theirs", 9), "key": "theirs"})
        await uow.commit()

    general = await plan(engine, mine)
    assert (general["source"], general["policy"], general["department"]) == ("creditor", "club@2", None)
    # The policy's own rule: the first step two days after the due date (a Wednesday, business hours).
    assert [s["name"] for s in general["steps"]] == ["first", "second"]
    assert general["steps"][0]["local_time"].startswith("2026-03-04")
    assert {s["template"] for s in general["steps"]} == {"general-v2"}

    golf = await plan(engine, mine, department="golf")
    assert (golf["policy"], golf["department"]) == ("golf@1", "golf")
    assert golf["steps"][0]["local_time"].startswith("2026-03-07")

    named = await plan(engine, mine, policy_ref="club@1")
    assert named["policy"] == "club@1" and named["steps"][0]["local_time"].startswith("2026-03-03")

    # Another creditor's policy is no version of this one's, and one with none gets the country's default.
    with pytest.raises(service.NoSuchPolicy):
        await plan(engine, mine, policy_ref="theirs@1")
    nobody = await plan(engine, uuid.uuid4())
    assert nobody["source"] == "shipped" and nobody["policy"] == policy.default_policy("IS").ref
    assert nobody["steps"], "the Icelandic default plans reminders"
