"""Two creditors read what the notifier and the scheduler own through claims-api with their own API
keys (docs/adr/0013): templates, previews of their notices, policies and the schedule dry run,
claims-api asking the owners with its gateway token, which no operator-only route takes.
claims-api, the notifier and the scheduler are the real apps on real sockets over one real
PostgreSQL; claims-api's events reach the other two through their own handlers and inboxes, the
way their consumers apply them (deterministic, seconds). Each creditor sees its own and never the
other's; the owners' operator routes stay closed to a creditor's key."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

# Loaded on the main thread: the fuzzer runs in a worker thread, and CPython 3.11 may fail when
# pytest rewrites a module's AST on one thread while another parses.
import schemathesis.checks
import schemathesis.specs.openapi.checks  # noqa: F401
from krafa_events import DecodedEvent, decode
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import fuzz_openapi, serving
from pydantic import SecretStr

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

TOKEN = SecretStr("the operators' token")
GATEWAY = SecretStr("claims-api's gateway token")  # the owners take it on the creditor reads only
SECRET = SecretStr("a test value")  # the return-path secret the notifier requires
TEMPLATE = "Halló {{ v.debtor_name }}, {{ v.first.total }} til {{ v.creditor_name }}."
POLICY = {
    "key": "gentle",
    "jurisdiction": "IS",
    "steps": [
        {"name": "friendly", "notice": "aminning", "when": {"after": "due_date", "days": 3}, "channels": ["sms"]},
        {
            "name": "warning",
            "notice": "innheimtuvidvorun",
            "when": {"after": "final_due_date", "days": 10},
            "channels": ["email"],
            "tone": "firm",
            "pay_within_days": 10,
            "fees": [{"kind": "collection_fee", "rule": "collection_warning"}],
        },
    ],
}


@dataclass
class Stack:
    claims_db: Database
    claims_handlers: dict[str, Any]
    inboxes: dict[str, tuple[Database, dict[str, Any]]]  # service → its db and handlers by event type
    notifier: httpx.AsyncClient  # with the operator token
    scheduler: httpx.AsyncClient  # with the operator token
    claims_base: str
    read_upto: int = 0

    async def carry(self) -> None:
        """Every event claims-api wrote since the last call, applied by the scheduler's and the
        notifier's handlers with their inbox rows, as their consumers apply them."""
        async with self.claims_db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, headers, key, value FROM outbox WHERE id > $1 ORDER BY id", self.read_upto
            )
        if rows:
            self.read_upto = rows[-1]["id"]
        events: list[DecodedEvent] = [
            decode([(n, v.encode()) for n, v in json.loads(r["headers"])], bytes(r["value"]), bytes(r["key"]))
            for r in rows
        ]
        for event in events:
            for name, (db, handlers) in self.inboxes.items():
                handler = handlers.get(event.type)
                if handler is None:
                    continue
                async with db.uow() as uow:
                    if await uow.conn.fetchval(
                        "INSERT INTO inbox (event_id, consumer, event_type) VALUES ($1, $2, $3)"
                        " ON CONFLICT DO NOTHING RETURNING true",
                        uuid.UUID(event.id),
                        name,
                        event.type,
                    ):
                        await handler(uow, event)
                        await uow.commit()


async def _sent(stack: Stack, creditor_id: uuid.UUID, claim: dict[str, Any]) -> uuid.UUID:
    """What a sent SMS leaves behind: the notifier's delivery with what it said, and the
    ReminderSent that claims-api's own handler puts on the claim's timeline."""
    from krafa_events import Channel, ReminderSent, encode
    from krafa_notifier import content
    from krafa_notifier.service import CONTENT

    delivery_id = uuid.uuid4()
    said = content.ReminderContent(
        creditor_name="Fram",
        creditor_contact_phone="+354 555 1234",
        creditor_account="0133-26-012345",
        payment_link=None,
        debtor_name="Jón Jónsson",
        language="is",
        step=1,
        tone="friendly",
        claims=(content.ClaimLine("INV-1", None, date.today(), 10_000, "ISK", 0, 0, claim["reference"] or ""),),
        address=None,
        sent_on=date.today(),
        pay_by=None,
    )
    notifier_db = stack.inboxes["notifier"][0]
    async with notifier_db.connection() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone, template,"
            " channels, channel, status, recipient, due_at, sent_at, content)"
            " VALUES ($1, $1, 'reminder', $2, $3, $4, 1, 'friendly', 'reminder', '{sms}', 'sms', 'sent',"
            " '+3546612345', now(), now(), $5)",
            delivery_id,
            creditor_id,
            uuid.UUID(claim["debtor_id"]),
            [uuid.UUID(claim["id"])],
            CONTENT.dump_python(said, mode="json"),
        )
    sent = ReminderSent(
        creditor_id=creditor_id,
        debtor_id=uuid.UUID(claim["debtor_id"]),
        delivery_id=delivery_id,
        reminder_id=delivery_id,
        claim_ids=(uuid.UUID(claim["id"]),),
        step=1,
        channel=Channel.SMS,
        recipient="+3546612345",
        sent_at=datetime.now(UTC),
    )
    encoded = encode(sent, source="notifier")
    envelope = decode(list(encoded.headers), encoded.value, encoded.key)
    async with stack.claims_db.uow() as uow:
        await stack.claims_handlers[envelope.type](uow, envelope)
        await uow.commit()
    return delivery_id


def _handlers(app: Any) -> dict[str, Any]:
    spec = app.state.runtime.spec
    handlers = {model.TYPE: handler for model, handler in spec.routes.items()}
    for lane in getattr(spec, "lanes", ()):
        handlers.update({model.TYPE: handler for model, handler in lane.routes.items()})
    return handlers


@pytest.fixture
async def stack(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[Stack]:
    from krafa_claims_api.app import create_app as claims_app
    from krafa_claims_api.settings import Settings as ClaimsSettings
    from krafa_notifier.app import create_app as notifier_app
    from krafa_notifier.settings import Settings as NotifierSettings
    from krafa_scheduler.app import create_app as scheduler_app
    from krafa_scheduler.settings import Settings as SchedulerSettings

    common: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": broker.bootstrap,
        "consume": False,
        "operator_token": TOKEN,
        "gateway_token": GATEWAY,
    }
    notifier = notifier_app(NotifierSettings(**common, return_path_secret=SECRET))
    scheduler = scheduler_app(SchedulerSettings(**common))
    operator = {"Authorization": f"Bearer {TOKEN.get_secret_value()}"}
    async with serving(notifier) as notifier_url, serving(scheduler) as scheduler_url:
        claims = claims_app(ClaimsSettings(**common, notifier_url=notifier_url, scheduler_url=scheduler_url))
        async with (
            serving(claims) as claims_base,
            httpx.AsyncClient(base_url=notifier_url, headers=operator, timeout=30) as to_notifier,
            httpx.AsyncClient(base_url=scheduler_url, headers=operator, timeout=30) as to_scheduler,
        ):
            yield Stack(
                claims.state.runtime.db,
                _handlers(claims),
                {
                    "scheduler": (scheduler.state.runtime.db, _handlers(scheduler)),
                    "notifier": (notifier.state.runtime.db, _handlers(notifier)),
                },
                to_notifier,
                to_scheduler,
                claims_base,
            )


async def _creditor(stack: Stack, name: str) -> tuple[uuid.UUID, httpx.AsyncClient]:
    from krafa_claims_api import service
    from krafa_claims_api.api.schemas import CreditorIn

    data = CreditorIn.model_validate(
        {"name": name, "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"}}
    )
    async with stack.claims_db.uow() as uow:
        creditor_id, key = await service.create_creditor(uow, data)
        await uow.commit()
    client = httpx.AsyncClient(base_url=stack.claims_base, headers={"Authorization": f"Bearer {key.token}"}, timeout=30)
    return creditor_id, client


def _claim(invoice: str, name: str) -> dict[str, Any]:
    return {
        "invoice_no": invoice,
        "amount_minor": 10_000,
        "currency": "ISK",
        "due_date": (date.today() + timedelta(days=10)).isoformat(),
        "debtor": {
            "customer_no": "C-1",
            "name": name,
            "country": "IS",
            "language": "is",
            "email": "debtor@example.is",
            "phone": "+3546612345",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    }


def _is_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text


async def test_each_creditor_reads_its_own_templates_previews_policies_and_schedules(stack: Stack) -> None:
    a_id, a = await _creditor(stack, "Fram")
    b_id, b = await _creditor(stack, "Valur")
    try:
        a_claim = (await a.post("/v1/claims", json=_claim("INV-1", "Jón Jónsson"))).json()
        b_claim = (await b.post("/v1/claims", json=_claim("INV-1", "Anna Sigurðardóttir"))).json()
        await stack.carry()  # ClaimCreated (and the debtors) reach the scheduler and the notifier

        # Krafa's operators set A's SMS wording and A's policy at the owners.
        saved = await stack.notifier.put(
            "/v1/templates/reminder/sms/is", json={"body": TEMPLATE}, headers={"X-Krafa-Creditor-Id": str(a_id)}
        )
        assert saved.status_code == 201, saved.text
        stored = await stack.scheduler.put(f"/v1/policies/{a_id}", json=POLICY)
        assert stored.status_code == 201, stored.text

        # Templates: A's own; B has none and cannot read A's.
        a_templates = (await a.get("/v1/templates")).json()["items"]
        assert [(t["key"], t["channel"], t["language"], t["body"]) for t in a_templates] == [
            ("reminder", "sms", "is", TEMPLATE)
        ]
        assert (await b.get("/v1/templates")).json() == {"items": []}
        one = await a.get("/v1/templates/reminder/sms/is")
        assert one.status_code == 200 and one.json()["body"] == TEMPLATE
        _is_problem(await b.get("/v1/templates/reminder/sms/is"), 404)

        # A claim's preview: the debtor's name, the amount and A's wording; B's claim in B's words.
        preview = await a.get(f"/v1/claims/{a_claim['id']}/preview", params={"channel": "sms"})
        assert preview.status_code == 200, preview.text
        assert preview.json()["text"] == "Halló Jón Jónsson, 10.000 kr. til Fram."
        assert preview.json()["encoding"] == "UCS-2" and preview.json()["segments"] == 1
        b_preview = await b.get(f"/v1/claims/{b_claim['id']}/preview", params={"channel": "sms"})
        assert b_preview.status_code == 200, b_preview.text
        assert "Valur" in b_preview.json()["text"] and "Halló" not in b_preview.json()["text"]
        # Neither reaches the other's claim, by either route.
        _is_problem(await b.get(f"/v1/claims/{a_claim['id']}/preview"), 404)
        _is_problem(await a.post("/v1/previews", json={"claim_ids": [b_claim["id"]]}), 404)

        # An unsaved template tried out on A's claim; one that breaks the sandbox is refused.
        tried = await a.post(
            "/v1/previews",
            json={
                "claim_ids": [a_claim["id"]],
                "channel": "email",
                "step": 2,
                "body": "Kæri {{ v.debtor_name }}, við minnum aftur á {{ v.first.invoice_no }}.",
                "subject": "Áminning {{ v.first.invoice_no }}",
            },
        )
        assert tried.status_code == 200, tried.text
        assert tried.json()["channel"] == "email" and tried.json()["subject"] == "Áminning INV-1"
        assert "Kæri Jón Jónsson, við minnum aftur á INV-1." in tried.json()["text"]
        escape = await a.post(
            "/v1/previews", json={"claim_ids": [a_claim["id"]], "body": "{{ v.__class__.__init__.__globals__ }}"}
        )
        _is_problem(escape, 422)
        assert escape.json()["code"] == "invalid-template"

        # The sample debtor: A's saved wording; B gets Krafa's.
        sample = await a.post("/v1/previews/sample", json={"language": "is", "channel": "sms"})
        assert sample.status_code == 200, sample.text
        assert sample.json()["text"].startswith("Halló Sample Debtor,") and sample.json()["text"].endswith("til Fram.")
        b_sample = await b.post("/v1/previews/sample", json={"language": "is", "channel": "sms"})
        assert b_sample.status_code == 200 and not b_sample.json()["text"].startswith("Halló"), b_sample.text
        assert "Valur" in b_sample.json()["text"] and "Fram" not in b_sample.json()["text"]
        letter = await b.post("/v1/previews/sample", json={"language": "en", "channel": "letter"})
        assert letter.status_code == 200 and letter.json()["address"][0] == "Sample Debtor", letter.text

        # Policies: A's stored version; B has none (the country's default on asking).
        a_policies = (await a.get("/v1/policies")).json()["items"]
        assert [(p["key"], p["version"], p["current"], p["department"]) for p in a_policies] == [
            ("gentle", 1, True, None)
        ]
        assert a_policies[0]["policy"]["steps"][0]["notice"] == "aminning"
        assert (await b.get("/v1/policies")).json() == {"items": []}
        version = await a.get("/v1/policies/gentle/1")
        assert version.status_code == 200 and version.json()["policy"]["key"] == "gentle"
        _is_problem(await b.get("/v1/policies/gentle/1"), 404)
        current = await a.get("/v1/policies/current")
        assert current.json()["source"] == "creditor" and current.json()["policy"]["key"] == "gentle"
        _is_problem(await b.get("/v1/policies/current"), 404)
        default = await b.get("/v1/policies/current", params={"jurisdiction": "IS"})
        assert default.status_code == 200 and default.json()["source"] == "shipped", default.text

        # The schedule dry run of A's claim (planned when it was registered, before A's policy).
        schedule = await a.get(f"/v1/claims/{a_claim['id']}/schedule")
        assert schedule.status_code == 200, schedule.text
        body = schedule.json()
        assert body["claim_id"] == a_claim["id"] and body["status"] == "active" and body["jurisdiction"] == "IS"
        assert body["steps"] and all(s["currency"] == "ISK" for s in body["steps"])
        assert "creditor_id" not in body  # only what claims-api documents goes out
        _is_problem(await b.get(f"/v1/claims/{a_claim['id']}/schedule"), 404)

        # A sent notice the claim's timeline links to, as the PDF of what it said; not the other's.
        delivery_id = await _sent(stack, a_id, a_claim)
        timeline = (await a.get(f"/v1/claims/{a_claim['id']}/timeline")).json()
        link = next(i["content_link"] for i in timeline["items"] if i.get("content_link"))
        notice = await a.get(f"{link}/document")
        assert notice.status_code == 200, notice.text
        assert notice.headers["content-type"] == "application/pdf" and notice.content.startswith(b"%PDF-")
        _is_problem(await b.get(f"{link}/document"), 404)
        _is_problem(await a.get(f"/v1/claims/{a_claim['id']}/deliveries/{uuid.uuid4()}/document"), 404)
        # B's claim does not open A's delivery either, though it is B's own claim.
        _is_problem(await b.get(f"/v1/claims/{b_claim['id']}/deliveries/{delivery_id}/document"), 404)

        # The owners' operator routes stay closed to a creditor's key.
        key = a.headers["Authorization"]
        for response in (
            await stack.notifier.get("/v1/templates", headers={"Authorization": key, "X-Krafa-Creditor-Id": str(a_id)}),
            await stack.scheduler.get(f"/v1/creditors/{a_id}/policies", headers={"Authorization": key}),
            await stack.scheduler.put(f"/v1/policies/{b_id}", json=POLICY, headers={"Authorization": key}),
        ):
            _is_problem(response, 401)
    finally:
        await a.aclose()
        await b.aclose()


async def test_the_gateway_token_opens_the_creditor_reads_and_no_operator_route(stack: Stack) -> None:
    creditor_id, a = await _creditor(stack, "Fram")
    try:
        claim = (await a.post("/v1/claims", json=_claim("INV-1", "Jón Jónsson"))).json()
        await stack.carry()
    finally:
        await a.aclose()
    gateway = {"Authorization": f"Bearer {GATEWAY.get_secret_value()}"}
    as_creditor = {**gateway, "X-Krafa-Creditor-Id": str(creditor_id)}
    notifier, scheduler = stack.notifier, stack.scheduler

    # The reads claims-api asks for take it.
    for response in (
        await notifier.get("/v1/templates", headers=as_creditor),
        await notifier.get(f"/v1/claims/{claim['id']}/preview", headers=as_creditor),
        await notifier.post("/v1/preview/sample", json={"language": "is"}, headers=as_creditor),
        await scheduler.get(f"/v1/creditors/{creditor_id}/policies", headers=gateway),
        await scheduler.get(f"/v1/policies/{creditor_id}", params={"jurisdiction": "IS"}, headers=gateway),
        await scheduler.get(
            f"/v1/claims/{claim['id']}/schedule", params={"creditor_id": str(creditor_id)}, headers=gateway
        ),
        await scheduler.post(
            f"/v1/creditors/{creditor_id}/plan",
            json={"amount_minor": 25_000, "currency": "ISK", "due_date": "2026-03-02"},
            headers=gateway,
        ),
    ):
        assert response.status_code == 200, (response.request.url, response.text)
    # The schedule of any claim is the operator's: with the gateway token, only the creditor's.
    _is_problem(await scheduler.get(f"/v1/claims/{claim['id']}/schedule", headers=gateway), 422)

    # Every operator-only route refuses it.
    for response in (
        await notifier.put("/v1/templates/reminder/sms/is", json={"body": TEMPLATE}, headers=as_creditor),
        await notifier.get("/v1/costs", params={"from": "2026-01-01", "to": "2026-02-01"}, headers=as_creditor),
        await notifier.get("/v1/calls/due", headers=gateway),
        await scheduler.put(f"/v1/policies/{creditor_id}", json=POLICY, headers=gateway),
        await scheduler.get(f"/v1/timelines/{claim['id']}", headers=gateway),
        await scheduler.post("/v1/plan", json={}, headers=gateway),
    ):
        _is_problem(response, 401)


async def test_the_fuzzer_finds_no_server_error_through_the_real_owners(stack: Stack) -> None:
    """The shared fuzzer over claims-api's operations answered from the owners, with the owners
    running: every answer documented, no 5xx, no body off claims-api's schemas."""
    from krafa_claims_api.api.gateway import TAGS

    a_id, a = await _creditor(stack, "Fram")
    try:
        claim = (await a.post("/v1/claims", json=_claim("INV-1", "Jón Jónsson"))).json()
        await stack.carry()
        saved = await stack.notifier.put(
            "/v1/templates/reminder/email/is",
            json={"body": TEMPLATE, "subject": "Áminning"},
            headers={"X-Krafa-Creditor-Id": str(a_id)},
        )
        assert saved.status_code == 201, saved.text
        # Keyed like the template, so that the one known `key` opens both.
        stored = await stack.scheduler.put(f"/v1/policies/{a_id}", json={**POLICY, "key": "reminder"})
        assert stored.status_code == 201, stored.text
        spec = (await a.get("/openapi.json")).json()
        spec["paths"] = {
            path: kept
            for path, item in spec["paths"].items()
            if (kept := {m: op for m, op in item.items() if set(op.get("tags", ())) & set(TAGS)})
        }
        known = {"claim_id": claim["id"], "key": "reminder", "channel": "email", "language": "is", "version": 1}
        bodies = {
            "POST /v1/previews": ("application/json", {"claim_ids": [claim["id"]], "channel": "sms"}),
            "POST /v1/policies/plan": (
                "application/json",
                {"amount_minor": 25_000, "currency": "ISK", "due_date": "2026-03-02"},
            ),
        }
        auth = {"Authorization": a.headers["Authorization"]}
        operations, statuses, failures = await asyncio.to_thread(
            fuzz_openapi, spec, stack.claims_base, auth, known=known, bodies=bodies
        )
    finally:
        await a.aclose()
    assert not failures, "\n\n".join(failures)
    assert operations == 11
    for label in (
        "GET /v1/templates",
        "GET /v1/templates/{key}/{channel}/{language}",
        "GET /v1/claims/{claim_id}/preview",
        "POST /v1/previews",
        "POST /v1/previews/sample",
        "GET /v1/policies",
        "GET /v1/policies/{key}/{version}",
        "POST /v1/policies/plan",
        "GET /v1/claims/{claim_id}/schedule",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), (label, statuses[label])
