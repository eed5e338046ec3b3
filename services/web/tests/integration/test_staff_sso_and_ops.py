"""The web over the real pieces: PostgreSQL, the broker and the test OpenID Connect provider
(krafa.sinks.idp_sink, a real provider with PKCE, nonce and signed ID tokens). A creditor's clerk
signs in through the creditor's own provider; a person the creditor never added, a replayed
state and another browser are refused and audited; the client secret is sealed in the database.
An operator reviews and replays a dead letter from the page and the original reaches its topic,
marked replayed for `krafa dlq list` too; a clerk gets 403 on the operators' pages."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from krafa.sinks.idp_sink import create_app as create_idp
from krafa_events import ClaimCreated, Topic, encode
from krafa_events.testing import a_claim_created
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.kafka import create_producer
from krafa_kit.testing import TopicReader, eventually, serving
from krafa_web.app import create_app
from krafa_web.settings import Settings
from pydantic import SecretStr

pytestmark = pytest.mark.integration

TOKEN = "test-operator-token"  # noqa: S105 — test values, not credentials
CLIENT_SECRET = "idp-client-secret"  # noqa: S105
PASSWORD = "correct horse battery staple"  # noqa: S105
CREDITOR = uuid.uuid4()


@dataclass
class Web:
    url: str
    idp: str
    database_url: str

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, headers={"Origin": self.url})

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url, server_settings={"search_path": "web"})
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def add_user(self, role: str, email: str, creditor: uuid.UUID | None = CREDITOR) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            answer = await client.post(
                "/v1/staff-users",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={
                    "creditor_id": str(creditor) if creditor else None,
                    "email": email,
                    "name": email,
                    "role": role,
                    "password": PASSWORD,
                },
            )
        assert answer.status_code == 201, answer.text
        return {"email": email, **answer.json()}


@pytest.fixture
async def web(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[Web]:
    # The provider's issuer must be its own URL: both servers get their ports first.
    idp_port, web_port = free_port(), free_port()
    idp_url, web_url = f"http://127.0.0.1:{idp_port}", f"http://127.0.0.1:{web_port}"
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        consume=False,
        operator_token=SecretStr(TOKEN),
        portal_link_secret=SecretStr("links"),
        portal_url=web_url,
        cookie_secure=False,
        staff_oidc_keys=SecretStr(Fernet.generate_key().decode()),
        claims_api_url=f"http://127.0.0.1:{free_port()}",  # nothing there: pages must cope
    )
    idp = create_idp(issuer=idp_url, client_id="krafa", client_secret=CLIENT_SECRET)
    async with serving(idp, idp_port), serving(create_app(settings), web_port):
        yield Web(web_url, idp_url, database_url)


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sso_sign_in(web: Web, client: httpx.AsyncClient, email: str) -> httpx.Response:
    """The login page's single sign-on form, the provider's page, and the redirect back."""
    started = await client.post(
        "/staff/login/sso", data={"csrf": await csrf_of(client, "/staff/login"), "email": email}
    )
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    assert authorize.startswith(web.idp + "/authorize?")
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize and "login_hint=" in authorize
    async with httpx.AsyncClient(timeout=30) as provider:
        form = await provider.get(authorize)
        action = re.search(r'action="([^"]+)"', form.text)
        assert action and f'value="{email}"' in form.text  # the login hint, prefilled
        back = await provider.post(web.idp + action.group(1), data={"email": email, "name": "Anna"})
    assert back.status_code == 303
    return await client.get(back.headers["location"])


async def test_a_clerk_signs_in_with_the_creditors_own_provider(web: Web) -> None:
    clerk = await web.add_user("clerk", "anna@fram.example")
    admin = await web.add_user("admin", "boss@fram.example")
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as api:
        put = await api.put(
            f"/v1/creditors/{CREDITOR}/sso",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"issuer": web.idp, "client_id": "krafa", "client_secret": CLIENT_SECRET, "domains": ["Fram.example"]},
        )
        assert put.status_code == 200, put.text
        assert put.json()["redirect_uri"] == web.url + "/staff/sso/callback"
        # An issuer whose discovery does not answer is refused, and the refusal audited.
        wrong = await api.put(
            f"/v1/creditors/{CREDITOR}/sso",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "k", "domains": ["fram.example"]},
        )
        assert wrong.status_code == 422 and "sso_discovery" in wrong.text
    [stored] = await web.query("SELECT * FROM creditor_sso")
    assert CLIENT_SECRET not in stored["client_secret_sealed"] and stored["issuer"] == web.idp

    async with web.browser() as browser:
        landed = await sso_sign_in(web, browser, "Anna@fram.example")
        assert landed.status_code == 303 and landed.headers["location"] == "/creditor"
        assert "krafa_staff" in browser.cookies
        # Signed in: the session opens the creditor's pages (their data comes from claims-api,
        # absent here, so the page is the staff error page; the login page redirects home).
        home = await browser.get("/staff/login")
        assert home.status_code == 303 and home.headers["location"] == "/creditor"
        # The operators' pages are not a clerk's.
        for path in ("/ops/bounces", "/ops/dead-letters", "/ops/audit"):
            refused = await browser.get(path)
            assert refused.status_code == 403 and "You cannot do that with your role." in refused.text
    [bound] = await web.query("SELECT sso_issuer, sso_subject FROM staff_users WHERE id = $1", uuid.UUID(clerk["id"]))
    assert bound["sso_issuer"] == web.idp and bound["sso_subject"]
    rows = await web.query("SELECT action, outcome, detail FROM staff_audit WHERE email = $1", clerk["email"])
    assert ("login", "ok") in [(r["action"], r["outcome"]) for r in rows]
    assert json.loads(rows[-1]["detail"])["method"] == "sso"
    assert admin["email"]  # the admin is another user of the same creditor: not signed in by Anna's token


async def test_a_person_the_creditor_never_added_and_a_replayed_state_are_refused(web: Web) -> None:
    await web.add_user("clerk", "anna@fram.example")
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as api:
        put = await api.put(
            f"/v1/creditors/{CREDITOR}/sso",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"issuer": web.idp, "client_id": "krafa", "client_secret": CLIENT_SECRET, "domains": ["fram.example"]},
        )
        assert put.status_code == 200, put.text
    async with web.browser() as browser:
        refused = await sso_sign_in(web, browser, "gunnar@fram.example")
        assert refused.status_code == 403
        assert "has no Krafa user with the address gunnar@fram.example" in refused.text
        assert "krafa_staff" not in browser.cookies
        # An address of a domain no creditor set up: told so on the login page.
        not_set_up = await browser.post(
            "/staff/login/sso", data={"csrf": await csrf_of(browser, "/staff/login"), "email": "x@other.example"}
        )
        assert not_set_up.status_code == 400 and "not set up for that address" in not_set_up.text

    # The provider's redirect replayed in another browser (no binding cookie) signs nobody in.
    async with web.browser() as first:
        started = await first.post(
            "/staff/login/sso", data={"csrf": await csrf_of(first, "/staff/login"), "email": "anna@fram.example"}
        )
        async with httpx.AsyncClient(timeout=30) as provider:
            form = await provider.get(started.headers["location"])
            action = re.search(r'action="([^"]+)"', form.text)
            assert action
            back = await provider.post(web.idp + action.group(1), data={"email": "anna@fram.example"})
        async with web.browser() as other:
            stolen = await other.get(back.headers["location"])
            assert stolen.status_code == 400 and "expired or was started in another browser" in stolen.text
        # And the state is spent: the right browser cannot use it afterwards either.
        again = await first.get(back.headers["location"])
        assert again.status_code == 400
    outcomes = [
        (r["action"], r["outcome"], json.loads(r["detail"]).get("why"))
        for r in await web.query("SELECT * FROM staff_audit WHERE action = 'login.sso' ORDER BY id")
    ]
    assert ("login.sso", "refused", "unknown_user") in outcomes
    assert ("login.sso", "refused", "sso_state") in outcomes


async def test_a_creditor_that_requires_single_sign_on_turns_its_clerks_passwords_off(web: Web) -> None:
    clerk = await web.add_user("clerk", "anna@fram.example")
    admin = await web.add_user("admin", "boss@fram.example")
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as api:
        put = await api.put(
            f"/v1/creditors/{CREDITOR}/sso",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "issuer": web.idp,
                "client_id": "krafa",
                "client_secret": CLIENT_SECRET,
                "domains": ["fram.example"],
                "required": True,
            },
        )
        assert put.status_code == 200 and put.json()["required"] is True, put.text
    async with web.browser() as browser:
        refused = await browser.post(
            "/staff/login",
            data={"csrf": await csrf_of(browser, "/staff/login"), "email": clerk["email"], "password": PASSWORD},
        )
        assert refused.status_code == 401 and "use single sign-on below" in refused.text
    async with web.browser() as browser:
        await _log_in(web, browser, admin)  # the admin's way back in if the provider fails
    rows = await web.query(
        "SELECT outcome, detail FROM staff_audit WHERE email = $1 AND action = 'login.password'", clerk["email"]
    )
    assert [(r["outcome"], json.loads(r["detail"])["why"]) for r in rows] == [("refused", "sso_required")]


async def _log_in(web: Web, client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    answer = await client.post(
        "/staff/login",
        data={"csrf": await csrf_of(client, "/staff/login"), "email": user["email"], "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text
    code = pyotp.TOTP(user["totp_secret"]).now()
    answer = await client.post(
        "/staff/login/code", data={"csrf": await csrf_of(client, "/staff/login/code"), "code": code}
    )
    assert answer.status_code == 303, answer.text


async def test_an_operator_replays_a_dead_letter_after_the_dry_run(web: Web, broker: EmbeddedBroker) -> None:
    event = a_claim_created()
    encoded = encode(event, source="/test")
    producer = create_producer(Settings(portal_link_secret=SecretStr("x"), kafka_bootstrap=broker.bootstrap))
    await producer.start()
    try:
        # What krafa_kit.consumer writes when a group gives up on a record.
        await producer.send_and_wait(
            "krafa.claims.dlq",
            encoded.value,
            key=encoded.key,
            headers=[
                *encoded.headers,
                ("krafa_dlq_reason", b"UniqueViolationError: duplicate key"),
                ("krafa_dlq_service", b"scheduler"),
                ("krafa_dlq_consumer", b"scheduler"),
                ("krafa_dlq_source", b"krafa.claims/0/7"),
            ],
            partition=0,
        )
    finally:
        await producer.stop()
    operator = await web.add_user("operator", "ops@krafa.example", creditor=None)
    async with web.browser() as browser, TopicReader(broker.bootstrap, Topic.CLAIMS.value) as claims:
        await _log_in(web, browser, operator)
        listing = await browser.get("/ops/dead-letters")
        assert listing.status_code == 200 and encoded.event_id in listing.text and "duplicate key" in listing.text
        review = await browser.get("/ops/dead-letters/replay", params={"record": "krafa.claims.dlq/0/0"})
        assert review.status_code == 200 and "A dry run" in review.text and "krafa.claims/0/7" in review.text
        assert claims.of_type(ClaimCreated) == []  # the dry run sent nothing
        csrf = re.search(r'name="csrf" value="([^"]+)"', review.text)
        assert csrf
        done = await browser.post(
            "/ops/dead-letters/replay", data={"csrf": csrf.group(1), "record": "krafa.claims.dlq/0/0"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/ops/dead-letters?done=1"
        replayed = await eventually(lambda: [e for e in claims.of_type(ClaimCreated) if e.claim_id == event.claim_id])
        assert replayed
        after = await browser.get("/ops/dead-letters")
        assert "replayed" in after.text and "ops@krafa.example (web)" in after.text
        # Named again without "once more": refused, nothing sent, audited.
        refused = await browser.post(
            "/ops/dead-letters/replay", data={"csrf": csrf.group(1), "record": "krafa.claims.dlq/0/0"}
        )
        assert refused.headers["location"] == "/ops/dead-letters?refused=replayed"
    rows = await web.query(
        "SELECT action, outcome, target FROM staff_audit WHERE email = $1 ORDER BY id", operator["email"]
    )
    assert ("dlq.replay", "ok", f"event:{encoded.event_id}") in [tuple(r) for r in rows]
    assert ("dlq.replay", "refused") in [(r["action"], r["outcome"]) for r in rows]
