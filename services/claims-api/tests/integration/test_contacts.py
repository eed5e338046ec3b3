"""Contact points over the real PostgreSQL and broker: consent, verified flag and state; an
opt-out or a hard bounce leaves the address out of every later snapshot of that creditor; only the
debtor's own opt-in revives it; and creditor A's addresses never reach creditor B's claims."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from krafa_events import ClaimCreated, EmailBounced
from krafa_events.catalog import DebtorUpdated
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish

from .conftest import Api, claim_body

pytestmark = [pytest.mark.integration, pytest.mark.consumes]


async def test_contact_point_states_bounce_and_purpose_limitation(api: Api, broker: EmbeddedBroker) -> None:
    creditor_a, a = await api.creditor("A")
    creditor_b, b = await api.creditor("B")
    async with TopicReader(broker.bootstrap, "krafa.claims") as reader:
        claim = (await a.post("/v1/claims", json=claim_body(customer_no="C-1"))).json()
        debtor_id = claim["debtor_id"]
        url = f"/v1/debtors/{debtor_id}/contact-points"

        # An email from the claim is a creditor-upload contact point; add a phone and a second email.
        phone = await a.post(
            url,
            json={
                "kind": "phone",
                "value": "555 1234",
                "verified": True,
                "consent": {"source": "terms", "at": "2026-01-02T10:00:00Z", "terms_version": "v3"},
            },
            headers={"Idempotency-Key": "phone-1"},
        )
        assert phone.status_code == 201, phone.text
        cp = phone.json()
        assert cp["value"] == "+3545551234" and cp["verified"] is True and cp["origin"] == "creditor_upload"
        assert cp["consent"] == {"source": "terms", "at": "2026-01-02T10:00:00Z", "terms_version": "v3"}
        replay = await a.post(
            url,
            json={
                "kind": "phone",
                "value": "555 1234",
                "verified": True,
                "consent": {"source": "terms", "at": "2026-01-02T10:00:00Z", "terms_version": "v3"},
            },
            headers={"Idempotency-Key": "phone-1"},
        )
        assert replay.json() == cp
        assert (await a.post(url, json={"kind": "phone", "value": "12"})).status_code == 422
        newer = (await a.post(url, json={"kind": "email", "value": "jon.new@example.is"})).json()
        debtor = (await a.get(f"/v1/debtors/{debtor_id}")).json()
        # The newest address the creditor named is the one used.
        assert debtor["usable"]["email"] == "jon.new@example.is"

        patched = await a.patch(f"{url}/{newer['id']}", json={"verified": True, "consent": {"terms_version": "v4"}})
        assert patched.status_code == 200 and patched.json()["verified"] is True
        assert patched.json()["consent"]["terms_version"] == "v4"

        # Opt-out: the address is left out; the creditor naming it again does not revive it.
        out = await a.post(f"{url}/{newer['id']}/opt-out", json={"reason": "asked by phone"})
        assert out.status_code == 200 and out.json()["state"] == "opted_out"
        again = await a.post(url, json={"kind": "email", "value": "JON.NEW@example.is"})
        assert again.json()["state"] == "opted_out" and again.json()["id"] == newer["id"]
        assert (await a.get(f"/v1/debtors/{debtor_id}")).json()["usable"]["email"] == "jon@example.is"

        # A hard bounce of the remaining address marks it bounced and announces the snapshot without it.
        await publish(
            broker.bootstrap,
            EmailBounced(
                creditor_id=creditor_a,
                debtor_id=uuid.UUID(debtor_id),
                bounce_id=uuid.uuid4(),
                delivery_id=uuid.uuid4(),
                reminder_id=uuid.uuid4(),
                claim_ids=(uuid.UUID(claim["id"]),),
                step=1,
                recipient="Jon@Example.is",
                kind="hard",
                status="5.1.1",
                reason="mailbox does not exist",
                bounced_at=datetime(2026, 2, 5, tzinfo=UTC),
            ),
        )

        async def bounced() -> bool:
            body = (await a.get(f"/v1/debtors/{debtor_id}")).json()
            return any(c["state"] == "bounced" and c["value"] == "jon@example.is" for c in body["contact_points"])

        await eventually(bounced, timeout=60)
        debtor = (await a.get(f"/v1/debtors/{debtor_id}")).json()
        assert debtor["usable"] == {"email": None, "phone": "+3545551234", "netbank_opt_in": False}

        async def bounce_announced() -> DebtorUpdated | None:
            found = [e for e in reader.of_type(DebtorUpdated) if str(e.debtor_id) == debtor_id]
            return found[-1] if found and found[-1].debtor.email is None and found[-1].debtor.phone else None

        update = await eventually(bounce_announced, timeout=60)
        assert update.creditor_id == creditor_a and update.debtor.phone == "+3545551234"

        # The next claim for the same debtor carries no bounced or opted-out address.
        second = await a.post("/v1/claims", json=claim_body("INV-2", customer_no="C-1"))
        assert second.status_code == 201, second.text

        # The creditor's key cannot speak for the debtor: no opt-in, so no revival of either address.
        for value in ("jon.new@example.is", "jon@example.is"):
            asserted = await a.post(url, json={"kind": "email", "value": value, "origin": "debtor_opt_in"})
            assert asserted.status_code == 422 and "only the debtor opts in" in asserted.text
            verified = await a.post(url, json={"kind": "email", "value": value, "verified": True})
            assert verified.json()["state"] in ("opted_out", "bounced") and not verified.json()["usable"]
        contact_ids = {c["value"]: c["id"] for c in (await a.get(f"/v1/debtors/{debtor_id}")).json()["contact_points"]}
        patched = await a.patch(f"{url}/{contact_ids['jon@example.is']}", json={"verified": True})
        assert patched.json()["state"] == "bounced"

        # The debtor's own opt-in in the portal (netbank, the opted-out address) is honoured and preferred.
        portal = f"/v1/portal/creditors/{creditor_a}/debtors/{debtor_id}/contact-points"
        netbank = await a.post(portal, json={"kind": "netbank", "consent_source": "portal"})
        assert netbank.status_code == 201, netbank.text
        revived = await a.post(
            portal, json={"kind": "email", "value": "jon.new@example.is", "consent_source": "portal"}
        )
        assert revived.status_code == 201, revived.text
        assert (await a.get(f"/v1/debtors/{debtor_id}")).json()["usable"] == {
            "email": "jon.new@example.is",
            "phone": "+3545551234",
            "netbank_opt_in": True,
        }
        # The bounced address comes back only with the debtor's verification (the portal's one-time code).
        back = await a.post(portal, json={"kind": "email", "value": "jon@example.is", "consent_source": "portal"})
        restored = next(c for c in back.json()["contact_points"] if c["value"] == "jon@example.is")
        assert restored["state"] == "active" and restored["origin"] == "debtor_opt_in" and restored["verified"]

        # Creditor B registers the same person with no email: A's addresses never reach B's claim.
        body_b = claim_body("INV-B", customer_no="C-1")
        del body_b["debtor"]["email"]
        claim_b = (await b.post("/v1/claims", json=body_b)).json()
        assert claim_b["debtor_id"] != debtor_id
        debtor_b = (await b.get(f"/v1/debtors/{claim_b['debtor_id']}")).json()
        assert debtor_b["contact_points"] == [] and debtor_b["usable"]["email"] is None

        def created(invoice: str) -> ClaimCreated | None:
            return next((e for e in reader.of_type(ClaimCreated) if e.invoice_no == invoice), None)

        event_2 = await eventually(lambda: created("INV-2"), timeout=60)
        assert event_2.debtor.email is None and event_2.debtor.phone == "+3545551234"
        event_b = await eventually(lambda: created("INV-B"), timeout=60)
        assert event_b.creditor_id == creditor_b and event_b.debtor.email is None and event_b.debtor.phone is None
        assert all(e.debtor.email is None for e in reader.of_type(DebtorUpdated) if e.creditor_id == creditor_b)
