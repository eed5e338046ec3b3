"""GDPR over the real PostgreSQL and broker: the export holds everything kept on the debtor; the
erasure removes the personal data, keeps the claims under a pseudonym, announces the pseudonymised
snapshot once, and is idempotent."""

from __future__ import annotations

import json
import uuid

import pytest
from krafa_events.catalog import DebtorUpdated
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

PERSONAL = ("Jón", "1201743399", "jon@example.is", "+3545551234", "Laugavegur")


async def test_export_and_erasure(api: Api, broker: EmbeddedBroker) -> None:
    _, client = await api.creditor("Fram")
    claim = (await client.post("/v1/claims", json=claim_body(customer_no="C-1"))).json()
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

    export = await client.get(f"/v1/debtors/{debtor_id}/export")
    assert export.status_code == 200, export.text
    data = export.json()
    assert data["debtor"]["name"] == "Jón Jónsson" and data["debtor"]["national_id"] == "1201743399"
    assert {c["value"] for c in data["debtor"]["contact_points"]} == {"jon@example.is", "+3545551234"}
    assert [c["id"] for c in data["claims"]] == [claim["id"]]
    assert data["claim_history"][0]["event_type"] == "krafa.claim.created.v1"
    assert [h["source"] for h in data["debtor_history"]] == ["api"]
    assert data["debtor_history"][0]["details"]["fields"]  # names of what changed, not values

    async with TopicReader(broker.bootstrap, "krafa.claims") as reader:
        erased = await client.delete(f"/v1/debtors/{debtor_id}/personal-data")
        assert erased.status_code == 200, erased.text
        result = erased.json()
        assert result["erased_now"] is True and result["pseudonym"].startswith("erased-")
        repeat = await client.delete(f"/v1/debtors/{debtor_id}/personal-data")
        assert repeat.json() == {**result, "erased_now": False}

        def announced() -> DebtorUpdated | None:
            found = [e for e in reader.of_type(DebtorUpdated) if str(e.debtor_id) == debtor_id]
            return found[-1] if found and found[-1].debtor.name == result["pseudonym"] else None

        update = await eventually(announced, timeout=60)
        snap = update.debtor
        assert (snap.email, snap.phone, snap.address, snap.fallback_channel) == (None, None, None, "letter")
        assert snap.customer_no == "C-1"

    # The financial record stays; nothing personal is left in the debtor, the export or the table.
    kept = (await client.get(f"/v1/claims/{claim['id']}")).json()
    assert kept["amount_minor"] == claim["amount_minor"] and kept["debtor_id"] == debtor_id
    after = (await client.get(f"/v1/debtors/{debtor_id}/export")).json()
    assert after["debtor"]["erased_at"] == result["erased_at"] and after["debtor"]["contact_points"] == []
    assert [c["id"] for c in after["claims"]] == [claim["id"]]
    assert [h["source"] for h in after["debtor_history"]] == ["api", "erasure"]
    text = json.dumps(after, ensure_ascii=False)
    assert not [p for p in PERSONAL if p in text]
    async with api.db.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM debtors WHERE id = $1", uuid.UUID(debtor_id))
        assert not [p for p in PERSONAL if p in json.dumps(dict(row), default=str, ensure_ascii=False)]
        assert await conn.fetchval("SELECT count(*) FROM contact_points WHERE debtor_id = $1", row["id"]) == 0
