"""The creditor web and the agent desk in a real browser (Debian's Chromium via Playwright), on
the running stack: a clerk logs in with password and TOTP, finds and cancels a claim (the fee
shown), holds and releases one; a viewer cannot act and a clerk of one creditor never sees
another's claims (pages and search), each attempt audited; an inbound call in Twilio's shape
pops the caller's case up on the open agent page, and the recorded promise re-plans the claim.
One stack and one browser for the module; screenshots of each screen are taken on the way."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from krafa.browser import DESKTOP
from krafa.portal_driver import Creditor, wait_for
from krafa.stack import Stack
from krafa_events import Topic
from krafa_events.catalog import ClaimCancelled, ClaimDeferred, ClaimHeld
from krafa_kit.kafka_cluster import KafkaCluster
from krafa_kit.testing import TopicReader

from tests.e2e.conftest import make_stack

pytestmark = pytest.mark.e2e

# Refresh the README's pictures with KRAFA_SCREENSHOTS=docs/screenshots; a plain run keeps the tree clean.
SHOTS = Path(os.environ.get("KRAFA_SCREENSHOTS", Path(tempfile.gettempdir()) / "krafa-staff-screenshots"))
SHOTS.mkdir(parents=True, exist_ok=True)
PASSWORD = "correct horse battery staple"  # noqa: S105 — the test users' password


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None) -> Iterator[Stack]:
    # A calm clock (a simulated day every ten minutes): staff act on claims that stay put.
    instance = make_stack(tmp_path_factory.mktemp("staff"), day_seconds=600, kafka=stack_kafka)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


async def _creditor(stack: Stack, name: str) -> Creditor:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.url("claims-api") + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "name": name,
                "country": "IS",
                "currency": "ISK",
                "default_language": "is",
                "contact_phone": "+354 555 1234",
                "payment_account": "0133-26-012345",
                "sender_email": "innheimta@fram.localhost",
                "slip_fee_minor": 390,
                "cancellation_fee_minor": 290,
            },
        )
        response.raise_for_status()
        body = response.json()
    return Creditor(stack, body["api_key"], body["creditor_id"])


@pytest.fixture(scope="module")
async def creditors(stack: Stack) -> AsyncIterator[tuple[Creditor, Creditor]]:
    a = await _creditor(stack, "Ungmennafélagið Fram")
    b = await _creditor(stack, "Knattspyrnufélagið Valur")
    yield a, b
    await a.close()
    await b.close()


@pytest.fixture(scope="module")
async def topics(stack: Stack) -> AsyncIterator[TopicReader]:
    async with TopicReader(stack.broker.bootstrap, Topic.CLAIMS.value) as reader:
        yield reader


async def add_user(
    stack: Stack, role: str, creditor: Creditor | None = None, serves: list[str] | None = None
) -> dict[str, Any]:
    email = f"{role}.{uuid.uuid4().hex[:8]}@staff.localhost"
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            stack.url("web") + "/v1/staff-users",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "creditor_id": creditor.id if creditor else None,
                "email": email,
                "name": f"{role.capitalize()} Jónsdóttir",
                "role": role,
                "password": PASSWORD,
                "serves": serves or [],
            },
        )
        response.raise_for_status()
    return {"email": email, **response.json()}


async def log_in(stack: Stack, page: Any, user: dict[str, Any]) -> None:
    await page.goto(stack.url("web") + "/staff/login")
    await page.get_by_label("Email address").fill(user["email"])
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(user["totp_secret"]).now())
    async with page.expect_navigation():
        await page.get_by_role("button", name="Log in").click()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def audit_rows(stack: Stack, email: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": "web"})
    try:
        return await conn.fetch("SELECT * FROM staff_audit WHERE email = $1 ORDER BY id", email)
    finally:
        await conn.close()


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_a_clerk_logs_in_with_totp_finds_a_claim_and_cancels_it_with_the_fee_shown(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any, topics: TopicReader
) -> None:
    a, _ = creditors
    claim = await a.claim(1, email="anna@example.is", name="Anna Sigurðardóttir", language="is")
    held = await a.claim(2, email="bjarni@example.is", name="Bjarni Pálsson", language="is", amount=30_000)
    clerk = await add_user(stack, "clerk", a)
    await log_in(stack, page, clerk)
    assert page.url.endswith("/creditor"), page.url
    await page.get_by_role("heading", name="Open amount by days overdue").wait_for()
    await shot(page, "creditor-overview")

    await page.goto(stack.url("web") + "/creditor/claims")
    await page.get_by_label("Customer no.").fill("C-0001")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Filter").click()
    assert await page.get_by_role("link", name=claim["invoice_no"]).count() == 1
    assert await page.get_by_role("link", name=held["invoice_no"]).count() == 0
    await page.goto(stack.url("web") + "/creditor/claims")
    await shot(page, "creditor-claims")
    await page.get_by_role("link", name=claim["invoice_no"]).click()
    await page.wait_for_url(f"**/creditor/claims/{claim['id']}")
    fee = page.get_by_text("Cancelling costs")
    await fee.wait_for()
    assert "290 kr." in (await fee.inner_text()).replace("\xa0", " ")
    await shot(page, "creditor-claim")
    await page.get_by_label("Reason", exact=True).last.fill("paid in cash at the club")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Cancel the claim").click()
    await page.get_by_text("The claim is cancelled.").wait_for()
    assert (await a.get(claim["id"]))["status"] == "cancelled"
    cancelled = await wait_for(
        lambda: [e for e in topics.of_type(ClaimCancelled) if str(e.claim_id) == claim["id"]], 30, "ClaimCancelled"
    )
    assert cancelled

    await page.goto(stack.url("web") + f"/creditor/claims/{held['id']}")
    await page.get_by_label("Hold until (optional)").fill((date.today() + timedelta(days=400)).isoformat())
    async with page.expect_navigation():
        await page.get_by_role("button", name="Hold", exact=True).click()
    await page.get_by_text("The claim is on hold").wait_for()
    assert (await a.get(held["id"]))["status"] == "held"
    await wait_for(lambda: [e for e in topics.of_type(ClaimHeld) if str(e.claim_id) == held["id"]], 30, "ClaimHeld")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Release").click()
    assert (await a.get(held["id"]))["status"] == "open"

    actions = [(r["action"], r["outcome"], r["target"]) for r in await audit_rows(stack, clerk["email"])]
    assert ("login", "ok", None) in actions
    assert ("claim.cancel", "ok", f"claim:{claim['id']}") in actions
    assert ("claim.hold", "ok", f"claim:{held['id']}") in actions
    assert ("claim.release", "ok", f"claim:{held['id']}") in actions
    await page.goto(stack.url("web") + "/creditor/audit")
    await page.get_by_role("cell", name="claim.cancel").first.wait_for()
    await shot(page, "creditor-audit")


async def test_a_wrong_totp_code_is_refused_and_audited(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any
) -> None:
    a, _ = creditors
    viewer = await add_user(stack, "viewer", a)
    await page.goto(stack.url("web") + "/staff/login")
    await page.get_by_label("Email address").fill(viewer["email"])
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Continue").click()
    wrong = f"{(int(pyotp.TOTP(viewer['totp_secret']).now()) + 1) % 1_000_000:06d}"
    await page.get_by_label("Code from your authenticator app").fill(wrong)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Log in").click()
    await page.get_by_text("That code is not right").wait_for()
    await page.goto(stack.url("web") + "/creditor/claims")
    assert "/staff/login" in page.url  # no session without the second factor
    rows = await audit_rows(stack, viewer["email"])
    assert [(r["action"], r["outcome"]) for r in rows][-1] == ("login.totp", "refused")


async def test_a_viewer_cannot_act_and_a_clerk_never_sees_another_creditor(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, b = creditors
    mine = await a.claim(3, email="gudrun@example.is", language="is")
    theirs = await b.claim(4, email="helgi@example.is", name="Helgi Björnsson", language="is")
    viewer, clerk = await add_user(stack, "viewer", a), await add_user(stack, "clerk", a)

    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, viewer)
    await page.goto(stack.url("web") + f"/creditor/claims/{mine['id']}")
    await page.get_by_text("Your role (viewer) can look but not act.").wait_for()
    assert await page.get_by_role("button", name="Cancel the claim").count() == 0
    await shot(page, "creditor-claim-viewer")
    # A forged post with the viewer's own session and CSRF token is refused and audited.
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    response = await page.request.post(
        stack.url("web") + f"/creditor/claims/{mine['id']}/cancel",
        form={"csrf": csrf or ""},
        headers={"Origin": stack.url("web")},
        max_redirects=0,
    )
    assert response.status == 403
    assert (await a.get(mine["id"]))["status"] == "open"
    assert ("claim.cancel", "refused") in [
        (r["action"], r["outcome"]) for r in await audit_rows(stack, viewer["email"])
    ]
    await context.close()

    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, clerk)
    response = await page.goto(stack.url("web") + f"/creditor/claims/{theirs['id']}")
    assert response.status == 404
    assert theirs["invoice_no"] not in await page.content()
    await page.goto(stack.url("web") + "/creditor/claims")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    response = await page.request.post(
        stack.url("web") + f"/creditor/claims/{theirs['id']}/cancel",
        form={"csrf": csrf or ""},
        headers={"Origin": stack.url("web")},
        max_redirects=0,
    )
    assert response.status == 404 and (await b.get(theirs["id"]))["status"] == "open"
    for query in ("", "?customer_no=C-0004", "?status=open"):
        await page.goto(stack.url("web") + "/creditor/claims" + query)
        html = await page.content()
        assert theirs["invoice_no"] not in html
    assert mine["invoice_no"] in html
    await context.close()


async def test_an_inbound_call_pops_up_the_case_and_the_promise_re_plans_the_claim(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any, topics: TopicReader
) -> None:
    a, b = creditors
    phone = "+3546901234"
    claim = await a.claim(5, email=None, phone=phone, name="Kristín Ólafsdóttir", language="is")
    agent = await add_user(stack, "agent", serves=[a.id])
    await log_in(stack, page, agent)
    assert page.url.endswith("/agent"), page.url
    await shot(page, "agent-queue")

    # The notifier learns the debtor's phone from the claim's events: wait until it can look it up.
    async with httpx.AsyncClient(timeout=10) as client:

        async def known() -> bool:
            found = await client.get(
                stack.url("notifier") + "/v1/calls/lookup",
                params={"phone": phone},
                headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            )
            return any(c["claim_id"] == claim["id"] for c in found.json().get("cases", []))

        deadline = time.monotonic() + 30
        while not await known():
            assert time.monotonic() < deadline, "the notifier never indexed the debtor's phone"
            await asyncio.sleep(0.3)

        # The provider's incoming-call request (Twilio Voice's form fields).
        answer = await client.post(
            stack.url("web") + "/v1/telephony/incoming",
            data={
                "CallSid": "CA" + uuid.uuid4().hex,
                "From": phone,
                "To": "+3545551234",
                "CallStatus": "ringing",
                "Direction": "inbound",
                "AccountSid": "AC" + uuid.uuid4().hex,
            },
        )
        assert answer.status_code == 200 and "<Response>" in answer.text
    # Pushed to the open page (no reload, no polling); how fast is for benchmarks, not a test.
    await page.wait_for_url(f"**/agent/cases/{a.id}/{claim['debtor_id']}?inbound=1", timeout=10_000)
    await page.get_by_role("status").filter(has_text="Incoming call from Kristín Ólafsdóttir").wait_for()
    await page.get_by_role("heading", name="Script: first call (a reminder)").wait_for()
    assert "fee" not in (await page.locator("section.script p").first.inner_text()).lower()
    await shot(page, "agent-case-inbound")

    current = date.fromisoformat((await a.get(claim["id"]))["due_date"])
    promised = current + timedelta(days=14)
    await page.get_by_label("Promise to pay by a date").check()
    await page.get_by_label("Promised date").fill(promised.isoformat())
    await page.get_by_label("Note").fill("Paid on the 1st, salary day.")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Record the outcome").click()
    await page.get_by_text("Recorded: promise to pay").wait_for()
    assert (await a.get(claim["id"]))["due_date"] == promised.isoformat()
    await wait_for(
        lambda: [e for e in topics.of_type(ClaimDeferred) if str(e.claim_id) == claim["id"]], 30, "ClaimDeferred"
    )
    await page.get_by_text("Paid on the 1st, salary day.").wait_for()

    # Creditor B's cases are not this agent's.
    theirs = await b.claim(6, email="x@example.is", language="is")
    response = await page.goto(stack.url("web") + f"/agent/cases/{b.id}/{theirs['debtor_id']}")
    assert response.status == 404
