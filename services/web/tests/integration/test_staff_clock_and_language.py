"""The staff pages' clock and language, over the real web service and PostgreSQL. What staff did
is stamped on the services' clock — the simulated one claim timelines use — while logins lock out
in real minutes; the pages speak the browser's language until the user picks one, and the pick
is kept with the user (it beats the browser's language on the next visit)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pyotp
import pytest
from krafa_kit.clock import SimulatedClock
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.testing import serving
from krafa_web.app import create_app
from krafa_web.settings import Settings
from pydantic import SecretStr

pytestmark = pytest.mark.integration

TOKEN = "test-operator-token"  # noqa: S105 — test values, not credentials
PASSWORD = "correct horse battery staple"  # noqa: S105
# The services' simulated clock: a Monday in March, a day passing every ten minutes — far from
# the wall clock, so a time on the wrong clock cannot pass for the right one.
SIM_START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SPEED = 144.0


@dataclass
class Web:
    url: str
    database_url: str
    clock: SimulatedClock

    async def audit(self, email: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url, server_settings={"search_path": "web"})
        try:
            return list(await conn.fetch("SELECT * FROM staff_audit WHERE email = $1 ORDER BY id", email))
        finally:
            await conn.close()


@pytest.fixture
async def web(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[Web]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        consume=False,
        operator_token=SecretStr(TOKEN),
        portal_link_secret=SecretStr("links"),
        portal_url=url,
        cookie_secure=False,
        lockout_failures=3,
        claims_api_url=f"http://127.0.0.1:{free_port()}",  # nothing there: these pages need no service
    )
    clock = SimulatedClock(SIM_START, time.time(), SPEED)
    async with serving(create_app(settings, clock), port):
        yield Web(url, database_url, clock)


async def operator(web: Web, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=web.url, timeout=30) as client:
        answer = await client.post(
            "/v1/staff-users",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"creditor_id": None, "email": email, "name": "Óli", "role": "operator", "password": PASSWORD},
        )
    assert answer.status_code == 201, answer.text
    return {"email": email, **answer.json()}


def browser(web: Web, language: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=web.url, timeout=30, headers={"Origin": web.url, "Accept-Language": language})


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def log_in(
    client: httpx.AsyncClient, user: dict[str, str], password: str = PASSWORD, *, ahead: int = 0
) -> httpx.Response:
    """Password, then the authenticator's code (`ahead` steps on: a code works once, and the
    service accepts the neighbouring step for clock drift)."""
    form = {"csrf": await csrf_of(client, "/staff/login"), "email": user["email"], "password": password}
    first = await client.post("/staff/login", data=form)
    if first.status_code != 303:
        return first
    totp = pyotp.TOTP(user["totp_secret"])
    code = totp.at(time.time() + ahead * totp.interval)
    return await client.post(
        "/staff/login/code", data={"csrf": await csrf_of(client, "/staff/login/code"), "code": code}
    )


async def test_staff_actions_are_stamped_on_the_services_clock_and_lockouts_count_real_minutes(web: Web) -> None:
    user = await operator(web, "oli@agency.localhost")
    async with browser(web, "en-GB") as client:
        before = web.clock.now()
        assert (await log_in(client, user)).status_code == 303
        after = web.clock.now()
        audit = await client.get("/ops/audit")
    login = next(r for r in await web.audit(user["email"]) if r["action"] == "login")
    # On the simulated clock (as the claims' timelines), not the wall clock; the wall time is kept
    # beside it for the lockout count.
    assert before <= login["at"] <= after
    assert abs(login["recorded_at"] - datetime.now(UTC)) < timedelta(minutes=1)
    # The audit page shows that time (the agency's pages read UTC).
    assert login["at"].strftime("%-d %b %Y") in audit.text and "2026" in audit.text

    # Three wrong passwords in a few real seconds lock the login, though the services' clock moved
    # hours meanwhile: the lockout window is real minutes.
    locked_user = await operator(web, "gudny@agency.localhost")
    async with browser(web, "en-GB") as client:
        for _ in range(3):
            assert (await log_in(client, locked_user, "wrong password")).status_code == 401
        refused = await log_in(client, locked_user)
    assert refused.status_code == 401 and "Too many failed attempts" in refused.text


async def test_the_pages_speak_the_browsers_language_until_the_user_picks_one(web: Web) -> None:
    async with browser(web, "nb-NO,nb;q=0.9,en;q=0.5") as client:
        login = await client.get("/staff/login")
        assert '<html lang="nb">' in login.text and "E-postadresse" in login.text
    user = await operator(web, "siri@agency.localhost")
    async with browser(web, "et-EE") as client:
        assert (await log_in(client, user)).status_code == 303
        page = await client.get("/ops/audit")
        assert '<html lang="et">' in page.text and "Tegevuslogi" in page.text
        # The switcher: Icelandic, saved with the user.
        picked = await client.post(
            "/staff/language",
            data={"csrf": await csrf_of(client, "/ops/audit"), "language": "is", "next": "/ops/audit"},
        )
        assert picked.status_code == 303 and picked.headers["location"] == "/ops/audit"
        assert "Aðgerðaskrá" in (await client.get("/ops/audit")).text
        forged = await client.post("/staff/language", data={"csrf": "not-it", "language": "en"})
        assert forged.status_code == 403
    # Another browser, another language: the user's choice wins once they are logged in.
    async with browser(web, "en-GB") as client:
        assert "Log in" in (await client.get("/staff/login")).text
        assert (await log_in(client, user, ahead=1)).status_code == 303
        page = await client.get("/ops/audit")
        assert '<html lang="is">' in page.text and "Allar innskráningar og aðgerðir" in page.text
