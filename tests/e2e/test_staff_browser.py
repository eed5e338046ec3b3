"""The creditor web and the agent desk in a real browser (Debian's Chromium via Playwright), on
the running stack, each journey checked at the owning service and on the topics: a claim held from
its handover notice stays out of collection; a clerk logs in with password and TOTP, finds and
cancels a claim (the fee shown), holds and releases one, amends one (its refusals said by the
field) and decides two disputes (rejected: re-planned; upheld in part: corrected, then resumed);
a wrong code is refused; a viewer cannot
act and a clerk of one creditor never sees another's claims (pages, search, export); an inbound
call in Twilio's shape pops the case up on the open agent page and the promise re-plans the
claim; a contact list's bad rows are reported by line; an instalment request is approved; an
operator matches an unmatched payment, reads the bounce list and replays a dead letter after its
dry run (its effect checked at claims-api); an admin adds a
user; an admin sets up the creditor's own OpenID Connect provider and a clerk signs in through it.
An admin previews a department's policy as a timeline and creates, uses and revokes
an API key, and a viewer is refused the settings; an admin sets the sender identity (a bad SMS
sender said by its field) and the next email carries the new name and Reply-To. Every action leaves an audit row.
The creditor web and the agent desk are also walked in Icelandic (the browser's language, then
the user's saved choice). One stack and one browser for the module; screenshots of each screen are taken on the way, and
each screen (the login, code and error pages too) is checked by axe-core (WCAG 2.1 AA) for serious
and critical violations, once per distinct page."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaProducer
from krafa.browser import DESKTOP, PHONE, axe_violations
from krafa.portal_driver import Creditor, messages_to, wait_for
from krafa.stack import Stack
from krafa_events import Topic, encode
from krafa_events.catalog import (
    ClaimAmended,
    ClaimCancelled,
    ClaimDeferred,
    ClaimDisputeResolved,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimPaid,
    ClaimWatchStarted,
    EmailBounced,
)
from krafa_kit.kafka_cluster import KafkaCluster
from krafa_kit.testing import TopicReader, eventually, free_port, publish

from tests.e2e.conftest import make_stack

pytestmark = pytest.mark.e2e

# Refresh the README's pictures with KRAFA_SCREENSHOTS=docs/screenshots; a plain run keeps the tree clean.
SHOTS = Path(os.environ.get("KRAFA_SCREENSHOTS", Path(tempfile.gettempdir()) / "krafa-staff-screenshots"))
SHOTS.mkdir(parents=True, exist_ok=True)
PASSWORD = "correct horse battery staple"  # noqa: S105 — the test users' password


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None) -> Iterator[Stack]:
    # A calm clock (a simulated day every ten minutes): staff act on claims that stay put.
    # From Monday mid-morning: a creditor's notice goes out in business hours, at once.
    instance = make_stack(
        tmp_path_factory.mktemp("staff"),
        day_seconds=600,
        kafka=stack_kafka,
        sim_start=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    )
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
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
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
    stack: Stack, role: str, creditor: Creditor | None = None, serves: list[str] | None = None, email: str = ""
) -> dict[str, Any]:
    email = email or f"{role}.{uuid.uuid4().hex[:8]}@staff.localhost"
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
    await accessible(page)
    await page.get_by_label("Email address").fill(user["email"])
    await page.get_by_label("Password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Continue").click()
    await accessible(page)
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
        rows: list[asyncpg.Record] = await conn.fetch("SELECT * FROM staff_audit WHERE email = $1 ORDER BY id", email)
        return rows
    finally:
        await conn.close()


# A page's shape: what axe's rules look at besides the text (a page met again with other data has
# the same shape). Each shape is checked once in the module.
SHAPE = """() => [document.documentElement.lang, ...Array.from(document.querySelectorAll('body *'), e =>
    [e.tagName, e.id, e.className, e.getAttribute('role'), e.getAttribute('aria-invalid'), e.hidden].join('.'))
].join(' ')"""
CHECKED: set[str] = set()


async def accessible(page: Any) -> None:
    """axe-core's WCAG 2.1 AA check of the page as it stands: no serious or critical violation."""
    shape = await page.evaluate(SHAPE)
    if shape in CHECKED:
        return
    found = await axe_violations(page)
    assert not found, json.dumps({page.url: found}, indent=1, ensure_ascii=False)
    CHECKED.add(shape)


async def shot(page: Any, name: str) -> None:
    """The page's picture, after its accessibility check (every staff screen a journey shows)."""
    await accessible(page)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def shots(page: Any, name: str) -> None:
    """The page on a desktop and, when refreshing the pictures (KRAFA_SCREENSHOTS), on a phone
    too (`<name>-phone.png`)."""
    await shot(page, name)
    if "KRAFA_SCREENSHOTS" in os.environ:
        await page.set_viewport_size(PHONE)
        await shot(page, f"{name}-phone")
        await page.set_viewport_size(DESKTOP)


async def due_today(creditor: Creditor, n: int, name: str) -> dict[str, Any]:
    """A claim falling due today (a claim posted already overdue has its timeline shifted later)."""
    today = creditor.stack.sim_now().date()
    response = await creditor.http.post(
        "/v1/claims",
        json={
            "invoice_no": f"H-{n:04d}-{uuid.uuid4().hex[:6]}",
            "amount_minor": 25_000,
            "currency": "ISK",
            "issue_date": (today - timedelta(days=30)).isoformat(),
            "due_date": today.isoformat(),
            "debtor": {
                "customer_no": f"H-{n:04d}",
                "name": name,
                "country": "IS",
                "language": "is",
                "time_zone": "Atlantic/Reykjavik",
                "email": f"h{n}@example.is",
                "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
            },
        },
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def test_a_claim_held_from_its_handover_notice_stays_out_of_collection(stack: Stack, page: Any) -> None:
    # First in the module, so the simulated day has hours left for the notice.
    club = await _creditor(stack, "Golfklúbburinn Keilir")
    # A short policy: the creditor's notice on the due date (today), three quarters of an hour from
    # now, the handover 24 hours after it.
    at = stack.sim_now() + timedelta(minutes=45)
    assert at.date() == stack.sim_now().date(), "the module's simulated day ran out"
    async with httpx.AsyncClient(timeout=30) as client:
        put = await client.put(
            stack.url("scheduler") + f"/v1/policies/{club.id}",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "key": "handover-soon",
                "version": 1,
                "jurisdiction": "IS",
                "aggregation": "claim",
                "steps": [
                    {
                        "name": "creditor_notice",
                        "kind": "creditor_notice",
                        "when": {"after": "due_date", "days": 0, "at": at.strftime("%H:%M")},
                        "channels": [],
                    },
                    {
                        "name": "handover",
                        "kind": "handover",
                        "when": {"after": "previous", "hours": 24},
                        "channels": [],
                    },
                ],
            },
        )
        put.raise_for_status()
    held = await due_today(club, 9, "Gunnar Hansen")
    goes = await due_today(club, 10, "Hanna Sif")
    clerk = await add_user(stack, "clerk", club)
    await log_in(stack, page, clerk)

    async def listed() -> bool:
        await page.goto(stack.url("web") + "/creditor/handovers")
        html = await page.content()
        return held["invoice_no"] in html and goes["invoice_no"] in html

    deadline = time.monotonic() + 60
    while not await listed():
        assert time.monotonic() < deadline, "no handover notice reached the creditor web"
        await asyncio.sleep(1)
    await page.get_by_text("in 2").first.wait_for()  # the countdown: within the 24 hours
    await shot(page, "creditor-handovers")
    row = page.get_by_role("row").filter(has_text=held["invoice_no"])
    async with page.expect_navigation():
        await row.get_by_role("button", name="Hold").click()
    await page.get_by_text("The claim is on hold").wait_for()
    async with page.expect_navigation():
        await (
            page.get_by_role("row").filter(has_text=goes["invoice_no"]).get_by_role("button", name="Let it go").click()
        )
    assert (await club.get(held["id"]))["status"] == "held"
    async with httpx.AsyncClient(timeout=10) as client:

        async def schedule(claim_id: str) -> dict[str, Any]:
            answer = await client.get(
                stack.url("scheduler") + f"/v1/claims/{claim_id}/schedule",
                headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            )
            body: dict[str, Any] = answer.json()
            return body

        deadline = time.monotonic() + 30
        while (await schedule(held["id"]))["status"] == "active":
            assert time.monotonic() < deadline, "the held claim's timeline still runs"
            await asyncio.sleep(0.3)
        # The one let go still goes to collection at its time; the held one does not.
        assert (await schedule(goes["id"]))["status"] == "active"
    actions = [(r["action"], r["target"]) for r in await audit_rows(stack, clerk["email"])]
    assert ("handover.hold", f"claim:{held['id']}") in actions and ("handover.let_go", f"claim:{goes['id']}") in actions
    await club.close()


async def test_an_operator_reads_the_bounce_list_and_replays_a_dead_letter_after_its_dry_run(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    # Early in the module: the first notice of a claim 21 days overdue goes out at once, in the
    # simulated day's sending hours, and the SMTP catcher bounces every address at invalid.example.
    a, _ = creditors
    bounced = await a.claim(13, email="enginn@invalid.example", name="Enginn Til", language="is", overdue_days=21)
    claim = await a.claim(14, email="ragna@example.is", name="Ragna Björk", language="is")
    # A hard bounce of Ragna's address that claims-api's consumer gave up on: on krafa.bounces.dlq
    # with the headers krafa_kit.consumer writes. Nobody applied it, so the replay has an effect.
    event = EmailBounced(
        creditor_id=uuid.UUID(a.id),
        debtor_id=uuid.UUID(claim["debtor_id"]),
        bounce_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        reminder_id=uuid.uuid4(),
        claim_ids=(uuid.UUID(claim["id"]),),
        step=1,
        recipient="ragna@example.is",
        kind="hard",
        status="5.1.1",
        reason="550 5.1.1 <ragna@example.is>: Recipient address rejected: User unknown",
        bounced_at=datetime.now(UTC),
    )
    encoded = encode(event, source="/krafa/bounces")
    producer = AIOKafkaProducer(bootstrap_servers=stack.broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            Topic.BOUNCES.value + ".dlq",
            encoded.value,
            key=encoded.key,
            headers=[
                *encoded.headers,
                ("krafa_dlq_reason", b"ConnectionDoesNotExistError: connection was closed in the middle of operation"),
                ("krafa_dlq_service", b"claims-api"),
                ("krafa_dlq_consumer", b"claims-api"),
            ],
        )
    finally:
        await producer.stop()

    operator = await add_user(stack, "operator")
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, operator)

    await page.goto(stack.url("web") + "/ops/dead-letters?topic=krafa.bounces")
    row = page.get_by_role("row").filter(has_text=encoded.event_id)
    await row.get_by_text("connection was closed").wait_for()
    await row.get_by_role("checkbox").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="Review the replay").click()
    await page.get_by_text("A dry run: nothing is sent until you confirm.").wait_for()
    # The group that failed on it (the stack's own prefix: on a shared cluster not `krafa`).
    await page.get_by_text(f"{stack.namespace}.claims-api").wait_for()
    await shots(page, "ops-replay")
    async with TopicReader(stack.broker.bootstrap, Topic.BOUNCES.value) as reader:
        async with page.expect_navigation():
            await page.get_by_role("button", name="Replay 1 record").click()
        await page.get_by_text("Replayed 1 record to its topic.").wait_for()
        await wait_for(
            lambda: [e for e in reader.of_type(EmailBounced) if e.bounce_id == event.bounce_id], 30, "replay"
        )

    # The consumer that had failed applies it now: Ragna's address is marked bounced.
    async def ragna_bounced() -> bool:
        debtor = (await a.http.get("/v1/debtors/by-customer-no/C-0014")).json()
        return any(c["value"] == "ragna@example.is" and c["state"] == "bounced" for c in debtor["contact_points"])

    deadline = time.monotonic() + 30
    while not await ragna_bounced():
        assert time.monotonic() < deadline, "claims-api never applied the replayed bounce"
        await asyncio.sleep(0.3)
    row = page.get_by_role("row").filter(has_text=encoded.event_id)
    assert "by " + operator["email"] + " (web)" in await row.inner_text()
    await shots(page, "ops-dead-letters")
    assert ("dlq.replay", "ok", f"event:{encoded.event_id}") in [
        (r["action"], r["outcome"], r["target"]) for r in await audit_rows(stack, operator["email"])
    ]

    # By now the bounce has come back through the SMTP catcher and the bounce-handler.
    async def listed() -> bool:
        await page.goto(stack.url("web") + "/ops/bounces")
        return "enginn@invalid.example" in await page.content()

    deadline = time.monotonic() + 60
    while not await listed():
        assert time.monotonic() < deadline, "no bounce reached the operators' bounce list"
        await asyncio.sleep(1)
    await page.get_by_label("Creditor").select_option(label="Ungmennafélagið Fram")
    await page.get_by_label("Kind").select_option("hard")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has_text="enginn@invalid.example")
    assert "Hard" in await row.inner_text() and bounced["id"][:8] in await row.inner_text()
    await shots(page, "ops-bounces")

    await page.goto(stack.url("web") + "/ops/audit")
    await page.get_by_role("cell", name="Replayed dead letters").first.wait_for()
    await shots(page, "ops-audit")
    await context.close()
    # (A clerk's 403 on these pages: services/web/tests/integration/test_staff_sso_and_ops.py.)


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
    assert "ISK290" in (await fee.inner_text()).replace("\xa0", "")  # money as English writes it
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
    await page.get_by_role("cell", name="Cancelled the claim").first.wait_for()
    await shot(page, "creditor-audit")


@pytest.mark.broker_agnostic
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
    await accessible(page)  # the refusal, said where the code is typed
    await page.goto(stack.url("web") + "/creditor/claims")
    assert "/staff/login" in page.url  # no session without the second factor
    rows = await audit_rows(stack, viewer["email"])
    assert [(r["action"], r["outcome"]) for r in rows][-1] == ("login.totp", "refused")


@pytest.mark.broker_agnostic
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
    export = await page.request.get(stack.url("web") + "/creditor/claims.csv")
    assert export.status == 200 and export.headers["content-type"].startswith("text/csv")
    exported = await export.text()
    assert mine["invoice_no"] in exported and theirs["invoice_no"] not in exported
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

        deadline = time.monotonic() + 90
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
    # Read out to the debtor, so in the debtor's language (Icelandic here), and without fees.
    script = await page.locator("section.script p").first.inner_text()
    assert "hringir fyrir hönd" in script and not re.search(r"gjald|gjöld|vext", script), script
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
    await accessible(page)  # the staff error page


async def schedule_of(stack: Stack, claim_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            stack.url("scheduler") + f"/v1/claims/{claim_id}/schedule",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        )
    body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    return body


async def test_a_clerk_amends_a_claim_and_decides_disputes_which_a_viewer_cannot(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any, page: Any, topics: TopicReader
) -> None:
    a, _ = creditors
    claim = await a.claim(15, email="petur@example.is", name="Pétur Már", language="is", amount=20_000)
    rejected = await a.claim(16, email="rut@example.is", name="Rut Ósk", language="is", amount=15_000)
    corrected = await a.claim(17, email="stefan@example.is", name="Stefán Þór", language="is", amount=18_000)
    async with httpx.AsyncClient(timeout=30) as client:
        for disputed, reason in (
            (rejected, "I never signed up for the course."),
            (corrected, "Two trainings fell out."),
        ):
            said = await client.post(
                stack.url("claims-api")
                + f"/v1/portal/creditors/{a.id}/debtors/{disputed['debtor_id']}/claims/{disputed['id']}/dispute",
                headers={"Authorization": f"Bearer {stack.portal_token}"},
                json={"reason": reason},
            )
            assert said.status_code == 200, said.text
    clerk = await add_user(stack, "clerk", a)
    await log_in(stack, page, clerk)

    # Amend: what is wrong is said by its field and what was typed stays; then the change is made.
    await page.goto(stack.url("web") + f"/creditor/claims/{claim['id']}")
    amount = page.get_by_label("Amount (ISK)")
    assert await amount.input_value() == "20000"  # prefilled as the creditor's staff type it
    await amount.fill("tuttugu")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save the changes").click()
    await page.locator("#amend-amount-error", has_text="Write the amount as a number, for example 20000.").wait_for()
    assert await amount.get_attribute("aria-invalid") == "true"
    await amount.fill("18,000")  # as typed in English (the page's language)
    due = date.fromisoformat(claim["due_date"])
    await page.get_by_label("Final due date").fill((due - timedelta(days=3)).isoformat())
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save the changes").click()
    # claims-api's rule, said by the field it is about, and at the top with a link to the field.
    await page.locator("#amend-final-due-date-error", has_text="Final due date: before the due date.").wait_for()
    summary = page.get_by_role("alert").get_by_role("link", name="Final due date: before the due date.")
    assert await summary.get_attribute("href") == "#amend-final-due-date"
    refusal = page.locator("aside li").filter(has_text=f"{clerk['email']}: Amended the claim")
    await refusal.get_by_text("refused").wait_for()  # the refusal is on the claim's audit at once
    assert await amount.input_value() == "18,000"
    await shots(page, "creditor-claim-amend-refused")
    assert (await a.get(claim["id"]))["amount_minor"] == 20_000  # nothing half-applied
    await page.get_by_label("Final due date").fill("")
    await page.get_by_label("Reason", exact=True).first.fill("one month of training missed")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save the changes").click()
    await page.get_by_text("The claim is amended.").wait_for()
    after = await a.get(claim["id"])
    assert (after["amount_minor"], after["final_due_date"]) == (18_000, claim["final_due_date"])
    await wait_for(
        lambda: [e for e in topics.of_type(ClaimAmended) if str(e.claim_id) == claim["id"]], 30, "ClaimAmended"
    )
    await page.get_by_text("amount ISK20,000 → ISK18,000").wait_for()  # the audit on the claim

    # A dispute rejected: the claim is open again and its reminders re-planned from today.
    await page.goto(stack.url("web") + f"/creditor/claims/{rejected['id']}")
    await page.locator("q", has_text="I never signed up for the course.").wait_for()
    # A disputed claim is decided first (claims-api's rule, which the page shows): its one
    # cancellation is the dispute upheld; no write-off, hold or plain cancel is offered ...
    await page.get_by_role("button", name=re.compile("^Uphold the dispute and cancel the claim")).wait_for()
    for offered in ("Write off", "Hold", "Cancel the claim"):
        assert await page.get_by_role("button", name=re.compile(f"^{offered}")).count() == 0, offered
    # ... and a write-off posted anyway is refused by claims-api, the claim still disputed.
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    forced = await page.request.post(
        stack.url("web") + f"/creditor/claims/{rejected['id']}/write-off",
        form={"csrf": csrf or "", "reason": "not worth the trouble"},
        headers={"Origin": stack.url("web")},
        max_redirects=0,
    )
    assert forced.status == 303 and forced.headers["location"].endswith("?refused=illegal")
    assert (await a.get(rejected["id"]))["status"] == "disputed"
    await shots(page, "creditor-claim-dispute")
    await page.get_by_label("Why the claim stands").fill("signed up on 3 January, see the form")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Reject the dispute and resume reminders").click()
    await page.get_by_text("The dispute is rejected").wait_for()
    assert (await a.get(rejected["id"]))["status"] == "open"
    await wait_for(
        lambda: [e for e in topics.of_type(ClaimDisputeResolved) if str(e.claim_id) == rejected["id"]], 30, "resolved"
    )
    deadline = time.monotonic() + 30
    while (await schedule_of(stack, rejected["id"])).get("status") != "active":
        assert time.monotonic() < deadline, "the rejected dispute's claim was not re-planned"
        await asyncio.sleep(0.3)

    # A dispute upheld in part: the claim corrected, then resumed on the corrected amount.
    await page.goto(stack.url("web") + f"/creditor/claims/{corrected['id']}")
    await page.get_by_label("Amount (ISK)").fill("15000")
    await page.get_by_label("Note").fill("two of twelve trainings cancelled")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Correct the claim and resume reminders").click()
    await page.get_by_text("The dispute is upheld in part").wait_for()
    await shots(page, "creditor-claim-corrected")
    fixed = await a.get(corrected["id"])
    assert (fixed["status"], fixed["amount_minor"]) == ("open", 15_000)

    def corrected_events() -> list[type]:
        return [type(e) for e in topics.events if str(getattr(e, "claim_id", "")) == corrected["id"]]

    await wait_for(lambda: ClaimDisputeResolved in corrected_events(), 30, "resolved")
    assert corrected_events().index(ClaimAmended) < corrected_events().index(ClaimDisputeResolved)
    actions = [(r["action"], r["outcome"], r["target"]) for r in await audit_rows(stack, clerk["email"])]
    assert ("claim.amend", "refused", f"claim:{claim['id']}") in actions  # claims-api's refusal, kept too
    assert ("claim.amend", "ok", f"claim:{claim['id']}") in actions
    assert ("claim.resolve", "ok", f"claim:{rejected['id']}") in actions
    assert ("claim.resolve", "ok", f"claim:{corrected['id']}") in actions

    # A viewer sees no form; a forged amend or resolve is refused and audited.
    viewer = await add_user(stack, "viewer", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    looker = await context.new_page()
    await log_in(stack, looker, viewer)
    await looker.goto(stack.url("web") + f"/creditor/claims/{claim['id']}")
    assert await looker.get_by_role("button", name="Save the changes").count() == 0
    csrf = await looker.locator("input[name=csrf]").first.get_attribute("value")
    for action, form in (("amend", {"amount": "1"}), ("resolve", {"decision": "cancel"})):
        forged = await looker.request.post(
            stack.url("web") + f"/creditor/claims/{claim['id']}/{action}",
            form={"csrf": csrf or "", **form},
            headers={"Origin": stack.url("web")},
            max_redirects=0,
        )
        assert forged.status == 403, action
    await context.close()
    assert (await a.get(claim["id"]))["amount_minor"] == 18_000
    refused = [(r["action"], r["outcome"]) for r in await audit_rows(stack, viewer["email"])]
    assert ("claim.amend", "refused") in refused and ("claim.resolve", "refused") in refused


async def test_an_admin_sets_the_sender_identity_and_the_next_email_is_sent_with_it(stack: Stack, browser: Any) -> None:
    club = await _creditor(stack, "Íþróttafélagið Leiknir")
    admin = await add_user(stack, "admin", club)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, admin)
    await page.goto(stack.url("web") + "/creditor/settings/sender")
    await page.get_by_label("Name messages are sent in").fill("Leiknir – innheimta")
    await page.get_by_label("Reply-To address").fill("gjaldkeri@leiknir.localhost")
    sms = page.get_by_label("SMS sender")
    await sms.fill("Þróttur")  # a phone shows no Þ in a sender name
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save the sender identity").click()
    await page.get_by_text("SMS sender: at most 11 characters").wait_for()
    assert await sms.get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Name messages are sent in").input_value() == "Leiknir – innheimta"  # kept
    await shots(page, "creditor-settings-sender-refused")
    assert (await club.http.get("/v1/creditor")).json()["sender_name"] == ""  # nothing applied
    await sms.fill("LEIKNIR")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save the sender identity").click()
    await page.get_by_text("Saved. Every message sent from now on uses it.").wait_for()
    await page.get_by_text(f"creditor web: {admin['email']}").wait_for()  # the change, with who made it
    await shots(page, "creditor-settings-sender")
    await context.close()
    profile = (await club.http.get("/v1/creditor")).json()
    assert (profile["sender_name"], profile["reply_to"], profile["sms_sender_id"]) == (
        "Leiknir – innheimta",
        "gjaldkeri@leiknir.localhost",
        "LEIKNIR",
    )
    audited = [(r["action"], r["outcome"]) for r in await audit_rows(stack, admin["email"])]
    assert ("settings.sender", "refused") in audited and ("settings.sender", "ok") in audited

    # The next email is sent in the new name, with the Reply-To (the first notice goes out at once).
    await club.claim(1, email="gudny@example.is", name="Guðný Hrund", language="is", overdue_days=21)
    [mail] = await wait_for(lambda: messages_to(stack, "gudny@example.is"), 90, "the first notice")
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Leiknir – innheimta", "innheimta@fram.localhost")
    assert mail["Reply-To"].addresses[0].addr_spec == "gjaldkeri@leiknir.localhost"
    await club.close()


@pytest.mark.broker_agnostic
async def test_a_contact_list_with_bad_rows_is_applied_and_the_bad_rows_reported_by_line(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any, tmp_path: Path
) -> None:
    a, _ = creditors
    await a.claim(7, email=None, name="Lilja Guðmundsdóttir", language="is")
    clerk = await add_user(stack, "clerk", a)
    await log_in(stack, page, clerk)
    listing = tmp_path / "customers.csv"
    listing.write_text(
        "customer_no,name,email,phone,country\n"
        "C-0007,Lilja Guðmundsdóttir,lilja@example.is,+3546991234,IS\n"
        "C-0107,Pétur Jónsson,not-an-address,,IS\n"
        "C-0108,Sara Björk,sara@example.is,12,IS\n"
        "C-0109,Jón Ari,jon.ari@example.is,,IS\n",
        encoding="utf-8",
    )
    await page.goto(stack.url("web") + "/creditor/contacts")
    await accessible(page)
    await page.get_by_label("Contact list (CSV or Excel)").set_input_files(str(listing))
    await page.get_by_label("Our terms of business allow us").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="Upload").click()
    await page.get_by_role("heading", name="Rejected rows").wait_for()
    rows = await page.locator("table tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["3", "4"], rows  # lines of the file, header on line 1
    assert "C-0107" in rows[0] and "email" in rows[0] and "C-0108" in rows[1] and "phone" in rows[1]
    await shot(page, "creditor-upload-report")
    debtor = (await a.http.get("/v1/debtors/by-customer-no/C-0007")).json()
    emails = [c["value"] for c in debtor["contact_points"] if c["kind"] == "email"]
    assert "lilja@example.is" in emails
    await page.goto(stack.url("web") + "/creditor/contacts")
    await page.get_by_role("link", name="Open the report").first.wait_for()
    uploads = [r for r in await audit_rows(stack, clerk["email"]) if r["action"] == "contacts.upload"]
    detail = json.loads(uploads[-1]["detail"])  # this connection has no jsonb codec: the text
    assert uploads[-1]["outcome"] == "ok" and detail["file"] == "customers.csv" and detail["rejected"] == 2
    assert clerk["email"] in detail["consent_attested"]  # who attested the consent, kept with the upload


async def test_a_clerk_approves_a_debtors_instalment_request(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any, topics: TopicReader
) -> None:
    a, _ = creditors
    claim = await a.claim(8, email="olof@example.is", name="Ólöf Arnardóttir", language="is", amount=50_000)
    # The debtor asks in the portal for five instalments, beyond the default terms (three).
    async with httpx.AsyncClient(timeout=30) as client:
        asked = await client.post(
            stack.url("claims-api")
            + f"/v1/portal/creditors/{a.id}/debtors/{claim['debtor_id']}/claims/{claim['id']}/arrangements",
            headers={"Authorization": f"Bearer {stack.portal_token}"},
            json={"kind": "instalments", "count": 5, "note": "I am paid monthly."},
        )
    assert asked.status_code == 200 and asked.json()["outcome"] == "requested", asked.text
    clerk = await add_user(stack, "clerk", a)
    await log_in(stack, page, clerk)
    await page.goto(stack.url("web") + "/creditor/requests")
    card = page.locator(".card").filter(has_text=claim["invoice_no"])
    await card.get_by_text("I am paid monthly.").wait_for()
    await shot(page, "creditor-requests")
    async with page.expect_navigation():
        await card.get_by_role("button", name="Approve").click()
    await page.get_by_text("Approved: the claim is re-planned").wait_for()
    plan = await wait_for(
        lambda: [e for e in topics.of_type(ClaimInstalmentPlanAgreed) if str(e.claim_id) == claim["id"]], 30, "plan"
    )
    after = await a.get(claim["id"])
    assert len(after["instalments"]) == 5 == len(plan[0].instalments)
    assert ("request.approve", "ok") in [(r["action"], r["outcome"]) for r in await audit_rows(stack, clerk["email"])]


async def test_an_operator_matches_an_unmatched_payment_to_the_right_claim(
    stack: Stack, creditors: tuple[Creditor, Creditor], page: Any, topics: TopicReader
) -> None:
    a, _ = creditors
    claim = await a.claim(11, email="siggi@example.is", name="Sigurður Ingi", language="is")
    other = await a.claim(12, email="tinna@example.is", name="Tinna Rós", language="is")
    reference = "NOREF" + uuid.uuid4().hex[:8].upper()
    async with httpx.AsyncClient(timeout=30) as client:
        paid = await client.post(
            stack.url("payments-ingest") + "/v1/payments/notifications",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "id": "pmt-" + uuid.uuid4().hex,
                "amount_minor": claim["balance_minor"],
                "currency": "ISK",
                "reference": None,
                "remittance_text": reference,
                "payer_account": "0133-26-998877",
            },
        )
        assert paid.status_code in (200, 201), paid.text
    operator = await add_user(stack, "operator")
    await log_in(stack, page, operator)
    assert page.url.endswith("/ops"), page.url
    row = page.get_by_role("row").filter(has_text=reference)
    await row.wait_for()
    await shot(page, "ops-unmatched")
    await row.get_by_label("Claim id").fill(claim["id"])
    async with page.expect_navigation():
        await row.get_by_role("button", name="Match").click()
    await page.get_by_text("The payment is matched to the claim.").wait_for()
    await wait_for(lambda: [e for e in topics.of_type(ClaimPaid) if str(e.claim_id) == claim["id"]], 30, "ClaimPaid")
    assert (await a.get(claim["id"]))["status"] == "paid"
    assert (await a.get(other["id"]))["status"] == "open"
    assert ("payment.match", "ok") in [(r["action"], r["outcome"]) for r in await audit_rows(stack, operator["email"])]


async def test_a_payment_in_claim_watch_shows_the_agencys_share_on_the_claim_page(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, _ = creditors
    claim = await a.claim(21, email="ragnar@example.is", name="Ragnar Þór", language="is", amount=20_000)
    # The scheduler's word that the claim went into claim watch (its last step), half to each.
    started = min(stack.sim_now(), datetime.now(UTC)) - timedelta(days=1)
    watch = ClaimWatchStarted(
        creditor_id=uuid.UUID(a.id),
        debtor_id=uuid.UUID(claim["debtor_id"]),
        claim_id=uuid.UUID(claim["id"]),
        creditor_share_pct=50,
        interval_days=90,
        started_at=started,
    )
    await publish(stack.broker.bootstrap, watch)
    await eventually(lambda: _stage_is(a, claim["id"], "watch"), timeout=30)
    # A part payment of 5,001 kr. through the bank's notification, matched by the claim's reference.
    async with httpx.AsyncClient(timeout=30) as client:
        paid = await client.post(
            stack.url("payments-ingest") + "/v1/payments/notifications",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "id": "pmt-" + uuid.uuid4().hex,
                "amount_minor": 5_001,
                "currency": "ISK",
                "reference": claim["reference"],
                "remittance_text": None,
                "payer_account": "0133-26-998877",
            },
        )
        assert paid.status_code in (200, 201), paid.text
    await eventually(lambda: _paid(a, claim["id"]), timeout=60)

    clerk = await add_user(stack, "viewer", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    try:
        await log_in(stack, page, clerk)
        await page.goto(stack.url("web") + f"/creditor/claims/{claim['id']}")
        watched = page.get_by_role("table", name="Claim watch")
        await watched.wait_for()
        # Amounts as the page's locale writes them, digit groups joined: 5001 collected; the odd
        # króna goes to the creditor, 2501 theirs and 2500 (deducted) the agency's.
        text = re.sub(r"(?<=\d)[.,\s](?=\d{3})", "", (await watched.inner_text()).replace("\xa0", " "))
        rows = {line.split("\t")[0]: line.split("\t")[-1] for line in text.splitlines() if "\t" in line}
        assert [re.sub(r"[^\d−]", "", v) for v in rows.values()] == ["5001", "−2500", "2501"], text
        assert "deducted from your settlement" in await page.inner_text("main")
        await shot(page, "creditor-claim-watch")
        await page.set_viewport_size(PHONE)
        await shot(page, "creditor-claim-watch-phone")
    finally:
        await context.close()


async def _stage_is(creditor: Creditor, claim_id: str, stage: str) -> bool:
    return (await creditor.get(claim_id)).get("stage") == stage


async def _paid(creditor: Creditor, claim_id: str) -> bool:
    return int((await creditor.get(claim_id)).get("paid_minor") or 0) > 0


@pytest.mark.broker_agnostic
async def test_an_admin_adds_a_user_who_enrols_the_authenticator_and_logs_in(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, _ = creditors
    admin = await add_user(stack, "admin", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, admin)
    await page.goto(stack.url("web") + "/creditor/users")
    email = f"new.{uuid.uuid4().hex[:6]}@fram.localhost"
    await page.get_by_label("Name").fill("Nýr Starfsmaður")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Role").select_option("viewer")
    await page.get_by_label("First password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add the user").click()
    await page.get_by_role("img", name="QR code to enrol the authenticator app").wait_for()
    secret = await page.locator(".notice code").inner_text()
    await shot(page, "creditor-users")
    await context.close()

    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, {"email": email, "totp_secret": secret})
    assert page.url.endswith("/creditor"), page.url
    await context.close()
    assert ("user.add", f"user:{email}") in [
        (r["action"], r["target"]) for r in await audit_rows(stack, admin["email"])
    ]


@pytest.mark.broker_agnostic
async def test_a_clerk_signs_in_with_the_creditors_own_provider_set_up_by_its_admin(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, _ = creditors
    admin = await add_user(stack, "admin", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, admin)
    await page.goto(stack.url("web") + "/creditor/sign-in")
    # The stack's OpenID Connect provider stands in for the club's own (Entra ID, Google…).
    await page.get_by_label("Issuer URL").fill(stack.url("idp-sink"))
    await page.get_by_label("Client id").fill("krafa-web")
    await page.get_by_label("New client secret").fill(stack.oidc_client_secret)
    await page.get_by_label("Email domains").fill("fram.localhost")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Check the provider and save").click()
    await page.get_by_text("Saved. Staff with an address at fram.localhost").wait_for()
    await shots(page, "creditor-sign-in")
    await context.close()
    assert ("sso.configure", "ok") in [(r["action"], r["outcome"]) for r in await audit_rows(stack, admin["email"])]

    clerk = await add_user(stack, "clerk", a, email=f"clerk.{uuid.uuid4().hex[:6]}@fram.localhost")
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await page.goto(stack.url("web") + "/staff/login")
    await shots(page, "staff-login")
    await page.get_by_label("Your email at your organisation").fill(clerk["email"])
    async with page.expect_navigation():
        await page.get_by_role("button", name="Use single sign-on").click()
    assert page.url.startswith(stack.url("idp-sink") + "/authorize?")
    assert await page.get_by_label("Work email").input_value() == clerk["email"]  # the login hint
    async with page.expect_navigation(url="**/creditor"):
        await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Open amount by days overdue").wait_for()
    rows = await audit_rows(stack, clerk["email"])
    assert [(r["action"], r["outcome"], json.loads(r["detail"])["method"]) for r in rows] == [("login", "ok", "sso")]
    await context.close()

    # Someone the club never added is refused with a page saying whom to ask: the integration test
    # services/web/tests/integration/test_staff_sso_and_ops.py, against the same provider.


GENTLE = {  # a department's own policy: a friendly reminder, then the collection warning with its fee
    "key": "gentle",
    "jurisdiction": "IS",
    "steps": [
        {
            "name": "friendly",
            "notice": "aminning",
            "when": {"after": "due_date", "days": 3},
            "channels": ["sms", "email"],
        },
        {
            "name": "warning",
            "notice": "innheimtuvidvorun",
            "when": {"after": "final_due_date", "days": 10},
            "channels": ["email"],
            "fallbacks": {"email": ["letter"]},
            "tone": "firm",
            "pay_within_days": 10,
            "fees": [{"kind": "collection_fee", "rule": "collection_warning"}],
        },
    ],
}


@pytest.mark.broker_agnostic
async def test_an_admin_previews_a_policy_and_creates_uses_and_revokes_an_api_key_a_viewer_is_refused(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, _ = creditors
    async with httpx.AsyncClient(timeout=30) as client:
        put = await client.put(
            stack.url("scheduler") + f"/v1/policies/{a.id}",
            params={"department": "golf"},
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json=GENTLE,
        )
        put.raise_for_status()
    version = put.json()["policy"]["version"]
    # A customer over the credit limit the creditor gave it (12,000 kr. open against 10,000).
    limited = await a.claim(13, email="unnur@example.is", name="Unnur Ösp", language="is")
    master = {"name": "Unnur Ösp", "country": "IS", "language": "is", "time_zone": "Atlantic/Reykjavik"}
    limit = {"amount_minor": 10_000, "currency": "ISK"}
    put_debtor = await a.http.put("/v1/debtors/by-customer-no/C-0013", json={**master, "credit_limit": limit})
    assert put_debtor.status_code == 200, put_debtor.text
    admin = await add_user(stack, "admin", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, admin)

    # The department, added on its settings page; claims-api has it for the creditor.
    await page.goto(stack.url("web") + "/creditor/settings/departments")
    await page.get_by_label("Key").fill("golf")
    await page.get_by_label("Name").fill("Golfdeild")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add the department").click()
    await page.get_by_text("The department Golfdeild is added.").wait_for()
    await shots(page, "creditor-settings-departments")
    departments = (await a.http.get("/v1/departments")).json()["items"]
    assert [(d["key"], d["final_due_offset_days"]) for d in departments] == [("golf", 10)]

    # The policy in force for the department, and a sample claim of that department planned with it.
    await page.goto(stack.url("web") + "/creditor/policies")
    await page.get_by_role("heading", name="Department golf · every customer class").wait_for()
    await page.get_by_label("Department", exact=True).select_option("golf")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show the plan").click()
    picture = page.get_by_role("img", name=re.compile(f"Plan of a sample claim with gentle@{version}"))
    await picture.wait_for()
    plan = page.get_by_role("table", name="Each step of the plan")
    steps = await plan.locator("tbody tr").all_inner_texts()
    assert len(steps) == 2 and steps[0].startswith("Friendly") and steps[1].startswith("Warning"), steps
    await shots(page, "creditor-policies")
    await page.goto(stack.url("web") + "/creditor/policies/customers")
    row = page.get_by_role("row").filter(has_text="C-0013")
    assert "credit limit exceeded" in await row.inner_text()
    await row.get_by_text("Block", exact=True).wait_for()
    await shots(page, "creditor-customers")

    # A key with the read scope: its secret shown once, it works, then revoked it is refused.
    await page.goto(stack.url("web") + "/creditor/settings/api-keys")
    await page.get_by_label("Name").fill("ERP test")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Create the key").click()
    secret = (await page.locator("output#secret").inner_text()).strip()
    await shots(page, "creditor-settings-keys")
    async with httpx.AsyncClient(base_url=stack.url("claims-api"), timeout=10) as erp:
        used = await erp.get("/v1/creditor", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 200 and used.json()["id"] == a.id, used.text
        async with page.expect_navigation():
            await page.get_by_role("button", name="Revoke ERP test").click()
        await page.get_by_text("The key is revoked").wait_for()
        refused = await erp.get("/v1/creditor", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 401
    assert secret not in await page.content()  # shown once, on the answer to the form only

    # A webhook endpoint and its delivery log (a receiver that is down: the delivery is retried).
    await page.goto(stack.url("web") + "/creditor/settings/webhooks")
    await page.get_by_label("Address").fill(f"http://127.0.0.1:{free_port()}/krafa")
    await page.get_by_label("claim.disputed").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add the endpoint").click()
    await page.locator("output#secret").wait_for()
    await shots(page, "creditor-settings-webhooks")
    await a.http.post(f"/v1/claims/{limited['id']}/dispute", json={"reason": "never ordered"})
    await page.get_by_role("link", name="Delivery log").first.click()
    await page.get_by_role("cell", name=re.compile("claim.disputed")).first.wait_for()
    await shots(page, "creditor-settings-deliveries")
    await context.close()
    actions = [(r["action"], r["outcome"]) for r in await audit_rows(stack, admin["email"])]
    assert {
        ("department.add", "ok"),
        ("apikey.create", "ok"),
        ("apikey.revoke", "ok"),
        ("webhook.create", "ok"),
    } <= set(actions)

    # A viewer gets the refusal page, and a forged post is refused and audited.
    viewer = await add_user(stack, "viewer", a)
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await log_in(stack, page, viewer)
    assert await page.get_by_role("link", name="Settings").count() == 0
    response = await page.goto(stack.url("web") + "/creditor/settings/api-keys")
    assert response.status == 403
    await page.get_by_text("You cannot do that with your role.").wait_for()
    await shots(page, "creditor-settings-refused")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    forged = await page.request.post(
        stack.url("web") + "/creditor/settings/api-keys",
        form={"csrf": csrf or "", "name": "mine", "scope": "read"},
        headers={"Origin": stack.url("web")},
        max_redirects=0,
    )
    assert forged.status == 403
    assert ("settings.api-keys", "refused") in [
        (r["action"], r["outcome"]) for r in await audit_rows(stack, viewer["email"])
    ]
    await context.close()


async def log_in_in_icelandic(stack: Stack, page: Any, user: dict[str, Any], ahead: int = 0) -> None:
    """Logging in on an Icelandic page; `ahead`: the authenticator's next code (a code works once,
    and the neighbouring step is accepted for clock drift)."""
    await page.goto(stack.url("web") + "/staff/login")
    assert await page.locator("html").get_attribute("lang") == "is"
    await accessible(page)
    await page.get_by_label("Netfang", exact=True).fill(user["email"])
    await page.get_by_label("Lykilorð").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Áfram").click()
    await accessible(page)
    totp = pyotp.TOTP(user["totp_secret"])
    await page.get_by_label("Kóði úr auðkennisappinu").fill(totp.at(time.time() + ahead * totp.interval))
    async with page.expect_navigation():
        await page.get_by_role("button", name="Skrá inn").click()


@pytest.mark.broker_agnostic
async def test_the_staff_pages_speak_icelandic_to_an_icelandic_browser_and_keep_a_users_choice(
    stack: Stack, creditors: tuple[Creditor, Creditor], browser: Any
) -> None:
    a, _ = creditors
    claim = await a.claim(21, email="gudrun@example.is", name="Guðrún Ósk", language="is")
    clerk = await add_user(stack, "admin", a)  # an admin: the settings pages too
    context = await browser.new_context(viewport=DESKTOP, locale="is-IS")  # Accept-Language: is-IS
    page = await context.new_page()
    await log_in_in_icelandic(stack, page, clerk)
    await page.get_by_role("heading", name="Opin fjárhæð eftir dögum í vanskilum").wait_for()
    await shots(page, "is-creditor-overview")
    nav = page.get_by_role("navigation", name="Hlutar")
    for tab in ("Yfirlit", "Kröfur", "Tilkynningar um innheimtu", "Beiðnir", "Netfangalistar", "Aðgerðaskrá"):
        await nav.get_by_role("link", name=tab).wait_for()

    await page.goto(stack.url("web") + "/creditor/claims")
    await page.get_by_role("columnheader", name="Gjalddagi").wait_for()
    await shots(page, "is-creditor-claims")
    await page.goto(stack.url("web") + f"/creditor/claims/{claim['id']}")
    fee = page.get_by_text("Niðurfelling kostar")
    assert "290 kr." in (await fee.inner_text()).replace("\xa0", " ")  # money in Icelandic
    await page.get_by_role("heading", name="Tímalína").wait_for()
    due = date.fromisoformat(claim["due_date"])
    months = ["jan.", "feb.", "mar.", "apr.", "maí", "jún.", "júl.", "ágú.", "sep.", "okt.", "nóv.", "des."]
    await page.get_by_text(f"{due.day}. {months[due.month - 1]} {due.year}").first.wait_for()  # dates too
    await shots(page, "is-creditor-claim")
    for path, name, heading in (
        ("/creditor/handovers", "is-creditor-handovers", "Tilkynningar um innheimtu"),
        ("/creditor/requests", "is-creditor-requests", "Beiðnir greiðenda"),
        ("/creditor/contacts", "is-creditor-contacts", "Netfangalistar"),
        ("/creditor/policies", "is-creditor-policies", "Innheimtureglur"),
        ("/creditor/policies/customers", "is-creditor-customers", "Lánsstaða eftir viðskiptamanni"),
        ("/creditor/audit", "is-creditor-audit", "Aðgerðaskrá"),
        ("/creditor/users", "is-creditor-users", "Notendur"),
        ("/creditor/sign-in", "is-creditor-sign-in", "Innskráning með aðgangi fyrirtækisins"),
        ("/creditor/settings/api-keys", "is-creditor-settings-keys", "Stillingar: API-lyklar"),
        ("/creditor/settings/webhooks", "is-creditor-settings-webhooks", "Stillingar: vefkrókar"),
        ("/creditor/settings/sender", "is-creditor-settings-sender", "Stillingar: auðkenni sendanda"),
        ("/creditor/settings/departments", "is-creditor-settings-departments", "Stillingar: deildir"),
    ):
        await page.goto(stack.url("web") + path)
        await page.get_by_role("heading", name=heading, exact=True).wait_for()
        await shots(page, name)

    # English chosen on the switcher is kept with the user: it wins over the browser's language.
    async with page.expect_navigation():
        await page.get_by_role("form", name="Tungumál").get_by_role("button", name="English").click()
    await page.get_by_role("heading", name="Settings: departments").wait_for()
    await context.close()
    context = await browser.new_context(viewport=DESKTOP, locale="is-IS")
    page = await context.new_page()
    await log_in_in_icelandic(stack, page, clerk, ahead=1)  # a new browser: its login page in its language
    await page.get_by_role("heading", name="Open amount by days overdue").wait_for()
    await context.close()

    # The agent desk in Icelandic: the queue and a case, its script in the debtor's language.
    agent = await add_user(stack, "agent", serves=[a.id])
    context = await browser.new_context(viewport=DESKTOP, locale="is")
    page = await context.new_page()
    await log_in_in_icelandic(stack, page, agent)
    await page.get_by_role("heading", name="Úthringilisti").wait_for()
    await shots(page, "is-agent-queue")
    await page.goto(stack.url("web") + f"/agent/cases/{a.id}/{claim['debtor_id']}")
    await page.get_by_role("heading", name="Handrit: fyrsta símtal (áminning)").wait_for()
    await page.get_by_role("group", name="Hver var niðurstaða símtalsins?").wait_for()
    await page.get_by_label("Greiðsluloforð fyrir tiltekinn dag").wait_for()
    await shots(page, "is-agent-case")
    await context.close()

    # The operators' pages, for an operator whose browser speaks Icelandic.
    ops = await add_user(stack, "operator")
    context = await browser.new_context(viewport=DESKTOP, locale="is-IS")
    page = await context.new_page()
    await log_in_in_icelandic(stack, page, ops)
    for path, name, heading in (
        ("/ops", "is-ops-unmatched", "Óparaðar greiðslur"),
        ("/ops/bounces", "is-ops-bounces", "Endursendingar"),
        ("/ops/dead-letters", "is-ops-dead-letters", "Villuskeyti"),
        ("/ops/audit", "is-ops-audit", "Aðgerðaskrá"),
    ):
        await page.goto(stack.url("web") + path)
        await page.get_by_role("heading", name=heading, exact=True).wait_for()
        await shots(page, name)
    await context.close()
