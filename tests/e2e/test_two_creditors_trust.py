"""Two creditors with the same customer numbers, debtors, addresses, invoice numbers and a
self-supplied reference, through the whole running stack at once: claims, reminders, a bounce and
its letter, payments, an export and an erasure.

- A reference one creditor holds is refused to the other; each payment settles the right
  creditor's claim, because the account it was paid into says whose it is (the invoice number
  in the remittance text names a claim of each creditor).
- The export of a debtor holds every service's part: the address each reminder went to, the
  returned message, the payer's name and account.
- After both creditors erase their debtors and every service has confirmed, a search of every
  service's schema (text and bytes) and of every log finds none of the debtors' names, addresses,
  phone numbers, national id or payer account; only pseudonyms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from krafa.stack import SCHEMAS, Stack
from krafa_kit.kafka_cluster import KafkaCluster
from krafa_kit.testing import eventually
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from .conftest import make_stack

pytestmark = pytest.mark.e2e

ACCOUNTS = {
    "A": ("0159-26-007654", "IS140159260076545510730339"),
    "B": ("0133-26-012345", "IS850133260123455510730339"),
}
NAME = "Sigríður Þórhallsdóttir"
STREET = "Brekkugata 17"
EMAIL = "sigridur.th@example.is"
BOUNCING = "gudrun.b@invalid.example"  # the SMTP catcher answers with a real DSN
PHONE = "+3545551234"
NATIONAL_ID = "1201743399"
PAYER_ACCOUNT = "0111-26-654321"
SHARED_REFERENCE = "RF471234567890"
PERSONAL = (
    NAME,
    STREET,
    EMAIL,
    BOUNCING,
    PHONE,
    "555 1234",
    NATIONAL_ID,
    "120174-3399",
    PAYER_ACCOUNT,
    "Guðrún Bjarnadóttir",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None) -> Iterator[Stack]:
    # Retention sweeps every 2 s here (an hour by default), so that a published event about an
    # erased debtor, sent by a reminder already under way at the erasure, leaves the outbox soon.
    instance = make_stack(tmp_path_factory.mktemp("stack"), kafka=stack_kafka)
    instance.config.extra_env["KRAFA_RETENTION_SWEEP_INTERVAL_S"] = "2"
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def debtor(customer_no: str, name: str, email: str) -> dict[str, Any]:
    return {
        "customer_no": customer_no,
        "name": name,
        "country": "IS",
        "language": "is",
        "time_zone": "Atlantic/Reykjavik",
        "national_id": NATIONAL_ID,
        "email": email,
        "phone": PHONE,
        "address": {"lines": [STREET], "postcode": "600", "city": "Akureyri", "country": "IS"},
    }


class Creditor:
    def __init__(self, stack: Stack, client: httpx.AsyncClient, name: str, key: str) -> None:
        self.stack, self.client, self.name = stack, client, name
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, self.stack.url("claims-api") + path, headers=self.headers, **kwargs)


async def creditor(stack: Stack, client: httpx.AsyncClient, label: str) -> Creditor:
    account, _ = ACCOUNTS[label]
    response = await client.post(
        stack.url("claims-api") + "/v1/admin/creditors",
        headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        json={"name": f"Creditor {label}", "country": "IS", "currency": "ISK", "payment_account": account},
    )
    assert response.status_code == 201, response.text
    return Creditor(stack, client, label, response.json()["api_key"])


async def history(creditor: Creditor, claim_id: str) -> list[str]:
    return [h["event_type"] for h in (await creditor.call("GET", f"/v1/claims/{claim_id}")).json()["history"]]


async def search_schemas(database_url: str, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Every row of every table of every service, as text and (for bytes columns) as bytes."""
    found: dict[str, list[str]] = {}
    conn = await asyncpg.connect(database_url)
    try:
        schemas = [*SCHEMAS.values(), "web"]
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE'",
            schemas,
        )
        for t in tables:
            name = f'"{t["table_schema"]}"."{t["table_name"]}"'
            byte_columns = [
                r["column_name"]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
                    " AND data_type = 'bytea'",
                    t["table_schema"],
                    t["table_name"],
                )
            ]
            for needle in needles:
                where = ["x::text ILIKE '%' || $1 || '%'"]
                where += [f"position(convert_to($1, 'UTF8') in x.\"{c}\") > 0" for c in byte_columns]
                where += [f'position(convert_to(lower($1), \'UTF8\') in lower(encode(x."{c}", \'escape\'))::bytea) > 0'
                          for c in byte_columns]  # fmt: skip
                hits = await conn.fetchval(f"SELECT count(*) FROM {name} x WHERE {' OR '.join(where)}", needle)
                if hits:
                    found.setdefault(name, []).append(needle)
    finally:
        await conn.close()
    return found


def scan_logs(stack: Stack, needles: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((stack.home / "logs").glob("*.log")):
        text = path.read_text(errors="replace").lower()
        hits = [n for n in needles if n.lower() in text]
        if hits:
            found[path.name] = hits
    return found


async def test_two_creditors_side_by_side(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        a, b = await asyncio.gather(creditor(stack, client, "A"), creditor(stack, client, "B"))
        operator = {"Authorization": f"Bearer {stack.state.admin_token}"}
        due = (stack.sim_now() - timedelta(days=4)).date().isoformat()

        # The same debtors, invoice numbers and self-supplied reference at both creditors, at once.
        def bodies(reference: str | None) -> list[dict[str, Any]]:
            first = {"invoice_no": "INV-1", "amount_minor": 12_000, "currency": "ISK", "due_date": due,
                     "debtor": debtor("C-1", NAME, EMAIL)}  # fmt: skip
            if reference:
                first["reference"] = reference
            second = {"invoice_no": "INV-2", "amount_minor": 8_000, "currency": "ISK", "due_date": due,
                      "debtor": debtor("C-2", "Guðrún Bjarnadóttir", BOUNCING)}  # fmt: skip
            return [first, second]

        answers = await asyncio.gather(
            a.call("POST", "/v1/claims/bulk", json={"claims": bodies(SHARED_REFERENCE)}),
            b.call("POST", "/v1/claims/bulk", json={"claims": bodies(SHARED_REFERENCE)}),
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201, 409], [r.text for r in answers]
        winner, loser = (a, b) if answers[0].status_code == 201 else (b, a)
        refused = answers[1 if winner is a else 0].json()
        assert refused["type"].endswith("/reference-in-use")
        assert refused["errors"][0]["pointer"] == "/claims/0/reference" and "existing_claim_id" not in refused
        again = await loser.call("POST", "/v1/claims/bulk", json={"claims": bodies(None)})
        assert again.status_code == 201, again.text
        claims = {winner.name: answers[0 if winner is a else 1].json()["claims"], loser.name: again.json()["claims"]}
        assert claims[winner.name][0]["reference"] == SHARED_REFERENCE
        assert claims[loser.name][0]["reference"] != SHARED_REFERENCE
        by = {"A": a, "B": b}

        # Reminders go out at both; the bouncing address turns into a letter at both.
        async def reminded() -> bool:
            for label, items in claims.items():
                first = await history(by[label], items[0]["id"])
                second = await history(by[label], items[1]["id"])
                if "krafa.notification.reminder_sent.v1" not in first:
                    return False
                if "krafa.bounce.email_bounced.v1" not in second:
                    return False
            return True

        await eventually(reminded, timeout=240, interval=1.0)

        # Payments: into A's account, one by text naming INV-2 (an invoice number of both
        # creditors) and one by A's reference with the payer's account; into B's, B's reference.
        a_iban, b_iban = ACCOUNTS["A"][1], ACCOUNTS["B"][1]
        today = stack.sim_now().date()
        file_a = camt054(
            [GeneratedCredit(8_000, "ISK", None, today, "A-TEXT-1", NAME, "greiðsla INV-2")],
            account_iban=a_iban,
            msg_id="A-1",
            created=stack.sim_now(),
        )
        file_b = camt054(
            [GeneratedCredit(12_000, "ISK", claims["B"][0]["reference"], today, "B-REF-1", NAME)],
            account_iban=b_iban,
            msg_id="B-1",
            created=stack.sim_now(),
        )
        payments = stack.url("payments-ingest")
        for body in (file_a, file_b):
            upload = await client.post(
                payments + "/v1/payments/files", content=body, headers={**operator, "Content-Type": "application/xml"}
            )
            assert upload.status_code == 201 and upload.json()["matched"] == 1, upload.text
        note = await client.post(
            payments + "/v1/payments/notifications",
            headers=operator,
            json={"id": "A-NOTE-1", "amount_minor": 12_000, "currency": "ISK",
                  "reference": claims["A"][0]["reference"], "payer_account": PAYER_ACCOUNT,
                  "account": ACCOUNTS["A"][0]},
        )  # fmt: skip
        assert note.status_code == 201 and note.json()["matched"] == 1, note.text

        async def settled() -> bool:
            states = {
                (label, i): (await by[label].call("GET", f"/v1/claims/{items[i]['id']}")).json()["status"]
                for label, items in claims.items()
                for i in (0, 1)
            }
            return states == {("A", 0): "paid", ("A", 1): "paid", ("B", 0): "paid", ("B", 1): "open"}

        await eventually(settled, timeout=120, interval=1.0)

        # A's export of its first debtor: every service's part.
        debtor_a = claims["A"][0]["debtor_id"]
        bounced_a = claims["A"][1]["debtor_id"]

        async def export(who: Creditor, debtor_id: str) -> dict[str, Any]:
            started = await who.call("POST", f"/v1/debtors/{debtor_id}/exports")
            assert started.status_code == 202, started.text

            async def complete() -> dict[str, Any] | None:
                body: dict[str, Any] = (await who.call("GET", started.headers["location"])).json()
                return body if body["status"] == "complete" else None

            done: dict[str, Any] = await eventually(complete, timeout=120, interval=0.5)
            return done

        document = await export(a, debtor_a)
        parts = document["parts"]
        assert set(parts) == {"claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest"}
        assert parts["claims-api"]["debtor"]["national_id"] == NATIONAL_ID
        assert EMAIL in {d["recipient"] for d in parts["notifier"]["deliveries"]}
        assert {p["payer_account"] for p in parts["payments-ingest"]["payments"]} == {PAYER_ACCOUNT}
        assert parts["scheduler"]["timelines"][0]["claim_id"] == claims["A"][0]["id"]
        returned = (await export(a, bounced_a))["parts"]["bounce-handler"]
        assert returned["bounces"] and BOUNCING in returned["returned_messages"][0]["message"]

        # A erases both debtors; done only when every service confirmed. B's copies stay.
        async def erase(who: Creditor, debtor_id: str) -> dict[str, Any]:
            first = await who.call("DELETE", f"/v1/debtors/{debtor_id}/personal-data")
            assert first.status_code in (200, 202), first.text

            async def confirmed() -> dict[str, Any] | None:
                response = await who.call("GET", f"/v1/debtors/{debtor_id}/erasure")
                return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

            result: dict[str, Any] = await eventually(confirmed, timeout=120, interval=0.5)
            assert all(s["status"] == "done" for s in result["request"]["services"])
            return result

        for debtor_id in (debtor_a, bounced_a):
            await erase(a, debtor_id)
        kept = await export(b, claims["B"][0]["debtor_id"])
        assert EMAIL in {d["recipient"] for d in kept["parts"]["notifier"]["deliveries"]}
        assert kept["parts"]["claims-api"]["debtor"]["name"] == NAME
        for item in claims["B"]:
            await erase(b, item["debtor_id"])

        # The financial records stay, under pseudonyms.
        paid = (await a.call("GET", f"/v1/claims/{claims['A'][0]['id']}")).json()
        assert paid["status"] == "paid" and paid["debtor_id"] == debtor_a
        erased_export = await export(a, debtor_a)
        assert not [p for p in PERSONAL if p.lower() in json.dumps(erased_export, ensure_ascii=False).lower()]

    # A send under way at the erasure may publish after it; the retention sweeper takes the event
    # out of the outbox at its next round.
    async def clean() -> bool:
        return await search_schemas(stack.database_url, PERSONAL) == {}

    with contextlib.suppress(AssertionError):
        await eventually(clean, timeout=30, interval=2.0)
    leftovers = await search_schemas(stack.database_url, PERSONAL)
    assert leftovers == {}, leftovers
    assert scan_logs(stack, PERSONAL) == {}
