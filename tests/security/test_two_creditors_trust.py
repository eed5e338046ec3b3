"""Two creditors with the same customer numbers, debtor, email, phone and national id side by side,
through all five services over one real PostgreSQL: claims-api serves HTTP; the other four are
each service's own event handlers and use cases on its own migrated schema, and the events between
them are carried from every outbox to every inbox the way the consumers do (inbox record and
handler in one transaction), so the test is deterministic and takes seconds.

- A reference one creditor holds is refused to the other; each payment settles the right
  creditor's claim because the account it was paid into says whose it is.
- Each creditor's reminder to the same address comes back as a webmail "Failure Notice" (plain
  text, quoting the reminder): the bounce-handler classifies and records it, and its EmailBounced
  makes the notifier suppress the address for that creditor and plan a letter.
- The export of a debtor holds every service's part: the address each reminder went to, the
  returned message, the payer's name and account, the timeline.
- After one creditor's erasure only its rows are pseudonymised (the other's copy of the same person
  stays); after both, a search of every column of every table of all five schemas finds none of
  the debtor's name, email, phone, national id, street or payer account, and neither do the log
  lines the services wrote all along (as their processes write them: JSON, redacted).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from krafa_events import DecodedEvent, decode
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.logs import configure_logging
from krafa_kit.migrations import migrate_async
from krafa_kit.testing import serving
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054
from pydantic import SecretStr

pytestmark = pytest.mark.integration

NAME = "Sigríður Þórhallsdóttir"
STREET = "Brekkugata 17"
EMAIL = "sigridur.th@example.is"
PHONE = "+3545551234"
NATIONAL_ID = "1201743399"
PAYER_ACCOUNT = "0111-26-654321"
SHARED_REFERENCE = "RF471234567890"
PERSONAL = (NAME, STREET, EMAIL, PHONE, "555 1234", NATIONAL_ID, "120174-3399", PAYER_ACCOUNT)
ACCOUNTS = {
    "A": ("0159-26-007654", "IS140159260076545510730339"),
    "B": ("0133-26-012345", "IS850133260123455510730339"),
}
SECRET = SecretStr("a test value")  # the return-path secret notifier and bounce-handler require
TODAY = date.today()


@dataclass
class Service:
    """One service's handlers on its own schema, fed the way its consumer feeds them."""

    name: str
    db: Database
    consumers: dict[str, dict[str, Any]]  # inbox consumer name → event type → handler (main and lanes)
    read_upto: int = 0
    handled: list[str] = field(default_factory=list)

    async def deliver(self, event: DecodedEvent) -> None:
        for consumer, routes in self.consumers.items():
            handler = routes.get(event.type)
            if handler is None:
                continue
            async with self.db.uow() as uow:
                first = await uow.conn.fetchval(
                    "INSERT INTO inbox (event_id, consumer, event_type) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    uuid.UUID(event.id),
                    consumer,
                    event.type,
                )
                if first:
                    await handler(uow, event)
                    await uow.commit()
                    self.handled.append(event.type)

    async def published(self) -> list[DecodedEvent]:
        """What this service wrote to its outbox since the last call, marked published as its relay
        marks it (an erasure then deletes the published events about the debtor)."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, headers, key, value FROM outbox WHERE id > $1 ORDER BY id", self.read_upto
            )
            if rows:
                self.read_upto = rows[-1]["id"]
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id <= $1 AND published_at IS NULL", self.read_upto
                )
        return [
            decode([(n, v.encode()) for n, v in json.loads(r["headers"])], bytes(r["value"]), bytes(r["key"]))
            for r in rows
        ]


@dataclass
class Krafa:
    services: dict[str, Service]
    http: httpx.AsyncClient
    database_url: str

    async def pump(self) -> None:
        """Carry every published event to every other service until nothing new is published."""
        while True:
            moved = 0
            for source in self.services.values():
                for event in await source.published():
                    moved += 1
                    for target in self.services.values():
                        if target is not source:
                            await target.deliver(event)
            if not moved:
                return


def _consumers(name: str, app: Any) -> dict[str, dict[str, Any]]:
    """The service's main consumer and each of its lanes (krafa_kit.runtime.Lane), by inbox name."""
    spec = app.state.runtime.spec
    consumers = {name: {model.TYPE: handler for model, handler in spec.routes.items()}}
    for lane in getattr(spec, "lanes", ()):
        consumers[f"{name}.{lane.name}"] = {model.TYPE: handler for model, handler in lane.routes.items()}
    return consumers


async def _service(name: str, app: Any) -> Service:
    runtime = app.state.runtime
    await migrate_async(runtime.db.dsn, runtime.db.schema, runtime.spec.migrations)
    await runtime.db.connect()
    return Service(name, runtime.db, _consumers(name, app))


@pytest.fixture
async def krafa(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[Krafa]:
    from krafa_bounce_handler.app import create_app as bounce_app
    from krafa_bounce_handler.settings import Settings as BounceSettings
    from krafa_claims_api.app import create_app as claims_app
    from krafa_claims_api.settings import Settings as ClaimsSettings
    from krafa_notifier.app import create_app as notifier_app
    from krafa_notifier.settings import Settings as NotifierSettings
    from krafa_payments_ingest.app import create_app as payments_app
    from krafa_payments_ingest.settings import Settings as PaymentsSettings
    from krafa_scheduler.app import create_app as scheduler_app
    from krafa_scheduler.settings import Settings as SchedulerSettings

    common = {"database_url": database_url, "kafka_bootstrap": broker.bootstrap, "consume": False}
    claims = claims_app(ClaimsSettings(**common))
    others = {
        "scheduler": scheduler_app(SchedulerSettings(**common)),
        "notifier": notifier_app(NotifierSettings(**common, return_path_secret=SECRET)),
        "bounce-handler": bounce_app(BounceSettings(**common, return_path_secret=SECRET)),
        "payments-ingest": payments_app(PaymentsSettings(**common)),
    }
    async with serving(claims) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        services = {"claims-api": Service("claims-api", claims.state.runtime.db, _consumers("claims-api", claims))}
        try:
            for name, app in others.items():
                services[name] = await _service(name, app)
            yield Krafa(services, http, database_url)
        finally:
            for name, app in others.items():
                if name in services:
                    await app.state.runtime.db.close()


async def _creditor(krafa: Krafa, label: str) -> tuple[uuid.UUID, dict[str, str]]:
    from krafa_claims_api import service
    from krafa_claims_api.api.schemas import CreditorIn

    data = CreditorIn.model_validate(
        {
            "name": f"Creditor {label}",
            "payment_account": ACCOUNTS[label][0],
            "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
        }
    )
    # Use cases never commit (docs/adr/0010): the caller's unit of work does.
    async with krafa.services["claims-api"].db.uow() as uow:
        creditor_id, key = await service.create_creditor(uow, data)
        await uow.commit()
    return creditor_id, {"Authorization": f"Bearer {key.token}"}


def _claim(invoice: str, amount: int, reference: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invoice_no": invoice,
        "amount_minor": amount,
        "currency": "ISK",
        "due_date": TODAY.isoformat(),
        "debtor": {
            "customer_no": "C-1",
            "name": NAME,
            "country": "IS",
            "language": "is",
            "national_id": NATIONAL_ID,
            "email": EMAIL,
            "phone": PHONE,
            "address": {"lines": [STREET], "postcode": "600", "city": "Akureyri", "country": "IS"},
        },
    }
    if reference:
        body["reference"] = reference
    return body


async def _reminded_and_bounced(krafa: Krafa, creditor_id: uuid.UUID, claim: dict[str, Any]) -> None:
    """A reminder emailed and returned, through the services that handle it: the notifier's
    record of the send (the address and the message as sent), its ReminderSent handled by the
    bounce-handler, and the webmail provider's plain-text "Failure Notice" (no RFC 3464 part,
    quoting the reminder with the debtor's name) received at the signed return path, classified,
    recorded and announced as EmailBounced (which the notifier turns into a suppression)."""
    from krafa_bounce_handler import service as bounces
    from krafa_bounce_handler.domain import InboundMessage
    from krafa_events import encode, return_path
    from krafa_events.catalog import Channel, ReminderSent
    from krafa_kit.clock import WallClock

    debtor_id = uuid.UUID(claim["debtor_id"])
    delivery = uuid.uuid4()
    returns = return_path.encode(delivery, "returns.krafa.localhost", SECRET.get_secret_value().encode())
    content = {"subject": f"Innheimta: {NAME}", "text": f"{NAME}, {STREET}, 600 Akureyri"}
    async with krafa.services["notifier"].db.connection() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, reminder_id, kind, creditor_id, debtor_id, claim_ids, step, tone, template,"
            " channels, channel, status, recipient, return_path, due_at, sent_at, content)"
            " VALUES ($1, $1, 'reminder', $2, $3, $4, 1, 'friendly', 't', '{email}', 'email', 'sent', $5,"
            " $6, now(), now(), $7)",
            delivery,
            creditor_id,
            debtor_id,
            [uuid.UUID(claim["id"])],
            EMAIL,
            returns,
            content,
        )
    sent = ReminderSent(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        delivery_id=delivery,
        reminder_id=delivery,
        claim_ids=(uuid.UUID(claim["id"]),),
        step=1,
        channel=Channel.EMAIL,
        recipient=EMAIL,
        message_id=f"<{delivery}@reminders.krafa.localhost>",
        return_path=returns,
        sent_at=datetime.now(UTC),
    )
    encoded = encode(sent, source="notifier")
    await krafa.services["bounce-handler"].deliver(decode(list(encoded.headers), encoded.value, encoded.key))
    raw = (
        f"Return-Path: <>\r\nFrom: MAILER-DAEMON@yahoo.com\r\nTo: {returns}\r\nSubject: Failure Notice\r\n"
        "Date: Tue, 03 Mar 2026 09:14:21 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Sorry, we were unable to deliver your message to the following address.\r\n\r\n"
        f"<{EMAIL}>:\r\n554: delivery error: dd Sorry your message to {EMAIL} cannot be delivered. "
        "This mailbox is disabled (554.30).\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n"
        f"To: {EMAIL}\r\nSubject: Innheimta\r\n\r\nGóðan dag, {NAME}, {STREET}.\r\n"
    ).encode()
    [outcome] = await bounces.receive_message(
        krafa.services["bounce-handler"].db,
        WallClock(),
        InboundMessage(raw, "", (returns,)),
        secret=SECRET.get_secret_value().encode(),
    )
    assert outcome.delivery_id == delivery and outcome.bounce_id is not None, outcome


async def _payments(krafa: Krafa, claims: dict[str, list[dict[str, Any]]]) -> None:
    from krafa_payments_ingest import service

    db, now = krafa.services["payments-ingest"].db, datetime.now(UTC)
    # Into A's account: a transfer naming only "INV-2" (an invoice number of both creditors).
    text_only = [GeneratedCredit(8_000, "ISK", None, TODAY, "A-TEXT-1", NAME, "greiðsla INV-2")]
    a_file = camt054(text_only, account_iban=ACCOUNTS["A"][1], msg_id="A-1", created=now)
    # Into B's account: B's reference, by the payer's name.
    by_ref = [GeneratedCredit(12_000, "ISK", claims["B"][0]["reference"], TODAY, "B-REF-1", NAME)]
    b_file = camt054(by_ref, account_iban=ACCOUNTS["B"][1], msg_id="B-1", created=now)
    for data in (a_file, b_file):
        result = await service.import_file(db, data, None, now)
        assert result.matched == 1, result
    # A's shared reference from the payer's own account, as a real-time notification.
    note = service.Notification(
        "A-NOTE-1", 12_000, "ISK", SHARED_REFERENCE, None, TODAY, PAYER_ACCOUNT, account=ACCOUNTS["A"][0]
    )
    assert (await service.import_notifications(db, [note], "n" * 64, 100, now)).matched == 1


async def search_schemas(database_url: str, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Every row of every table of the five services' schemas, as text and (bytes columns) as bytes."""
    found: dict[str, list[str]] = {}
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema = ANY($1::text[])",
            ["claims", "scheduler", "notifier", "bounces", "payments"],
        )
        assert len({t["table_schema"] for t in tables}) == 5
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
                if await conn.fetchval(f"SELECT count(*) FROM {name} x WHERE {' OR '.join(where)}", needle):
                    found.setdefault(name, []).append(needle)
    finally:
        await conn.close()
    return found


@pytest.fixture
def service_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("krafa", "INFO", "json")
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_two_creditors_side_by_side_through_every_service(
    krafa: Krafa, service_logs: pytest.CaptureFixture[str]
) -> None:
    (id_a, a), (id_b, b) = await _creditor(krafa, "A"), await _creditor(krafa, "B")
    http = krafa.http

    # The same debtor and invoice numbers at both; A holds the self-supplied reference first.
    first_a = await http.post("/v1/claims", headers=a, json=_claim("INV-1", 12_000, SHARED_REFERENCE))
    assert first_a.status_code == 201, first_a.text
    taken = await http.post("/v1/claims", headers=b, json=_claim("INV-1", 12_000, SHARED_REFERENCE))
    assert taken.status_code == 409 and taken.json()["type"].endswith("/reference-in-use")
    assert first_a.json()["id"] not in taken.text
    claims = {
        "A": [first_a.json(), (await http.post("/v1/claims", headers=a, json=_claim("INV-2", 8_000))).json()],
        "B": [
            (await http.post("/v1/claims", headers=b, json=_claim("INV-1", 12_000))).json(),
            (await http.post("/v1/claims", headers=b, json=_claim("INV-2", 8_000))).json(),
        ],
    }
    assert claims["A"][0]["debtor_id"] != claims["B"][0]["debtor_id"]
    await krafa.pump()
    for name in ("scheduler", "notifier", "payments-ingest"):
        assert "krafa.claim.created.v1" in krafa.services[name].handled, name
    for creditor_id, items in ((id_a, claims["A"]), (id_b, claims["B"])):
        await _reminded_and_bounced(krafa, creditor_id, items[0])

    # Every payment settles the right creditor's claim.
    await _payments(krafa, claims)
    await krafa.pump()
    # Each returned email reached the notifier as EmailBounced: the address is suppressed for the
    # creditor whose reminder bounced, for each of the two.
    async with krafa.services["notifier"].db.connection() as conn:
        suppressed = await conn.fetch("SELECT creditor_id FROM suppressions WHERE address = lower($1)", EMAIL)
    assert sorted(r["creditor_id"] for r in suppressed) == sorted([id_a, id_b])
    states = {
        (label, i): (await http.get(f"/v1/claims/{item['id']}", headers=a if label == "A" else b)).json()["status"]
        for label, items in claims.items()
        for i, item in enumerate(items)
    }
    assert states == {("A", 0): "paid", ("A", 1): "paid", ("B", 0): "paid", ("B", 1): "open"}

    async def export(key: dict[str, str], debtor_id: str) -> dict[str, Any]:
        started = await http.post(f"/v1/debtors/{debtor_id}/exports", headers=key)
        assert started.status_code == 202, started.text
        await krafa.pump()
        document: dict[str, Any] = (await http.get(started.headers["location"], headers=key)).json()
        assert document["status"] == "complete", document
        return document

    parts = (await export(a, claims["A"][0]["debtor_id"]))["parts"]
    assert set(parts) == {"claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest"}
    assert parts["claims-api"]["debtor"]["national_id"] == NATIONAL_ID
    # The reminder as sent by email, and the letter the notifier planned when it bounced.
    assert [(d["kind"], d["channel"], d["recipient"]) for d in parts["notifier"]["deliveries"]] == [
        ("reminder", "email", EMAIL),
        ("fallback", None, None),
    ]
    assert {p["payer_account"] for p in parts["payments-ingest"]["payments"]} >= {PAYER_ACCOUNT}
    assert {t["claim_id"] for t in parts["scheduler"]["timelines"]} == {c["id"] for c in claims["A"]}
    assert EMAIL in parts["bounce-handler"]["returned_messages"][0]["message"]

    async def erase(key: dict[str, str], debtor_id: str) -> None:
        asked = await http.delete(f"/v1/debtors/{debtor_id}/personal-data", headers=key)
        assert asked.status_code in (200, 202), asked.text
        assert (await http.get(f"/v1/debtors/{debtor_id}/erasure", headers=key)).status_code == 202
        await krafa.pump()
        done = await http.get(f"/v1/debtors/{debtor_id}/erasure", headers=key)
        assert done.status_code == 200, done.text
        services = done.json()["request"]["services"]
        assert {s["service"] for s in services} == {
            "claims-api",
            "scheduler",
            "notifier",
            "bounce-handler",
            "payments-ingest",
        }
        assert all(s["status"] == "done" for s in services), services

    # A erases: B's copy of the very same person stays whole.
    await erase(a, claims["A"][0]["debtor_id"])
    kept = (await export(b, claims["B"][0]["debtor_id"]))["parts"]
    assert kept["claims-api"]["debtor"]["name"] == NAME and kept["notifier"]["deliveries"][0]["recipient"] == EMAIL
    assert EMAIL in kept["bounce-handler"]["returned_messages"][0]["message"]
    left = await search_schemas(krafa.database_url, (NAME, EMAIL, NATIONAL_ID))
    assert left, "B's rows still name the debtor"

    # The financial records stay, under a pseudonym.
    paid = (await http.get(f"/v1/claims/{claims['A'][0]['id']}", headers=a)).json()
    assert paid["status"] == "paid" and paid["debtor_id"] == claims["A"][0]["debtor_id"]

    await erase(b, claims["B"][0]["debtor_id"])
    assert await search_schemas(krafa.database_url, PERSONAL) == {}
    logged = service_logs.readouterr().err
    assert len(logged.splitlines()) > 10, logged  # the services did log (requests, events, erasures)
    assert [p for p in PERSONAL if p.lower() in logged.lower()] == []
