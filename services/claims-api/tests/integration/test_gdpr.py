"""GDPR at claims-api over the real PostgreSQL and broker: an export takes claims-api's part at once
and is complete when every service holding personal data has sent its part; an erasure removes
the personal data here (the debtor, contact points, and every free text quoting them: history,
webhook payloads, stored idempotent answers, the outbox), keeps the claims under a pseudonym, asks
every other service to erase theirs, and is reported done only when each has answered. The other
services' answers are published here as they would send them (tests/e2e runs them for real)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from krafa_events.catalog import DebtorUpdated, PersonalDataErasureRequested, PersonalDataExportRequested
from krafa_events.registry import HANDLED_BY, privacy_services
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish

from .conftest import Api, claim_body

pytestmark = [pytest.mark.integration, pytest.mark.consumes]

PERSONAL = ("Jón", "1201743399", "120174-3399", "jon@example.is", "+3545551234", "5551234", "Laugavegur")


def answer(service: str, request: PersonalDataErasureRequested | PersonalDataExportRequested, **data: object) -> object:
    return HANDLED_BY[service](
        creditor_id=request.creditor_id,
        debtor_id=request.debtor_id,
        request_id=request.request_id,
        request="export" if isinstance(request, PersonalDataExportRequested) else "erasure",
        service=service,
        rows=len(data),
        data=dict(data) if data else None,
        handled_at=datetime.now(UTC),
    )


async def test_export_gathers_every_service_and_erasure_completes_when_all_answered(
    api: Api, broker: EmbeddedBroker
) -> None:
    # An Icelandic creditor with a claim bank: its claims carry the payer's kennitala to the bank.
    _, client = await api.creditor(
        "Fram", registration_no="410169-2079", bank_claims={"claim_bank": "0133", "template_code": "001"}
    )
    _, other = await api.creditor("Valur")
    body = claim_body(customer_no="C-1")
    body["debtor"]["national_id"] = "1201743399"
    claim = (await client.post("/v1/claims", json=body)).json()
    assert claim["payment"]["kind"] == "bank_claim"
    async with api.db.connection() as conn:
        stored = await conn.fetchval("SELECT payment->>'payor_id' FROM claims WHERE id = $1", uuid.UUID(claim["id"]))
    assert stored == "1201743399"  # the bank needs it to put the claim in the payer's netbank
    debtor_id = claim["debtor_id"]
    await client.put(
        "/v1/debtors/by-customer-no/C-1",
        json={
            "name": "Jón Jónsson",
            "country": "IS",
            "national_id": "1201743399",
            "phone": "+3545551234",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
    )
    # A stored idempotent answer quoting the debtor's address.
    debtor = (await client.get(f"/v1/debtors/{debtor_id}")).json()
    added = await client.post(
        f"/v1/debtors/{debtor_id}/contact-points",
        json={"kind": "email", "value": "jon.j@example.is"},
        headers={"Idempotency-Key": "cp-1"},
    )
    assert added.status_code == 201, added.text
    assert debtor["national_id"] == "1201743399"
    # Another creditor's debtor is not this creditor's to export or erase.
    assert (await other.post(f"/v1/debtors/{debtor_id}/exports")).status_code == 404
    assert (await other.delete(f"/v1/debtors/{debtor_id}/personal-data")).status_code == 404

    async with TopicReader(broker.bootstrap, "krafa.claims") as reader:
        started = await client.post(f"/v1/debtors/{debtor_id}/exports")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        pending = (await client.get(location)).json()
        assert pending["status"] == "pending" and pending["kind"] == "export"
        assert [s["service"] for s in pending["services"]] == ["claims-api", *privacy_services()]
        own = pending["parts"]["claims-api"]
        assert own["debtor"]["name"] == "Jón Jónsson" and own["debtor"]["national_id"] == "1201743399"
        values = {c["value"] for c in own["debtor"]["contact_points"]}
        assert values == {"jon@example.is", "jon.j@example.is", "+3545551234"}
        assert [c["id"] for c in own["claims"]] == [claim["id"]]
        assert set(pending["parts"]) == {"claims-api"}

        [request] = await eventually(lambda: reader.of_type(PersonalDataExportRequested), timeout=60)
        assert str(request.debtor_id) == debtor_id and str(request.request_id) == pending["id"]
        await publish(broker.bootstrap, *(answer(s, request, recipient="jon@example.is") for s in privacy_services()))

        async def complete() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get(location)).json()
            return body if body["status"] == "complete" else None

        done = await eventually(complete, timeout=60)
        assert set(done["parts"]) == {"claims-api", *privacy_services()}  # type: ignore[arg-type]
        assert done["parts"]["notifier"] == {"recipient": "jon@example.is"}  # type: ignore[index]

        erased = await client.delete(f"/v1/debtors/{debtor_id}/personal-data")
        assert erased.status_code == 202, erased.text
        result = erased.json()
        assert result["erased_now"] is True and result["pseudonym"].startswith("erased-")
        assert result["request"]["status"] == "pending"
        assert {s["service"]: s["status"] for s in result["request"]["services"]} == {
            "claims-api": "done",
            **dict.fromkeys(privacy_services(), "pending"),
        }
        repeat = await client.delete(f"/v1/debtors/{debtor_id}/personal-data")
        assert repeat.json() == {**result, "erased_now": False}

        def announced() -> PersonalDataErasureRequested | None:
            found = [e for e in reader.of_type(PersonalDataErasureRequested) if str(e.debtor_id) == debtor_id]
            return found[-1] if found else None

        erasure = await eventually(announced, timeout=60)
        assert erasure.pseudonym == result["pseudonym"]
        # The pseudonymised snapshot went first, on the same key: every service sees it before the request.
        updates = [e for e in reader.of_type(DebtorUpdated) if str(e.debtor_id) == debtor_id]
        assert updates[-1].debtor.name == result["pseudonym"]
        assert (updates[-1].debtor.email, updates[-1].debtor.phone, updates[-1].debtor.address) == (None, None, None)

        # Nothing personal is left in claims-api: the debtor, history, idempotent answers, outbox.
        async with api.db.connection() as conn:
            tables = {
                "debtors": "SELECT d::text FROM debtors d WHERE id = $1",
                "claims": "SELECT c::text FROM claims c WHERE debtor_id = $1",
                "contact_points": "SELECT cp::text FROM contact_points cp WHERE debtor_id = $1",
                "claim_history": "SELECT h::text FROM claim_history h JOIN claims c ON c.id = h.claim_id"
                " WHERE c.debtor_id = $1",
                "idempotency_keys": "SELECT k::text FROM idempotency_keys k WHERE $1::uuid IS NOT NULL",
                "outbox": "SELECT convert_from(value, 'UTF8') FROM outbox WHERE $1::uuid IS NOT NULL"
                " AND key = convert_to($2, 'UTF8')",
            }
            key = f"{erasure.creditor_id}:{debtor_id}"
            for table, query in tables.items():
                args = (uuid.UUID(debtor_id), key) if "$2" in query else (uuid.UUID(debtor_id),)
                text = " ".join(r[0] for r in await conn.fetch(query, *args))
                assert not [p for p in PERSONAL if p in text], (table, text)
        assert (await client.get(f"/v1/debtors/{debtor_id}/erasure")).status_code == 202

        # Done only when every service has answered: all but one is not enough.
        first, *rest = privacy_services()
        await publish(broker.bootstrap, *(answer(s, erasure) for s in rest))
        await eventually(
            lambda: _answered(client, debtor_id, len(rest)),
            timeout=60,
        )
        still = await client.get(f"/v1/debtors/{debtor_id}/erasure")
        assert still.status_code == 202 and still.json()["request"]["status"] == "pending"
        await publish(broker.bootstrap, answer(first, erasure))

        async def erased_everywhere() -> dict[str, object] | None:
            response = await client.get(f"/v1/debtors/{debtor_id}/erasure")
            return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

        final = await eventually(erased_everywhere, timeout=60)
        assert final["request"]["status"] == "complete"  # type: ignore[index]
        assert all(s["status"] == "done" for s in final["request"]["services"])  # type: ignore[index]

    kept = (await client.get(f"/v1/claims/{claim['id']}")).json()
    assert kept["amount_minor"] == claim["amount_minor"] and kept["debtor_id"] == debtor_id
    after = (await client.post(f"/v1/debtors/{debtor_id}/exports")).json()
    text = json.dumps(after, ensure_ascii=False)
    assert not [p for p in PERSONAL if p in text]


async def _answered(client: object, debtor_id: str, count: int) -> bool:
    response = await client.get(f"/v1/debtors/{debtor_id}/erasure")  # type: ignore[attr-defined]
    services = response.json()["request"]["services"]
    return sum(s["status"] == "done" for s in services) == count + 1


async def test_the_debtor_downloads_every_services_part_from_the_portal(api: Api, broker: EmbeddedBroker) -> None:
    """The portal's "download my data" is the same export as the creditor's, across every service,
    for the logged-in debtor only."""
    creditor_id, client = await api.creditor("Fram")
    other_id, _ = await api.creditor("Valur")
    claim = (await client.post("/v1/claims", json=claim_body(customer_no="C-1"))).json()
    debtor_id = claim["debtor_id"]
    exports = f"/v1/portal/creditors/{creditor_id}/debtors/{debtor_id}/exports"
    # Another creditor's portal session cannot start or read this debtor's export.
    assert (await client.post(f"/v1/portal/creditors/{other_id}/debtors/{debtor_id}/exports")).status_code == 404

    async with TopicReader(broker.bootstrap, "krafa.claims") as reader:
        started = await client.post(exports)
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location.startswith(exports + "/")
        pending = (await client.get(location)).json()
        assert pending["status"] == "pending" and set(pending["parts"]) == {"claims-api"}
        assert [c["id"] for c in pending["parts"]["claims-api"]["claims"]] == [claim["id"]]
        assert (await client.get(location.replace(str(creditor_id), str(other_id)))).status_code == 404

        def asked() -> PersonalDataExportRequested | None:
            found = [e for e in reader.of_type(PersonalDataExportRequested) if str(e.debtor_id) == debtor_id]
            return found[-1] if found else None

        request = await eventually(asked, timeout=60)
        assert str(request.request_id) == pending["id"]
        await publish(broker.bootstrap, *(answer(s, request, held=s) for s in privacy_services()))

        async def complete() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get(location)).json()
            return body if body["status"] == "complete" else None

        done = await eventually(complete, timeout=60)
        assert done["parts"] == {  # type: ignore[comparison-overlap]
            "claims-api": pending["parts"]["claims-api"],
            **{s: {"held": s} for s in privacy_services()},
        }
