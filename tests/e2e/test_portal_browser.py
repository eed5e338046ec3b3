"""The debtor portal in a real browser (Debian's Chromium via Playwright), across the running
stack: each journey starts from the personal link in a real reminder email at the SMTP catcher
and ends at the effect on the claim (claims-api) and the events on the topics. Every page the
journeys visit is checked by axe-core (WCAG 2.1 AA) for serious and critical violations — once per
distinct page: the same language, elements, ids, classes and roles (what axe's verdict rests on)
met again with other data is not checked again."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from krafa.browser import DESKTOP, PHONE, axe_violations
from krafa.portal_driver import Creditor, messages_to, one_time_code, reminder_link, wait_for
from krafa.stack import Stack
from krafa_events import ClaimPaid, PaymentReceived, ReminderSent, Topic
from krafa_events import portal_link as links
from krafa_events.catalog import ClaimDeferred, ClaimDisputed, ClaimInstalmentPlanAgreed, DebtorUpdated
from krafa_kit.testing import TopicReader

pytestmark = pytest.mark.e2e

# A simulated day of 8 s: a claim's next step (ten days after its notice) is 80 s away, more than a
# journey takes on a busy machine, so a fee never lands between the amount a page shows and the
# payment of it (the card payment's "paid in full" once failed so under load at 3 s a day).
STACK_DAY_S = 8.0


@pytest.fixture(scope="module")
async def topics(stack: Stack) -> AsyncIterator[TopicReader]:
    async with TopicReader(
        stack.broker.bootstrap, Topic.CLAIMS.value, Topic.PAYMENTS.value, Topic.NOTIFICATIONS.value
    ) as reader:
        yield reader


class OverdueCreditor(Creditor):
    """Its claims are 21 days overdue: the default policy's first notice (the collection warning,
    ten days after the eindagi ten days after the due date) with its portal link is due at once,
    and no journey waits simulated days for it. (Registered as each journey starts: a link sent
    early would have outlived its days by the time a later journey used it.)"""

    async def claim(self, n: int, **kwargs: Any) -> dict[str, Any]:
        return await super().claim(n, **{"overdue_days": 21, **kwargs})


@pytest.fixture(scope="module")
async def creditor(stack: Stack) -> AsyncIterator[Creditor]:
    instance = await OverdueCreditor.create(stack)
    yield instance
    await instance.close()


# A page's shape: what axe's rules look at besides the text (a page met again with other data has
# the same shape). Pages already checked in this module are not checked again.
SHAPE = """() => [document.documentElement.lang, ...Array.from(document.querySelectorAll('body *'), e =>
    [e.tagName, e.id, e.className, e.getAttribute('role'), e.getAttribute('aria-invalid'), e.hidden].join('.'))
].join(' ')"""
CHECKED: set[str] = set()


class Visit:
    """A person's browser context: every page it lands on gets the accessibility check."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.checked: list[str] = []
        self.violations: dict[str, list[dict[str, Any]]] = {}

    async def check(self) -> None:
        path = self.page.url
        shape = await self.page.evaluate(SHAPE)
        if shape in CHECKED:
            return
        CHECKED.add(shape)
        found = await axe_violations(self.page)
        self.checked.append(path)
        if found:
            self.violations[path] = found

    async def goto(self, url: str) -> Any:
        response = await self.page.goto(url)
        await self.check()
        return response

    async def submit(self, button: str) -> None:
        target = self.page.get_by_role("button", name=button)
        try:
            await target.wait_for(timeout=30_000)
        except Exception as exc:  # what the page said instead is the useful part of the failure
            said = await self.page.locator("main").inner_text()
            raise AssertionError(f"no {button!r} button on {self.page.url}; the page says: {said!r}") from exc
        async with self.page.expect_navigation():
            await target.click()
        await self.check()

    def assert_accessible(self) -> None:
        assert not self.violations, json.dumps(self.violations, indent=1, ensure_ascii=False)


@pytest.fixture
async def visit(browser: Any) -> AsyncIterator[Visit]:
    context = await browser.new_context(viewport=PHONE, locale="en-GB")
    page = await context.new_page()
    try:
        yield Visit(page)
    finally:
        await context.close()


async def log_in(stack: Stack, visit: Visit, address: str) -> str:
    """From the reminder email's link to the claims page, with the one-time code by email."""
    link = await reminder_link(stack, address)
    await visit.goto(link)
    seen = len(messages_to(stack, address))
    await visit.submit("Send me a code")
    code = await one_time_code(stack, address, seen)
    await visit.page.get_by_label("One-time code").fill(code)
    await visit.submit("Log in")
    assert visit.page.url.endswith("/claims"), visit.page.url
    return link


async def test_a_debtor_pays_by_card_and_the_reminders_stop(
    stack: Stack, creditor: Creditor, visit: Visit, topics: TopicReader
) -> None:
    claim = await creditor.claim(1, email="card.payer@example.is", name="Jón Jónsson", language="en")
    await log_in(stack, visit, "card.payer@example.is")
    page = visit.page
    await page.get_by_role("link", name=f"Invoice {claim['invoice_no']}").click()
    await page.wait_for_url(f"**/claims/{claim['id']}")
    await visit.check()
    await page.get_by_role("link", name="Pay by card").click()
    await page.wait_for_url("**/pay")
    await visit.check()
    await visit.submit("Continue to payment")  # the whole amount is the default
    assert "/pay/cs_test_" in page.url  # the provider's hosted page
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry (MM/YY)").fill("12/30")
    await page.get_by_label("CVC").fill("123")
    async with page.expect_navigation(url=f"**/claims/{claim['id']}/paid?checkout=*"):
        await page.get_by_role("button", name="Pay").click()
    await visit.check()
    await page.get_by_text("Thank you – your payment has been received").wait_for()
    await page.get_by_text("The claim is paid in full. No more reminders will be sent.").wait_for()

    paid = await creditor.get(claim["id"])
    assert paid["status"] == "paid" and paid["balance_minor"] == 0
    claim_id = uuid.UUID(claim["id"])
    payments = await wait_for(
        lambda: [e for e in topics.of_type(PaymentReceived) if e.claim_id == claim_id], 30, "PaymentReceived"
    )
    assert payments[0].bank_ref.startswith("cs_test_") and payments[0].amount_minor == paid["paid_minor"]
    # The whole amount as the portal stated it: the payment names the ledger behind it (all of its
    # entries but the payment's own), which would settle the claim had a charge been booked meanwhile.
    ledger = (await creditor.http.get(f"/v1/claims/{claim['id']}/ledger")).json()
    assert payments[0].stated_entries == len(ledger["entries"]) - 1
    closed = await wait_for(lambda: [e for e in topics.of_type(ClaimPaid) if e.claim_id == claim_id], 30, "ClaimPaid")
    # The reminders stop: the scheduler's timeline for the claim is over, and none is sent after.
    async with httpx.AsyncClient(timeout=10) as client:
        schedule = await client.get(
            stack.url("scheduler") + f"/v1/claims/{claim_id}/schedule",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        )
    assert schedule.json()["status"] != "active"
    await asyncio.sleep(STACK_DAY_S + 1)  # more than a simulated day: anything queued would have gone
    late = [e for e in topics.of_type(ReminderSent) if claim_id in e.claim_ids and e.sent_at > closed[0].paid_at]
    assert not late
    visit.assert_accessible()


async def test_a_debtor_objects_and_collection_pauses(
    stack: Stack, creditor: Creditor, visit: Visit, topics: TopicReader
) -> None:
    claim = await creditor.claim(2, email="objector@example.is", name="Ólafur Einarsson", language="en")
    await log_in(stack, visit, "objector@example.is")
    page = visit.page
    await visit.goto(stack.url("web") + f"/claims/{claim['id']}/object")
    await page.get_by_label("Why do you object?").fill("I cancelled the membership in January.")
    await visit.submit("Send my objection")
    await page.get_by_text("Your objection is registered").wait_for()
    after = await creditor.get(claim["id"])
    assert after["status"] == "disputed" and after["dispute_reason"] == "I cancelled the membership in January."
    disputed = await wait_for(
        lambda: [e for e in topics.of_type(ClaimDisputed) if str(e.claim_id) == claim["id"]], 30, "ClaimDisputed"
    )
    assert disputed[0].reason.startswith("I cancelled")
    history = [h for h in after["history"] if h["event_type"] == ClaimDisputed.TYPE]
    assert history and history[0]["details"]["source"] == "debtor"
    async with httpx.AsyncClient(timeout=10) as client:
        schedule = await client.get(
            stack.url("scheduler") + f"/v1/claims/{claim['id']}/schedule",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
        )
    assert schedule.json()["status"] == "paused"
    visit.assert_accessible()


async def test_instalments_within_the_terms_are_granted_and_beyond_them_the_creditor_decides(
    stack: Stack, creditor: Creditor, visit: Visit, topics: TopicReader
) -> None:
    granted = await creditor.claim(3, email="asker@example.is", name="Sigríður Magnúsdóttir", language="en")
    asked = await creditor.claim(
        3, email="asker@example.is", name="Sigríður Magnúsdóttir", language="en", amount=30_000
    )
    await log_in(stack, visit, "asker@example.is")
    page = visit.page
    await visit.goto(stack.url("web") + f"/claims/{granted['id']}/arrange")
    await page.get_by_label("Split the amount into instalments").check()
    await page.get_by_label("Number of instalments").select_option("3")
    await visit.submit("Send")
    await page.get_by_text("Done: your instalment plan is in place").wait_for()
    await page.get_by_role("heading", name="Your instalment plan").wait_for()
    plan = await wait_for(
        lambda: [e for e in topics.of_type(ClaimInstalmentPlanAgreed) if str(e.claim_id) == granted["id"]], 30, "plan"
    )
    after = await creditor.get(granted["id"])
    # The plan splits what was owed when it was agreed; interest that accrues on later (simulated)
    # days comes on top of it, so the balance read now may be larger, never smaller.
    planned = sum(i.amount_minor for i in plan[0].instalments)
    assert [i["amount_minor"] for i in after["instalments"]] == [i.amount_minor for i in plan[0].instalments]
    assert planned <= after["balance_minor"] and len(after["instalments"]) == 3

    # Five instalments are beyond the default terms (three): a request the creditor decides.
    await visit.goto(stack.url("web") + f"/claims/{asked['id']}/arrange")
    await page.get_by_label("Split the amount into instalments").check()
    await page.get_by_label("Number of instalments").select_option("5")
    await page.get_by_label("A message to Ungmennafélagið Fram (optional)").fill("I am paid monthly.")
    await visit.submit("Send")
    await page.get_by_text("Your request has been sent to Ungmennafélagið Fram").wait_for()
    requests = (await creditor.http.get("/v1/arrangement-requests")).json()["items"]
    request = next(r for r in requests if r["claim_id"] == asked["id"])
    assert request["status"] == "pending" and request["note"] == "I am paid monthly."
    assert any("instalments" in reason for reason in request["reasons"])
    approved = await creditor.http.post(f"/v1/arrangement-requests/{request['id']}/approve", json={"note": "OK"})
    assert approved.json()["status"] == "approved"
    await wait_for(
        lambda: [e for e in topics.of_type(ClaimInstalmentPlanAgreed) if str(e.claim_id) == asked["id"]], 30, "plan"
    )
    await visit.goto(stack.url("web") + f"/claims/{asked['id']}")
    await page.get_by_text("approved").first.wait_for()
    assert len((await creditor.get(asked["id"]))["instalments"]) == 5
    visit.assert_accessible()


async def test_a_deferral_within_the_terms_moves_the_due_date(
    stack: Stack, creditor: Creditor, visit: Visit, topics: TopicReader
) -> None:
    claim = await creditor.claim(4, email="later@example.is", language="en")
    await log_in(stack, visit, "later@example.is")
    page = visit.page
    await visit.goto(stack.url("web") + f"/claims/{claim['id']}/arrange")
    new_due = stack.sim_now().date().toordinal() + 10
    from datetime import date

    await page.get_by_label("New due date").fill(date.fromordinal(new_due).isoformat())
    await visit.submit("Send")
    await page.get_by_text("Done: the new due date is").wait_for()
    deferred = await wait_for(
        lambda: [e for e in topics.of_type(ClaimDeferred) if str(e.claim_id) == claim["id"]], 30, "ClaimDeferred"
    )
    assert deferred[0].due_date == date.fromordinal(new_due)
    visit.assert_accessible()


async def test_a_debtor_chooses_digital_delivery_and_a_verified_email(
    stack: Stack, creditor: Creditor, visit: Visit, topics: TopicReader
) -> None:
    claim = await creditor.claim(5, email="paper@example.is", language="is", name="Björn Þórsson")
    await log_in_is(stack, visit, "paper@example.is")
    page = visit.page
    await visit.goto(stack.url("web") + "/profile")
    await page.get_by_label(
        "Ég vil fá bréf frá kröfuhafanum (Ungmennafélagið Fram) sem skjöl í netbankann í stað bréfpósts."
    ).check()
    await visit.submit("Kveikja á birtingu í netbanka")
    await page.get_by_text("Búið: bréfin koma héðan í frá sem skjöl í netbankann þinn.").wait_for()
    await page.get_by_label("Netfang eða símanúmer").fill("bjorn.new@example.is")
    seen = len(messages_to(stack, "bjorn.new@example.is"))
    await visit.submit("Senda kóða")
    code = await one_time_code(stack, "bjorn.new@example.is", seen)
    await page.get_by_label("Kóðinn sem við sendum á bjorn.new@example.is").fill(code)
    await visit.submit("Staðfesta")
    await page.get_by_text("Vistað. Við notum það héðan í frá.").wait_for()
    debtor_id = uuid.UUID(claim["debtor_id"])
    updated = await wait_for(
        lambda: [
            e
            for e in topics.of_type(DebtorUpdated)
            if e.debtor_id == debtor_id and e.debtor.email == "bjorn.new@example.is"
        ],
        30,
        "DebtorUpdated with the verified email",
    )
    assert updated[-1].debtor.netbank_opt_in
    record = (await creditor.http.get(f"/v1/debtors/{debtor_id}")).json()
    added = next(cp for cp in record["contact_points"] if cp["value"] == "bjorn.new@example.is")
    assert added["origin"] == "debtor_opt_in" and added["verified"] and added["consent"]["source"]
    # Consent is revocable: stop using the online bank.
    netbank = next(cp for cp in record["contact_points"] if cp["kind"] == "netbank")
    await page.locator(f"form[action='/profile/revoke/{netbank['id']}'] button").click()
    await page.get_by_text("Búið: við notum þetta ekki framar.").wait_for()
    await visit.check()
    await wait_for(
        lambda: [
            e
            for e in topics.of_type(DebtorUpdated)
            if e.debtor_id == debtor_id and not e.debtor.netbank_opt_in and e.debtor.email == "bjorn.new@example.is"
        ],
        30,
        "netbank revoked",
    )
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Sækja gögnin mín (JSON)").click()
    download = await download_info.value
    exported = json.loads((await download.path()).read_text(encoding="utf-8"))
    # Everything every service holds, not claims-api's part alone: the addresses each reminder
    # went to (notifier), the timeline (scheduler), payments and returned messages.
    [record] = exported["records"]
    assert record["record"]["status"] == "complete", record["record"]["services"]
    parts = record["record"]["parts"]
    assert set(parts) == {"claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest"}
    assert parts["claims-api"]["debtor"]["name"] == "Björn Þórsson"
    assert "paper@example.is" in {d["recipient"] for d in parts["notifier"]["deliveries"]}
    assert [t["claim_id"] for t in parts["scheduler"]["timelines"]] == [claim["id"]]
    assert any(e["event"] == "login" for e in record["portal_logins"])
    visit.assert_accessible()


async def log_in_is(stack: Stack, visit: Visit, address: str) -> None:
    link = await reminder_link(stack, address)
    await visit.goto(link)
    seen = len(messages_to(stack, address))
    await visit.submit("Senda mér kóða")
    code = await one_time_code(stack, address, seen)
    await visit.page.get_by_label("Einnota kóði").fill(code)
    await visit.submit("Skrá inn")


# -- security ---------------------------------------------------------------------------------------


@pytest.mark.broker_agnostic
async def test_a_used_or_expired_link_is_refused(stack: Stack, creditor: Creditor, visit: Visit) -> None:
    await creditor.claim(6, email="twice@example.is", language="en")
    link = await log_in(stack, visit, "twice@example.is")
    await visit.page.get_by_role("button", name="Log out").click()
    await visit.page.wait_for_url("**/?bye=1")
    response = await visit.goto(link)
    assert response.status == 410
    await visit.page.get_by_text("This link has already been used to log in").wait_for()

    await creditor.claim(7, email="late@example.is", language="en")
    late = await reminder_link(stack, "late@example.is")
    # Its days run out: the link's expiry passes, as a reminder's link does after the TTL. The web
    # learns the link from ReminderSent, which may come after the mail: expire it once learnt.
    code_hash = links.digest(late.rsplit("/", 1)[-1])
    conn = await asyncpg.connect(stack.database_url)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while (
            await conn.execute("UPDATE web.portal_links SET expires_at = sent_at WHERE code_hash = $1", code_hash)
            != "UPDATE 1"
        ):
            assert asyncio.get_running_loop().time() < deadline, "the web never learnt the reminder's link"
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    response = await visit.goto(late)
    assert response.status == 410
    await visit.page.get_by_text("This link has expired").wait_for()
    assert (await visit.goto(stack.url("web") + "/l/aaaaaaaaaaaaaaaa")).status == 404
    visit.assert_accessible()


@pytest.mark.broker_agnostic
async def test_wrong_codes_lock_the_debtor_out(stack: Stack, creditor: Creditor, visit: Visit) -> None:
    await creditor.claim(8, email="guesser@example.is", language="en")
    link = await reminder_link(stack, "guesser@example.is")
    await visit.goto(link)
    seen = len(messages_to(stack, "guesser@example.is"))
    await visit.submit("Send me a code")
    code = await one_time_code(stack, "guesser@example.is", seen)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(1, 5):
        await visit.page.get_by_label("One-time code").fill(wrong)
        await visit.submit("Log in")
        await visit.page.get_by_text("That code is not right").wait_for()
        await visit.page.get_by_text(f"You have {5 - attempt} ").wait_for()
    await visit.page.get_by_label("One-time code").fill(wrong)
    await visit.submit("Log in")
    await visit.page.get_by_text("Too many wrong codes were entered").wait_for()
    # Locked: the right code no longer works, and the link sends no new one.
    response = await visit.goto(link)
    assert response.status == 423
    await visit.page.get_by_text("logging in with a code is blocked for a while").wait_for()
    visit.assert_accessible()


@pytest.mark.broker_agnostic
async def test_one_debtor_never_sees_anothers_claim_or_notice(stack: Stack, creditor: Creditor, visit: Visit) -> None:
    mine = await creditor.claim(9, email="x@example.is", language="en")
    theirs = await creditor.claim(10, email="y@example.is", language="en")
    await log_in(stack, visit, "x@example.is")
    page = visit.page
    assert (await visit.goto(stack.url("web") + f"/claims/{mine['id']}")).status == 200
    for path in ("", "/pay", "/object", "/arrange", f"/documents/{uuid.uuid4()}"):
        response = await visit.goto(stack.url("web") + f"/claims/{theirs['id']}{path}")
        assert response.status == 404, path
        await page.get_by_text("We could not find that page, or it is not yours to see.").wait_for()
    # Their notice as sent, through my session: not found either.
    theirs_history = (await creditor.get(theirs["id"]))["history"]
    sent = [h for h in theirs_history if h["event_type"] == ReminderSent.TYPE]
    if sent:
        delivery = sent[0]["details"]["delivery_id"]
        assert (await visit.goto(stack.url("web") + f"/claims/{theirs['id']}/documents/{delivery}")).status == 404
    # A forged post at their claim is refused before anything happens.
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    response = await page.request.post(
        stack.url("web") + f"/claims/{theirs['id']}/object", form={"csrf": csrf or "", "reason": "not mine"}
    )
    assert response.status == 404
    assert (await creditor.get(theirs["id"]))["status"] == "open"
    visit.assert_accessible()


@pytest.mark.broker_agnostic
async def test_a_form_without_its_csrf_token_or_from_another_site_is_refused(
    stack: Stack, creditor: Creditor, visit: Visit
) -> None:
    claim = await creditor.claim(11, email="csrf@example.is", language="en")
    await log_in(stack, visit, "csrf@example.is")
    request = visit.page.request
    url = stack.url("web") + f"/claims/{claim['id']}/object"
    assert (await request.post(url, form={"reason": "no token"})).status == 403
    assert (await request.post(url, form={"reason": "wrong", "csrf": "forged"})).status == 403
    csrf = await visit.page.locator("input[name=csrf]").first.get_attribute("value")
    forged_origin = await request.post(
        url, form={"reason": "cross-site", "csrf": csrf or ""}, headers={"Origin": "https://evil.example"}
    )
    assert forged_origin.status == 403
    assert (await creditor.get(claim["id"]))["status"] == "open"


@pytest.mark.broker_agnostic
async def test_session_cookie_is_secure_httponly_and_samesite(stack: Stack, creditor: Creditor, visit: Visit) -> None:
    await creditor.claim(12, email="cookie@example.is", language="en")
    await log_in(stack, visit, "cookie@example.is")
    cookies = {c["name"]: c for c in await visit.page.context.cookies()}
    session = cookies["__Host-krafa"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"
    assert session["expires"] == -1  # a session cookie: gone with the browser
    response = await visit.goto(stack.url("web") + "/claims")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"


@pytest.mark.broker_agnostic
async def test_the_pages_fit_a_desktop_too(stack: Stack, creditor: Creditor, browser: Any) -> None:
    context = await browser.new_context(viewport=DESKTOP, locale="nb-NO")
    try:
        visit = Visit(await context.new_page())
        await visit.goto(stack.url("web") + "/")
        await visit.page.get_by_role("heading", name="Mine sider").wait_for()  # the browser's language
        await visit.goto(stack.url("web") + "/l/aaaaaaaaaaaaaaaa")
        visit.assert_accessible()
    finally:
        await context.close()
