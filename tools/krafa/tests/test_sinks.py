"""The local stand-ins for mail servers and providers, exercised over their real protocols."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Request
from krafa.sinks.provider_sink import count_pdf_pages, create_app, sms_segments, twilio_signature
from krafa.sinks.smtp_catcher import SmtpCatcher, build_dsn, read_spool
from krafa_kit.testing import eventually, serving

RETURN_PATH = "bounce+TOKEN123@returns.test"
TWO_PAGE_PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
    b"4 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _letter(subject: str, to: str, sender: str = RETURN_PATH) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Krafa innheimta <innheimta@krafa.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<notice-1@krafa.test>"
    msg.set_content("Greiðsluáskorun: vinsamlegast greiðið.\n")
    return msg


@dataclass
class _Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class _Receiver:
    """A tiny SMTP server standing in for the bounce handler."""

    port: int
    received: list[_Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        self.received.append(_Received(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content))
        self.arrived.set()
        return "250 OK"


async def _start_receiver(port: int = 0) -> tuple[_Receiver, asyncio.Server]:
    loop = asyncio.get_running_loop()
    receiver = _Receiver(port)
    server = await loop.create_server(lambda: SMTP(receiver, hostname="bounces.test", loop=loop), "127.0.0.1", port)
    receiver.port = int(server.sockets[0].getsockname()[1])
    return receiver, server


@pytest.fixture
async def catcher(tmp_path: Path) -> AsyncIterator[SmtpCatcher]:
    c = SmtpCatcher(tmp_path / "mail", hostname="mx.catcher.test", bounce_domains=["invalid.example"])
    await c.start()
    yield c
    await c.stop(dsn_grace=0)


async def test_catcher_spools_message_with_envelope(catcher: SmtpCatcher) -> None:
    await aiosmtplib.send(
        _letter("Innheimtuviðvörun", "jon@example.is"),
        hostname="127.0.0.1",
        port=catcher.port,
        sender=RETURN_PATH,
        recipients=["jon@example.is", "gunna@example.is"],
    )

    [msg] = catcher.messages()
    assert msg.mail_from == RETURN_PATH
    assert msg.rcpt_tos == ["jon@example.is", "gunna@example.is"]
    assert msg.message_id == "<notice-1@krafa.test>"
    assert msg.subject == "Innheimtuviðvörun"
    assert msg.bounced == []
    assert msg.file.parent == catcher.spool / "new"
    assert msg.file.name.endswith(".eml")
    assert list((catcher.spool / "tmp").iterdir()) == []

    raw = msg.raw()
    first, second, rest = raw.split(b"\r\n", 2)
    assert first == f"X-Krafa-Envelope-From: <{RETURN_PATH}>".encode()
    assert second == b"X-Krafa-Envelope-To: <jon@example.is>, <gunna@example.is>"
    assert b"Subject: " in rest
    parsed = msg.as_email()
    assert parsed["X-Krafa-Envelope-From"] == f"<{RETURN_PATH}>"
    assert "Greiðsluáskorun" in parsed.get_content()

    [line] = (catcher.spool / "index.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert set(record) >= {"file", "mail_from", "rcpt_tos", "message_id", "subject", "received_at"}
    assert record["file"] == f"new/{msg.file.name}"
    assert read_spool(catcher.spool) == catcher.messages()
    assert catcher.dsns() == []


async def test_spool_names_sort_in_arrival_order(catcher: SmtpCatcher) -> None:
    for n in range(3):
        await aiosmtplib.send(_letter(f"n{n}", "a@example.is"), hostname="127.0.0.1", port=catcher.port)
    names = sorted(p.name for p in (catcher.spool / "new").iterdir())
    assert [m.file.name for m in catcher.messages()] == names
    assert [m.subject for m in catcher.messages()] == ["n0", "n1", "n2"]


def _parts(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return [p for p in payload if isinstance(p, Message)]


def _delivery_status(dsn: Message) -> list[Message]:
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    parts = _parts(dsn)
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    return _parts(parts[1])


async def test_bounce_domain_gets_one_rfc3464_dsn_to_return_path(tmp_path: Path) -> None:
    receiver, rx_server = await _start_receiver()
    catcher = SmtpCatcher(
        tmp_path / "mail",
        hostname="mx.catcher.test",
        bounce_domains=["invalid.example"],
        bounce_to=("127.0.0.1", receiver.port),
    )
    await catcher.start()
    try:
        await aiosmtplib.send(
            _letter("Krafa", "nobody@invalid.example"),
            hostname="127.0.0.1",
            port=catcher.port,
            sender=RETURN_PATH,
            recipients=["nobody@invalid.example", "bounce-gone@example.is", "ok@example.is"],
        )
        async with asyncio.timeout(10):
            await receiver.arrived.wait()
            await catcher.wait_dsns_idle()
        await asyncio.sleep(0.2)  # anything extra would have arrived by now
    finally:
        await catcher.stop(dsn_grace=0)
        rx_server.close()
        await rx_server.wait_closed()

    [got] = receiver.received
    assert got.mail_from.strip("<>") == ""  # aiosmtpd spells MAIL FROM:<> as "<>"
    assert got.rcpt_tos == [RETURN_PATH]

    dsn = message_from_bytes(got.data, policy=default_policy)
    assert dsn["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.catcher.test"
    assert dsn["To"].addresses[0].addr_spec == RETURN_PATH
    assert dsn["In-Reply-To"] == "<notice-1@krafa.test>"
    per_message, *per_recipient = _delivery_status(dsn)
    assert per_message["Reporting-MTA"] == "dns; mx.catcher.test"
    assert per_message["Arrival-Date"]
    failed = {b["Final-Recipient"]: b for b in per_recipient}
    assert set(failed) == {"rfc822; nobody@invalid.example", "rfc822; bounce-gone@example.is"}
    block = failed["rfc822; nobody@invalid.example"]
    assert block["Action"] == "failed"
    assert block["Status"] == "5.1.1"
    assert block["Diagnostic-Code"] == (
        "smtp; 550 5.1.1 <nobody@invalid.example>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    original_headers = str(_parts(dsn)[2].get_payload())
    assert "Message-ID: <notice-1@krafa.test>" in original_headers

    # The message itself was accepted (the bounce is asynchronous) and marked.
    [msg] = catcher.messages()
    assert msg.bounced == ["nobody@invalid.example", "bounce-gone@example.is"]
    [copy] = catcher.dsns()
    assert copy.return_path == RETURN_PATH
    assert copy.file.parent == catcher.spool / "dsn"
    assert copy.raw().endswith(got.data)


async def test_dsn_delivery_retries_until_bounce_receiver_is_up(tmp_path: Path) -> None:
    port = _free_port()
    catcher = SmtpCatcher(
        tmp_path / "mail",
        hostname="mx.catcher.test",
        bounce_domains=["invalid.example"],
        bounce_to=("127.0.0.1", port),
        dsn_retry_initial=0.1,
    )
    await catcher.start()
    rx_server: asyncio.Server | None = None
    try:
        # The SMTP session must not wait for the DSN: this returns while nobody listens.
        async with asyncio.timeout(5):
            await aiosmtplib.send(_letter("x", "a@invalid.example"), hostname="127.0.0.1", port=catcher.port)
        await asyncio.sleep(0.5)
        assert catcher.pending_dsns == 1
        receiver, rx_server = await _start_receiver(port)
        async with asyncio.timeout(15):
            await receiver.arrived.wait()
        assert len(receiver.received) == 1
        assert receiver.received[0].mail_from.strip("<>") == ""
    finally:
        await catcher.stop(dsn_grace=0)
        if rx_server is not None:
            rx_server.close()
            await rx_server.wait_closed()


async def test_null_return_path_is_never_bounced(tmp_path: Path) -> None:
    catcher = SmtpCatcher(tmp_path / "mail", bounce_domains=["invalid.example"], bounce_to=("127.0.0.1", _free_port()))
    async with catcher:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=catcher.port) as client:
            await client.sendmail("", ["x@invalid.example"], _letter("x", "x").as_bytes())
        assert catcher.pending_dsns == 0
    assert catcher.dsns() == []
    assert catcher.messages()[0].bounced == ["x@invalid.example"]


def test_build_dsn_is_parseable_even_with_lf_only_original() -> None:
    from datetime import UTC, datetime

    raw = build_dsn(
        reporting_mta="mx.test",
        return_path="r@x.test",
        failed_rcpts=["a@b.test"],
        original=b"Subject: hi\nMessage-ID: <1@x>\n\nbody\n",
        arrival=datetime(2025, 1, 2, tzinfo=UTC),
        original_message_id="<1@x>",
    )
    assert b"\n" not in raw.replace(b"\r\n", b"")
    [_, block] = _delivery_status(message_from_bytes(raw, policy=default_policy))
    assert block["Status"] == "5.1.1"


async def _read_ready(proc: asyncio.subprocess.Process, kind: str) -> tuple[str, int]:
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = (await proc.stdout.readline()).decode().strip()
    prefix = f"READY {kind} "
    assert line.startswith(prefix), line
    host, _, port = line.removeprefix(prefix).rpartition(":")
    return host, int(port)


async def _terminate(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)  # only the child we started, by its pid
    async with asyncio.timeout(20):
        return await proc.wait()


async def test_catcher_cli_ready_line_and_clean_sigterm(tmp_path: Path) -> None:
    spool = tmp_path / "cli-mail"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "krafa.sinks.smtp_catcher",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--spool",
        str(spool),
        "--bounce-domains",
        "invalid.example",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        host, port = await _read_ready(proc, "smtp")
        assert host == "127.0.0.1"
        await aiosmtplib.send(_letter("cli", "jon@example.is"), hostname=host, port=port)
        [msg] = read_spool(spool)
        assert msg.subject == "cli"
    finally:
        code = await _terminate(proc)
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    assert code == 0, stderr
    # Log lines carry ids and counts, never addresses.
    assert "jon@example.is" not in stderr


async def test_provider_cli_ready_line_and_clean_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "krafa.sinks.provider_sink",
        "--port",
        "0",
        "--spool",
        str(tmp_path / "prov"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        host, port = await _read_ready(proc, "http")
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            r = await client.post("/sms/messages", json={"to": "+3546901234", "text": "Hæ"})
            assert r.status_code == 201
    finally:
        code = await _terminate(proc)
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    assert code == 0, stderr
    assert "+3546901234" not in stderr


# --- provider sink ---------------------------------------------------------------------------


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "prov")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink.test") as client:
        yield client


async def test_sms_is_idempotent_on_client_ref(provider: httpx.AsyncClient, tmp_path: Path) -> None:
    body = {"to": "+3546612345", "from": "Krafa", "text": "Þú átt ógreidda kröfu.", "client_ref": "notice-42-sms"}
    first = await provider.post("/sms/messages", json=body)
    second = await provider.post("/sms/messages", json=body)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first.json()["status"] == "accepted"
    assert first.json()["segments"] == 1
    assert first.json()["currency"] == "ISK"
    assert second.headers["Idempotent-Replayed"] == "true"
    lines = (tmp_path / "prov" / "sms" / "index.jsonl").read_text().splitlines()
    assert len(lines) == 1

    other = await provider.post("/sms/messages", json={**body, "client_ref": "notice-43-sms"})
    assert other.json()["id"] != first.json()["id"]
    stats = (await provider.get("/stats")).json()
    assert stats["sms"] == 2
    assert stats["replayed"]["sms"] == 1
    fetched = await provider.get(f"/sms/messages/{first.json()['id']}")
    assert fetched.json()["request"]["to"] == "+3546612345"


async def test_sms_idempotency_survives_restart(tmp_path: Path) -> None:
    body = {"to": "+3546612345", "text": "x", "client_ref": "r1"}
    responses = []
    for _ in range(2):
        app = create_app(tmp_path / "prov")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink.test") as client:
            responses.append((await client.post("/sms/messages", json=body)).json())
    assert responses[0] == responses[1]


async def test_sms_rejects_bad_number_with_problem_json(provider: httpx.AsyncClient) -> None:
    r = await provider.post("/sms/messages", json={"to": "6612345", "text": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 422


def test_sms_segments() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("þ" * 70) == 1
    assert sms_segments("þ" * 71) == 2


async def test_twilio_shape(provider: httpx.AsyncClient) -> None:
    r = await provider.post(
        "/twilio/2010-04-01/Accounts/AC123/Messages.json",
        data={"To": "+3546612345", "From": "+15005550006", "Body": "Halló"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["sid"].startswith("SM")
    assert body["account_sid"] == "AC123"
    assert body["status"] == "queued"
    assert body["num_segments"] == "1"
    bad = await provider.post(
        "/twilio/2010-04-01/Accounts/AC123/Messages.json", data={"To": "nope", "From": "+15005550006", "Body": "x"}
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == 21211
    assert (await provider.get("/stats")).json()["sms"] == 1


async def test_print_letter_stored_and_idempotent(provider: httpx.AsyncClient, tmp_path: Path) -> None:
    form = {"client_ref": "letter-7", "recipient_name": "Jón Jónsson", "country": "IS"}
    files = {"file": ("notice.pdf", TWO_PAGE_PDF, "application/pdf")}
    r = await provider.post("/print/letters", data=form, files=files)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "queued"
    assert body["pages"] == 2
    assert body["currency"] == "ISK"
    assert (tmp_path / "prov" / "print" / "letter-7.pdf").read_bytes() == TWO_PAGE_PDF
    [line] = (tmp_path / "prov" / "print" / "index.jsonl").read_text().splitlines()
    assert json.loads(line)["id"] == body["id"]

    again = await provider.post("/print/letters", data=form, files=files)
    assert again.status_code == 201
    assert again.json() == body
    assert (await provider.get("/stats")).json()["print"] == 1


async def test_print_rejects_non_pdf_with_problem_json(provider: httpx.AsyncClient, tmp_path: Path) -> None:
    r = await provider.post(
        "/print/letters",
        data={"client_ref": "letter-8", "recipient_name": "Jón", "country": "IS"},
        files={"file": ("notice.pdf", b"<html>not a pdf</html>", "application/pdf")},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert problem["type"].endswith("not-a-pdf")
    assert problem["instance"] == "/print/letters"
    assert not (tmp_path / "prov" / "print" / "letter-8.pdf").exists()
    assert (await provider.get("/stats")).json()["print"] == 0


async def test_print_rejects_path_like_client_ref(provider: httpx.AsyncClient) -> None:
    r = await provider.post(
        "/print/letters",
        data={"client_ref": "../escape", "recipient_name": "Jón", "country": "IS"},
        files={"file": ("n.pdf", TWO_PAGE_PDF, "application/pdf")},
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


async def test_netbank_document(provider: httpx.AsyncClient, tmp_path: Path) -> None:
    body = {
        "national_id": "010130-3019",
        "client_ref": "doc-1",
        "title": "Innheimtubréf",
        "pdf_base64": base64.b64encode(TWO_PAGE_PDF).decode(),
    }
    r = await provider.post("/netbank/documents", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["pages"] == 2
    assert (tmp_path / "prov" / "netbank" / "doc-1.pdf").read_bytes() == TWO_PAGE_PDF
    assert (await provider.post("/netbank/documents", json=body)).json() == r.json()
    not_pdf = await provider.post(
        "/netbank/documents",
        json={**body, "client_ref": "doc-2", "pdf_base64": base64.b64encode(b"GIF89a").decode()},
    )
    assert not_pdf.status_code == 422
    assert not_pdf.headers["content-type"] == "application/problem+json"
    stats = (await provider.get("/stats")).json()
    assert stats == {
        "sms": 0,
        "print": 0,
        "netbank": 1,
        "replayed": {"sms": 0, "print": 0, "netbank": 1},
        "injected_failures": 0,
    }
    assert (await provider.get("/healthz")).json() == {"status": "ok"}


async def test_fail_rate_is_deterministic_and_transient(tmp_path: Path) -> None:
    async def run(spool: Path) -> list[int]:
        app = create_app(spool, fail_rate=0.3, fail_seed=7)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink.test") as client:
            codes = []
            for n in range(40):
                r = await client.post("/sms/messages", json={"to": "+3546612345", "text": "x", "client_ref": f"r{n}"})
                if r.status_code == 503:
                    assert r.headers["Retry-After"] == "1"
                    assert r.headers["content-type"] == "application/problem+json"
                codes.append(r.status_code)
            stats = (await client.get("/stats")).json()
            assert stats["injected_failures"] == codes.count(503)
            assert stats["sms"] == codes.count(201)
            return codes

    first = await run(tmp_path / "a")
    assert first == await run(tmp_path / "b")
    assert 0 < first.count(503) < 40
    assert set(first) == {201, 503}


def test_count_pdf_pages_falls_back_to_page_tree_count() -> None:
    assert count_pdf_pages(TWO_PAGE_PDF) == 2
    assert count_pdf_pages(b"%PDF-1.7\n<< /Type /Pages /Count 5 /Kids [] >>") == 5
    assert count_pdf_pages(b"%PDF-1.7\n") == 1


RECEIPT_KEY = "receipt-key"


async def test_sms_receipts_are_posted_signed_and_report_unreachable_numbers(tmp_path: Path) -> None:
    received: list[tuple[str, bytes, dict[str, str]]] = []
    receiver = FastAPI()

    @receiver.post("/receipts/{provider}", status_code=204)
    async def receipt(provider: str, request: Request) -> None:
        received.append((provider, await request.body(), dict(request.headers)))

    app = create_app(tmp_path / "prov", receipt_secret=RECEIPT_KEY, undeliverable=("+4790000",))
    async with (
        serving(receiver) as url,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink.test") as sink,
    ):
        for to in ("+3546612345", "+4790000123"):
            r = await sink.post(
                "/sms/messages",
                json={"to": to, "text": "x", "client_ref": f"d-{to[1:]}", "callback_url": f"{url}/receipts/generic"},
            )
            assert r.status_code == 201
        twilio = await sink.post(
            "/twilio/2010-04-01/Accounts/AC1/Messages.json",
            data={"To": "+4790000999", "From": "Krafa", "Body": "x", "StatusCallback": f"{url}/receipts/twilio"},
            auth=("AC1", "tok"),
        )
        assert twilio.status_code == 201
        await eventually(lambda: len(received) == 3, timeout=30)
    statuses = {(b := json.loads(body))["client_ref"]: b["status"] for p, body, _ in received if p == "generic"}
    assert statuses == {"d-3546612345": "delivered", "d-4790000123": "failed"}
    for provider, body, headers in received:
        if provider == "generic":
            assert (
                headers["x-krafa-signature"]
                == "sha256=" + hmac.new(RECEIPT_KEY.encode(), body, hashlib.sha256).hexdigest()
            )
        else:
            params = dict(httpx.QueryParams(body.decode()))
            assert params["MessageStatus"] == "undelivered" and params["ErrorCode"] == "30003"
            assert params["MessageSid"] == twilio.json()["sid"]
            assert headers["x-twilio-signature"] == twilio_signature("tok", f"{url}/receipts/twilio", params)


async def test_netbank_document_by_customer_number(provider: httpx.AsyncClient) -> None:
    body = {
        "customer_no": "C-77",
        "client_ref": "doc-9",
        "title": "Reminder",
        "pdf_base64": base64.b64encode(TWO_PAGE_PDF).decode(),
    }
    assert (await provider.post("/netbank/documents", json=body)).status_code == 201
    nobody = {**body, "client_ref": "doc-10", "customer_no": None}
    r = await provider.post("/netbank/documents", json=nobody)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
