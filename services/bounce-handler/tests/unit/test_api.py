"""The operator endpoint that classifies a raw message: no database needed, nothing recorded."""

from __future__ import annotations

import httpx
import pytest
from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.settings import Settings
from pydantic import SecretStr, ValidationError

DSN = (
    b"From: MAILER-DAEMON@mx.example.is\r\n"
    b"To: bounce+abc.def@returns.krafa.localhost\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.is\r\n\r\n"
    b"Final-Recipient: rfc822; jon@example.is\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
    b"--b--\r\n"
)


def client(**settings: object) -> httpx.AsyncClient:
    # No lifespan: the route needs neither the database nor the broker.
    app = create_app(Settings(return_path_secret=SecretStr("s"), **settings))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_parse_classifies_a_raw_message() -> None:
    async with client() as http:
        response = await http.post("/v1/bounces/parse", content=DSN, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "is_bounce": True,
        "kind": "hard",
        "recipients": [
            {"address": "jon@example.is", "kind": "hard", "status": "5.1.1", "reason": "550 5.1.1 User unknown"}
        ],
        "not_bounce_reason": None,
    }


async def test_parse_says_why_a_message_is_not_a_bounce() -> None:
    async with client() as http:
        response = await http.post("/v1/bounces/parse", content=b"Subject: Out of office\r\n\r\nAway.\r\n")
    assert response.json()["is_bounce"] is False
    assert response.json()["not_bounce_reason"] == "auto-reply"


async def test_parse_refuses_a_message_over_the_limit() -> None:
    async with client(max_message_bytes=100) as http:
        response = await http.post("/v1/bounces/parse", content=DSN)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_the_return_path_secret_has_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAFA_RETURN_PATH_SECRET", raising=False)
    with pytest.raises(ValidationError, match="return_path_secret"):
        Settings()
    settings = Settings(return_path_secret=SecretStr("s"))
    assert (settings.service_name, settings.http_port, settings.smtp_host, settings.smtp_port) == (
        "bounce-handler",
        8003,
        "127.0.0.1",
        2525,
    )
    assert (settings.return_domain, settings.max_message_bytes) == ("returns.krafa.localhost", 10 * 1024 * 1024)
