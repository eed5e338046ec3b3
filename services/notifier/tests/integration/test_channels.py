"""Every channel over the real PostgreSQL, broker, SMTP server (aiosmtpd) and the real local HTTP
provider (SMS with signed delivery receipts, print, netbank), in each language; and reminders
that became stale while queued are not sent."""

from __future__ import annotations

import base64
import email
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import dkim  # type: ignore[import-untyped]
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from krafa.sinks.provider_sink import create_app as create_provider_app
from krafa.sinks.smtp_catcher import SmtpCatcher
from krafa_events import Channel, ClaimCreated, DeliveryFailed, ReminderSent, Topic
from krafa_events.catalog import (
    ClaimDeferred,
    ClaimDisputed,
    ClaimHeld,
    CreditorSnapshot,
    DebtorUpdated,
    LedgerLine,
    ReminderDelivered,
)
from krafa_events.testing import a_balance_changed, a_claim_created, a_reminder_due
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_notifier import repository
from krafa_notifier.app import create_app
from krafa_notifier.settings import Settings
from pydantic import SecretStr
from pypdf import PdfReader

from .conftest import SECRET

pytestmark = pytest.mark.integration

RECEIPT_SECRET = "sink-receipt-secret"  # noqa: S105
TWILIO_SID, TWILIO_TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token"
NBSP = "\xa0"
UNREACHABLE = "+4790000"  # the sink accepts SMS to these numbers, then reports them undelivered

EN_FEE, EN_INTEREST = uuid.uuid4(), uuid.uuid4()


@dataclass
class Providers:
    smtp: SmtpCatcher
    url: str
    spool: Path

    def sms(self) -> list[dict[str, Any]]:
        index = self.spool / "sms" / "index.jsonl"
        return [json.loads(line) for line in index.read_text().splitlines()] if index.exists() else []

    def pdf_text(self, kind: str, client_ref: str) -> str:
        data = (self.spool / kind / f"{client_ref}.pdf").read_bytes()
        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
async def providers(tmp_path: Path) -> AsyncIterator[Providers]:
    sink = create_provider_app(tmp_path / "providers", receipt_secret=RECEIPT_SECRET, undeliverable=(UNREACHABLE,))
    async with SmtpCatcher(tmp_path / "mail", port=0) as smtp, serving(sink) as url:
        yield Providers(smtp, url, tmp_path / "providers")


def settings(database_url: str, broker: EmbeddedBroker, p: Providers, port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": broker.bootstrap,
        "smtp_port": p.smtp.port,
        "print_url": p.url,
        "netbank_url": f"{p.url}/netbank/documents",
        "sms_provider": "generic",
        "sms_url": p.url,
        "sms_receipt_secret": SecretStr(RECEIPT_SECRET),
        "public_url": f"http://127.0.0.1:{port}",
        "return_path_secret": SecretStr(SECRET),
        "return_domain": "returns.test",
        "operator_token": SecretStr("op-token"),
    }
    values.update(extra)
    return Settings(**values)


def claim_for(language: str, currency: str, amount_minor: int, fees_minor: int, **debtor: Any) -> ClaimCreated:
    base = a_claim_created()
    snapshot = base.debtor.model_copy(update={"language": language, "customer_no": f"C-{language}", **debtor})
    return a_claim_created(
        currency=currency,
        amount_minor=amount_minor,
        fees_minor=fees_minor,
        invoice_no=f"INV-{language.upper()}",
        debtor=snapshot,
        creditor=CreditorSnapshot(
            name="Fram",
            contact_phone="+354 555 1234",
            payment_account="IS14 0133 2601 2345 4103 6929",
            payment_link_template="https://pay.fram.example/{reference}?amount={amount_minor}",
        ),
    )


def parts(message: Message) -> tuple[str, str]:
    text, html = (
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if not part.is_multipart()
    )
    return text, html


async def test_every_channel_in_every_language(database_url: str, broker: EmbeddedBroker, providers: Providers) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    port = free_port()
    app = create_app(
        settings(
            database_url,
            broker,
            providers,
            port,
            dkim_selector="krafa",
            dkim_domain="fram.example",
            dkim_private_key=SecretStr(pem.decode()),
        ),
        clock=ManualClock(datetime(2026, 3, 3, 11, tzinfo=UTC)),  # a Tuesday morning: texting hours
    )
    no_address: dict[str, Any] = {"address": None}
    # is: SMS, delivered (receipt). nb: SMS to a handset that never gets it → email with a copy.
    # et: netbank document (opted in, no email). en: email with interest. is: letter (no email).
    sms_is = claim_for("is", "ISK", 10_000, 390, phone="+354 661 2345", email=None)
    sms_nb = claim_for("nb", "NOK", 123_450, 0, phone="+47 900 00 123", email="kari@example.no", country="NO")
    netbank_et = claim_for(
        "et", "EUR", 12_345, 0, email=None, netbank_opt_in=True, customer_no="1201743399", country="EE"
    )
    email_en = claim_for("en", "GBP", 5_000, 0, email="ann@example.co.uk", country="GB", **no_address)
    letter_is = claim_for("is", "ISK", 20_000, 0, email=None)
    sms_first = (Channel.SMS, Channel.EMAIL, Channel.LETTER)
    reminders = [
        a_reminder_due(sms_is, channels=sms_first),
        a_reminder_due(sms_nb, channels=sms_first, cc=("regnskap@fram.example",), bcc=("arkiv@fram.example",)),
        a_reminder_due(netbank_et),
        # Step 2 books a £5 fee and £2.25 interest: the email waits for the ledger to hold both.
        a_reminder_due(
            email_en,
            step=2,
            tone="firm",
            fee_minor=500,
            interest_minor=225,
            pay_by=date(2026, 4, 3),
            fee_ids=(EN_FEE, EN_INTEREST),
        ),
        a_reminder_due(letter_is),
    ]
    booked = a_balance_changed(
        email_en,
        LedgerLine(kind="fee", fee_kind="reminder_fee", step=2, charge_id=EN_FEE, amount_minor=500, fees_minor=500,
                   occurred_at=datetime(2026, 3, 20, 9, tzinfo=UTC)),
        LedgerLine(kind="interest", fee_kind="late_interest", step=2, charge_id=EN_INTEREST, amount_minor=225,
                   interest_minor=225, occurred_at=datetime(2026, 3, 20, 9, tzinfo=UTC), rate_pct=Decimal("8.5")),
    )  # fmt: skip
    async with serving(app, port=port), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as topic:
        await publish(broker.bootstrap, sms_is, sms_nb, netbank_et, email_en, letter_is, *reminders)
        await publish(broker.bootstrap, booked)
        await publish(broker.bootstrap, reminders[0])  # redelivered: still one SMS

        await eventually(
            lambda: len(topic.of_type(ReminderSent)) == 6, timeout=150
        )  # six sends, one a fallback after a receipt: slow on a busy machine
        await eventually(lambda: len(topic.of_type(ReminderDelivered)) == 2, timeout=150)
        sent = {e.reminder_id: e for e in topic.of_type(ReminderSent) if e.fallback_for is None}
        fallback = [e for e in topic.of_type(ReminderSent) if e.fallback_for is not None]

        # SMS (is): UCS-2 because of "ó", priced per segment, delivered by the signed receipt.
        sms = sent[reminders[0].reminder_id]
        assert sms.channel == Channel.SMS and sms.recipient == "+3546612345"
        assert sms.segments is not None and sms.segments >= 2
        assert (sms.cost_minor, sms.cost_currency) == (12 * sms.segments, "ISK")
        [sms_is_text] = [r["request"]["text"] for r in providers.sms() if r["request"]["to"] == "+3546612345"]
        # Written for SMS: no no-break space (Babel's, in amounts), within two segments.
        assert "10.390 kr." in sms_is_text and NBSP not in sms_is_text and sms.segments <= 2
        assert "https://pay.fram.example/RF18539007547034?amount=10390" in sms_is_text
        delivered = {e.delivery_id: e for e in topic.of_type(ReminderDelivered)}
        assert delivered[sms.delivery_id].channel == Channel.SMS

        # SMS (nb) failed per its receipt → DeliveryFailed → the email, with the copy and DKIM.
        [failed] = topic.of_type(DeliveryFailed)
        assert failed.channel == Channel.SMS and failed.fallback_channel == Channel.EMAIL
        [email_nb] = fallback
        assert email_nb.channel == Channel.EMAIL and email_nb.fallback_for == failed.delivery_id
        caught = {m.rcpt_tos[0]: m for m in providers.smtp.messages()}
        nb = caught["kari@example.no"]
        assert nb.rcpt_tos == ["kari@example.no", "regnskap@fram.example", "arkiv@fram.example"]
        message = email.message_from_bytes(nb.raw())
        assert message["Cc"] == "regnskap@fram.example" and message["Content-Language"] == "nb"
        # Blind: in the envelope only (the catcher records it as X-Krafa-Envelope-To), no header shows it.
        shown = [v for k, v in message.items() if not k.startswith("X-Krafa-Envelope")]
        assert message["Bcc"] is None and not any("arkiv@fram.example" in str(v) for v in shown)
        assert message["Message-ID"] == email_nb.message_id
        text, html = parts(message)
        assert f"1{NBSP}234,50{NBSP}kr" in text and f"1{NBSP}234,50{NBSP}kr" in html
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
        assert dkim.verify(nb.raw(), dnsfunc=lambda name, timeout=5: record)

        # Email (en): fee and interest itemised, pay-by date, the payment link, both parts.
        en = email.message_from_bytes(caught["ann@example.co.uk"].raw())
        subject = str(make_header(decode_header(en["Subject"])))
        assert subject == "Reminder: payment overdue: invoice INV-EN – Fram" and en["Content-Language"] == "en"
        text, html = parts(en)
        for expected in ("£50.00", "£5.00", "£2.25", "£57.25", "3 April 2026", "+354 555 1234"):
            assert expected in text and expected in html
        assert "https://pay.fram.example/RF18539007547034?amount=5725" in html

        # Netbank document (et): the letter's PDF, with the customer's national id; delivered.
        doc = sent[reminders[2].reminder_id]
        assert doc.channel == Channel.NETBANK and doc.recipient == "1201743399"
        assert (doc.cost_minor, doc.cost_currency) == (45, "ISK")
        assert delivered[doc.delivery_id].channel == Channel.NETBANK
        et_text = providers.pdf_text("netbank", str(doc.delivery_id))
        assert "123,45" in et_text and "€" in et_text
        assert "Jón Jónsson" in et_text and netbank_et.reference in et_text

        # Letter (is): postage recorded, amounts from the PDF's own text.
        paper = sent[reminders[4].reminder_id]
        assert paper.channel == Channel.LETTER and paper.cost_currency == "ISK" and paper.cost_minor == 245
        is_text = providers.pdf_text("print", str(paper.delivery_id))
        assert "20.000" in is_text and "Laugavegur 1" in is_text and "Greiðsluáminning" in is_text

        # A forged receipt is refused; an unknown provider is not found.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            forged = await client.post(
                "/v1/receipts/sms/generic",
                content=b'{"id": "x", "status": "failed"}',
                headers={"X-Krafa-Signature": "sha256=00"},
            )
            assert forged.status_code == 403 and forged.headers["content-type"] == "application/problem+json"
            assert (await client.post("/v1/receipts/sms/nope", content=b"{}")).status_code == 404
            reconciliation = await client.get(
                "/v1/costs",
                params={"since": "2026-03-01T00:00:00+00:00", "until": "2026-04-01T00:00:00+00:00"},
                headers={"Authorization": "Bearer op-token", "X-Krafa-Creditor-Id": str(sms_is.creditor_id)},
            )
            assert reconciliation.status_code == 200, reconciliation.text
            [line] = reconciliation.json()["items"]
            assert line == {
                "channel": "sms",
                "currency": "ISK",
                "messages": 1,
                "segments": sms.segments,
                "cost_minor": sms.cost_minor,
            }
    assert len(providers.sms()) == 2  # the redelivered ReminderDue sent nothing more
    assert len(providers.smtp.messages()) == 2


async def test_stale_reminders_are_dropped_and_twilio_receipts_are_verified(
    database_url: str, broker: EmbeddedBroker, providers: Providers
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 21, 30, tzinfo=UTC))  # Monday night: no texts
    port = free_port()
    app = create_app(
        settings(
            database_url,
            broker,
            providers,
            port,
            sms_provider="twilio",
            sms_url=f"{providers.url}/twilio",
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=SecretStr(TWILIO_TOKEN),
            sms_price_per_segment_minor=9,
            sms_price_currency="NOK",
        ),
        clock=clock,
    )
    now = datetime(2026, 3, 3, 8, tzinfo=UTC)
    disputed, held, deferred, moved, live = (a_claim_created() for _ in range(5))
    events: list[Any] = [disputed, held, deferred, moved, live]
    events += [
        ClaimDisputed(
            creditor_id=disputed.creditor_id,
            debtor_id=disputed.debtor_id,
            claim_id=disputed.claim_id,
            reason="never ordered",
            disputed_at=now,
        ),
        ClaimHeld(creditor_id=held.creditor_id, debtor_id=held.debtor_id, claim_id=held.claim_id, held_at=now),
        ClaimDeferred(
            creditor_id=deferred.creditor_id,
            debtor_id=deferred.debtor_id,
            claim_id=deferred.claim_id,
            due_date=date(2026, 4, 1),
            final_due_date=date(2026, 4, 11),
            deferred_at=datetime(2026, 3, 3, 10, tzinfo=UTC),  # after the reminder fell due (09:00)
        ),
        # The debtor's email was marked opted out: the snapshot no longer carries it → letter.
        DebtorUpdated(
            creditor_id=moved.creditor_id,
            debtor_id=moved.debtor_id,
            debtor=moved.debtor.model_copy(update={"email": None}),
            updated_at=datetime(2026, 3, 3, tzinfo=UTC),
        ),
    ]
    live_reminder = a_reminder_due(live, channels=(Channel.SMS, Channel.EMAIL))
    live_debtor = DebtorUpdated(
        creditor_id=live.creditor_id,
        debtor_id=live.debtor_id,
        debtor=live.debtor.model_copy(update={"phone": "+47 412 34 567", "language": "nb"}),
        updated_at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    async with serving(app, port=port), TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as topic:
        await publish(broker.bootstrap, *events, live_debtor)

        async def debtors_known() -> bool:
            # Debtor updates and reminders travel on different topics: a reminder read before the
            # live debtor's phone would rightly go out by email, which is not what this test asks.
            async with app.state.runtime.db.connection() as conn:
                live_snapshot = await repository.debtor(conn, live.creditor_id, live.debtor_id)
                moved_snapshot = await repository.debtor(conn, moved.creditor_id, moved.debtor_id)
            phone_known = bool(live_snapshot and live_snapshot.get("phone"))
            return phone_known and moved_snapshot is not None and not moved_snapshot.get("email")

        await eventually(debtors_known, timeout=60)
        await publish(broker.bootstrap, *(a_reminder_due(c) for c in (disputed, held, deferred, moved)), live_reminder)
        await eventually(lambda: len(topic.of_type(ReminderSent)) == 1, timeout=60)

        async def waits_for_morning() -> bool:
            async with app.state.runtime.db.connection() as conn:
                error = await conn.fetchval(
                    "SELECT last_error FROM deliveries WHERE $1 = ANY(claim_ids)", live.claim_id
                )
            return bool(error == "quiet hours")

        await eventually(waits_for_morning, timeout=60)
        assert providers.sms() == []
        clock.set(datetime(2026, 3, 3, 9, 5, tzinfo=UTC))  # Tuesday, 09:05 in Reykjavík
        await eventually(lambda: len(topic.of_type(ReminderSent)) == 2, timeout=60)
        await eventually(lambda: len(topic.of_type(ReminderDelivered)) == 1, timeout=60)
        by_claim = {e.claim_ids[0]: e for e in topic.of_type(ReminderSent)}
        assert by_claim[moved.claim_id].channel == Channel.LETTER
        sms = by_claim[live.claim_id]
        assert sms.channel == Channel.SMS and sms.recipient == "+4741234567" and sms.cost_currency == "NOK"
        assert sms.cost_minor == 9 * (sms.segments or 0)
        [request] = [r["request"] for r in providers.sms()]
        assert request["api"] == "twilio" and "Fram" in request["text"]
        [receipt] = topic.of_type(ReminderDelivered)
        assert receipt.delivery_id == sms.delivery_id

        db = app.state.runtime.db

        async def statuses() -> dict[uuid.UUID, str]:
            async with db.connection() as conn:
                rows = await conn.fetch("SELECT claim_ids[1] AS claim, status, last_error FROM deliveries")
            return {r["claim"]: r["status"] for r in rows}

        async def all_settled() -> bool:
            return all(s in {"dropped", "sent", "delivered"} for s in (await statuses()).values())

        await eventually(all_settled, timeout=60)
        final = await statuses()
        assert final[disputed.claim_id] == final[held.claim_id] == final[deferred.claim_id] == "dropped"

        # Twilio's callback must carry Twilio's signature over our public URL.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            unsigned = await client.post(
                "/v1/receipts/sms/twilio", data={"MessageSid": "SMx", "MessageStatus": "failed"}
            )
            assert unsigned.status_code == 403
    assert providers.smtp.messages() == []  # no email went to a disputed, held or deferred claim


async def test_agents_call_queue_and_creditor_templates(
    database_url: str, broker: EmbeddedBroker, providers: Providers
) -> None:
    from krafa_events.catalog import CallOutcomeRecorded

    clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))  # Monday, 10:00 in Reykjavík
    port = free_port()
    app = create_app(settings(database_url, broker, providers, port), clock=clock)
    first, second = a_claim_created(), a_claim_created()
    first = first.model_copy(update={"debtor": first.debtor.model_copy(update={"phone": "+354 661 2345"})})
    other_creditor = a_claim_created()
    calls = [
        a_reminder_due(c, channels=(Channel.CALL,), step=3, due_at=datetime(2026, 3, 2, 8, tzinfo=UTC))
        for c in (first, second)
    ]
    auth = {"Authorization": "Bearer op-token"}
    async with (
        serving(app, port=port),
        TopicReader(broker.bootstrap, Topic.NOTIFICATIONS) as topic,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as client,
    ):
        await publish(broker.bootstrap, first, second, other_creditor, *calls)

        async def due() -> list[dict[str, Any]]:
            r = await client.get("/v1/calls/due")
            assert r.status_code == 200, r.text
            items: list[dict[str, Any]] = r.json()["items"]
            return items if len(items) == 2 else []

        await eventually(due, timeout=60)
        assert (await client.get("/v1/calls/due", headers={"Authorization": "Bearer wrong"})).status_code == 401

        # Two agents at once never get the same call; a third finds nothing.
        import asyncio

        a, b = await asyncio.gather(*(client.post("/v1/calls/next", json={"agent": n}) for n in ("anna", "bjorn")))
        assert a.status_code == b.status_code == 200
        assert a.json()["task_id"] != b.json()["task_id"]
        assert (await client.post("/v1/calls/next", json={"agent": "carl"})).status_code == 204
        tasks = {t.json()["claim_ids"][0]: t.json() for t in (a, b)}
        task_first, task_second = tasks[str(first.claim_id)], tasks[str(second.claim_id)]

        # No answer at 10:00 → the afternoon window; a promise to pay → CallOutcomeRecorded.
        no_answer = await client.post(
            f"/v1/calls/{task_first['task_id']}/outcome",
            json={"outcome": "no_answer", "agent": task_first["claimed_by"]},
        )
        assert no_answer.status_code == 200, no_answer.text
        assert no_answer.json()["status"] == "open"
        assert no_answer.json()["next_window_opens_at"] == "2026-03-02T13:00:00+00:00"
        promise = await client.post(
            f"/v1/calls/{task_second['task_id']}/outcome",
            json={"outcome": "promise_to_pay", "promised_date": "2026-03-10", "agent": task_second["claimed_by"]},
        )
        assert promise.status_code == 200 and promise.json()["status"] == "done"
        missing_date = await client.post(
            f"/v1/calls/{task_first['task_id']}/outcome", json={"outcome": "promise_to_pay"}
        )
        assert missing_date.status_code == 422
        again = await client.post(f"/v1/calls/{task_second['task_id']}/outcome", json={"outcome": "reached"})
        assert again.status_code == 409
        await eventually(lambda: len(topic.of_type(CallOutcomeRecorded)) == 2, timeout=60)
        recorded = {e.outcome: e for e in topic.of_type(CallOutcomeRecorded)}
        assert recorded["promise_to_pay"].promised_date == date(2026, 3, 10)
        assert recorded["promise_to_pay"].claim_ids == (second.claim_id,)
        assert (await client.post("/v1/calls/next", json={"agent": "anna"})).status_code == 204
        clock.set(datetime(2026, 3, 2, 13, 5, tzinfo=UTC))
        afternoon = await client.post("/v1/calls/next", json={"agent": "anna"})
        assert afternoon.status_code == 200 and afternoon.json()["task_id"] == task_first["task_id"]
        # Claimed and never answered for, past the window: back in the queue for the next morning.
        clock.set(datetime(2026, 3, 2, 21, 0, tzinfo=UTC))
        assert (await client.get("/v1/calls/due")).json()["items"] == []
        clock.set(datetime(2026, 3, 3, 9, 30, tzinfo=UTC))
        [requeued] = (await client.get("/v1/calls/due")).json()["items"]
        assert requeued["task_id"] == task_first["task_id"] and requeued["status"] == "open"
        assert requeued["window_opens_at"] == "2026-03-03T09:00:00+00:00" and requeued["attempts"] == 1

        # The debtor calls back: the agent's screen gets the name and the open case.
        lookup = await client.get("/v1/calls/lookup", params={"phone": "661 2345"})
        assert lookup.status_code == 200
        [case] = lookup.json()["cases"]
        assert case["claim_id"] == str(first.claim_id) and case["debtor_name"] == "Jón Jónsson"

        # Creditor templates: saved after a sandboxed check; SSTI refused; previews; isolation.
        creditor = {"X-Krafa-Creditor-Id": str(first.creditor_id)}
        ssti = await client.put(
            "/v1/templates/reminder/sms/is",
            json={"body": "{{ v.__class__.__init__.__globals__ }}"},
            headers=creditor,
        )
        assert ssti.status_code == 422 and ssti.headers["content-type"] == "application/problem+json"
        saved = await client.put(
            "/v1/templates/reminder/sms/is",
            json={"body": "Halló {{ v.debtor_name }}, {{ v.first.total }} á reikning {{ v.account }}."},
            headers=creditor,
        )
        assert saved.status_code == 201, saved.text
        preview = await client.get(f"/v1/claims/{first.claim_id}/preview", params={"channel": "sms"}, headers=creditor)
        assert preview.status_code == 200, preview.text
        assert preview.json()["text"] == "Halló Jón Jónsson, 10.390 kr. á reikning 0159-26-007654."
        assert preview.json()["encoding"] == "UCS-2"
        email_preview = await client.post(
            "/v1/preview",
            json={"claim_ids": [str(first.claim_id)], "step": 3, "channel": "email", "language": "et"},
            headers=creditor,
        )
        assert email_preview.status_code == 200 and email_preview.json()["language"] == "et"
        assert f"10{NBSP}390{NBSP}ISK" in email_preview.json()["text"]
        foreign = await client.get(f"/v1/claims/{other_creditor.claim_id}/preview", headers=creditor)
        assert foreign.status_code == 404
        # The saved template is what the SMS says.
        await publish(broker.bootstrap, a_reminder_due(first, channels=(Channel.SMS,), step=4))
        await eventually(lambda: providers.sms(), timeout=60)
        assert providers.sms()[0]["request"]["text"].startswith("Halló Jón Jónsson, 10.390")
