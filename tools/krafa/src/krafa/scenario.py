"""The demo scenario: a sports club with a few dozen payment slips. The club has a claim bank, so
each slip of a debtor with a kennitala is a claim in the payer's netbank. Some debtors pay by
transfer before the due date, some after the first reminder, some pay the claim in their netbank
after the first reminder; one mailbox does not exist (the email bounces and a letter goes out
instead), some have no email at all (a letter from the start), the rest get both reminders. People
work in it too: the club's admin holds a golf-section claim from its handover notice in the
creditor web, and an agent takes a debtor's call on the agent desk and records a promise to pay.
The verdict checks every expected outcome from the event topics and the sinks."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from krafa import invariants
from krafa.chaos import kennitala
from krafa.observer import Observer
from krafa.stack import BOUNCE_DOMAIN, Stack

CLUB_KENNITALA = "5101690509"  # the club's (a company's) kennitala
CLAIM_BANK = "0133"
PAYING = ("pays_early", "pays_after_reminder", "pays_in_netbank", "pays_by_card")

FIRST_NAMES = ("Jón", "Guðrún", "Sigríður", "Ólafur", "Þórdís", "Einar", "Kristín", "Björn", "Helga", "Ásgeir")
LAST_NAMES = ("Jónsson", "Sigurðardóttir", "Magnússon", "Ólafsdóttir", "Einarsson", "Þórsson")
STREETS = ("Laugavegur", "Hverfisgata", "Skólavörðustígur", "Bankastræti", "Suðurgata")


def kind_of(index: int) -> str:
    """Every ten debtors: 5 pays before the due date, 0-2 pay by transfer after the first
    reminder, 4 pays the claim in the netbank after it, 3 has a mailbox that does not exist, 7 has
    no email address, 8 pays by card in the portal (from the link in the reminder). Debtor 6
    objects in the portal and debtor 16 asks there for instalments; debtor 19 calls the agent desk
    and promises to pay, and the club holds debtor 26's claim (its golf section's) from the
    handover notice."""
    if index == 6:
        return "objects"
    if index == 16:
        return "asks_instalments"
    if index == PROMISING:
        return "promises"
    if index == HELD_AT_HANDOVER:
        return "held_at_handover"
    match index % 10:
        case 5:
            return "pays_early"
        case 0 | 1 | 2:
            return "pays_after_reminder"
        case 4:
            return "pays_in_netbank"
        case 3:
            return "bounces"
        case 7:
            return "no_email"
        case 8:
            return "pays_by_card"
        case _:
            return "never_pays"


PORTAL_KINDS = ("pays_by_card", "objects", "asks_instalments")
UNPAID = ("never_pays", "bounces", "no_email")  # every one of these gets the second reminder
PORTAL_STALL_S = 300.0  # the portal phase waits this long for the next debtor's reminder
PROMISING = 19  # calls the agent desk and promises to pay
HELD_AT_HANDOVER = 26  # the golf section's claim the club holds when its handover notice comes
CALLER_PHONE = "+3546912619"
# The golf section's own policy: a reminder, then the notice to the club and the handover. It gives
# the club ten days to react (the club's default is one): at the demo's speed a simulated day is
# a few seconds (3 s in the tests), and the person acting is a program polling the notices page on
# a machine that may be busy (two days, 6 s, and five, 15 s, were each missed once by a loaded
# test run). The handover still falls before the second reminders (due + 14).
GOLF_POLICY: dict[str, Any] = {
    "key": "golf-handover",
    "jurisdiction": "IS",
    "steps": [
        {
            "name": "reminder",
            "notice": "aminning",
            "when": {"after": "due_date", "days": 1},
            "channels": ["email"],
            "fallbacks": {"email": ["letter"]},
            "template": "reminder",
            "tone": "friendly",
        },
        {
            "name": "creditor_notice",
            "kind": "creditor_notice",
            "when": {"after": "due_date", "days": 3},
            "channels": [],
        },
        {"name": "handover", "kind": "handover", "when": {"after": "previous", "hours": 240}, "channels": []},
    ],
}
DEMO_DEBTOR = 9  # never pays: `make run` prints a login link to the portal for them


def national_id_of(index: int) -> str | None:
    """Most debtors have a kennitala (their claim goes to their netbank); one in ten (9) does not,
    and is asked to transfer with a reference instead."""
    if index % 10 == 9:
        return None
    return kennitala(date(1970, 1, 1) + timedelta(days=(index * 53) % 12000), index)


def _spread(ms: list[float]) -> str:
    if not ms:
        return "no payment recorded"
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {ordered[len(ordered) // 2]:.0f} ms, p99 {p99:.0f} ms, max {ordered[-1]:.0f} ms over {len(ordered)}"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class Scenario:
    def __init__(
        self, stack: Stack, observer: Observer, claims: int = 40, say: Callable[[str], None] = lambda _: None
    ) -> None:
        self.stack = stack
        self.observer = observer
        self.n = claims
        self.say = say
        self.start = stack.sim_now()
        # Large runs take a while to post; due dates start late enough that posting ends first.
        day_seconds = 86400 / stack.config.sim_speed
        lead_days = 0 if claims <= 1000 else math.ceil(claims / 150 / day_seconds)
        self.day0 = self.start.date() + timedelta(days=lead_days)
        self.claims: list[dict[str, Any]] = []
        self.late_sends: list[invariants.LateSend] = []
        self.stop_ms: list[float] = []
        self.truth = invariants.Verdict(False, "not read")
        self.api_key = ""
        self.creditor_id = ""
        self.posted_files = 0
        self.netbank_paid = 0
        self.portal_errors: list[str] = []
        self.webhooks: list[dict[str, Any]] = []
        self.schedules: dict[str, str] = {}
        self.staff_errors: list[str] = []
        self.held_by_web = False  # the web's handover route answered "held"
        self.promised: date | None = None
        self.statuses: dict[str, dict[str, Any]] = {}  # claims-api's view of the staff's claims at the end

    # -- setup ------------------------------------------------------------------------------
    async def create_creditor(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            self.stack.url("claims-api") + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {self.stack.state.admin_token}"},
            json={
                "name": "Ungmennafélagið Fram",
                "country": "IS",
                "currency": "ISK",
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                "default_language": "is",
                "contact_phone": "+354 555 1234",
                "payment_account": "0159-26-007654",
                "payment_link_template": "https://pay.krafa.localhost/{reference}",
                "sender_email": "innheimta@fram.localhost",
                "slip_fee_minor": 390,
                "registration_no": CLUB_KENNITALA,
                "bank_claims": {"claim_bank": CLAIM_BANK, "template_code": "001", "secondary_template_code": "MI1"},
            },
        )
        response.raise_for_status()
        self.api_key = response.json()["api_key"]
        self.creditor_id = response.json()["creditor_id"]
        from krafa.portal_driver import create_demo_staff

        await create_demo_staff(self.stack, self.creditor_id)
        # Reminders after the due date and the eindagi, before the collection warning.
        await self.stack.use_policy(client, response.json()["creditor_id"])
        golf = await client.put(
            self.stack.url("scheduler") + f"/v1/policies/{self.creditor_id}",
            params={"department": "golf"},
            json=GOLF_POLICY,
            headers={"Authorization": f"Bearer {self.stack.state.admin_token}"},
        )
        golf.raise_for_status()
        self.receiver, url = await self.webhook_receiver()
        hooked = await client.post(
            self.stack.url("claims-api") + "/v1/webhooks",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={"url": url, "event_types": ["claim.disputed", "arrangement.requested"]},
        )
        hooked.raise_for_status()

    def claim_body(self, i: int) -> dict[str, Any]:
        kind = kind_of(i)
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}"
        email = (
            None
            if kind == "no_email"
            else (f"payer{i}@{BOUNCE_DOMAIN}" if kind == "bounces" else f"payer{i}@example.is")
        )
        return {
            "invoice_no": f"FRAM-{i + 1:05d}",
            "amount_minor": 5_000 + (i * 1_237) % 20_000,
            "currency": "ISK",
            "issue_date": (self.day0 - timedelta(days=20)).isoformat(),
            "due_date": (self.day0 + timedelta(days=i % 3)).isoformat(),
            "description": "Æfingagjöld vor 2026",
            "department": "golf"
            if kind == "held_at_handover"
            else ("knattspyrna", "handknattleikur", "körfubolti")[i % 3],
            "debtor": {
                "customer_no": f"C-{i + 1:05d}",
                "name": name,
                "national_id": national_id_of(i),
                "country": "IS",
                "language": "en" if i % 4 == 3 else "is",
                "time_zone": "Atlantic/Reykjavik",
                "email": email,
                "phone": CALLER_PHONE if kind == "promises" else None,
                "address": {
                    "lines": [f"{STREETS[i % len(STREETS)]} {i % 90 + 1}"],
                    "postcode": "101",
                    "city": "Reykjavík",
                    "country": "IS",
                },
            },
        }

    async def post_claims(self, client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        chunk = 2_000
        for first in range(0, self.n, chunk):
            bodies = [self.claim_body(i) for i in range(first, min(first + chunk, self.n))]
            response = await client.post(
                self.stack.url("claims-api") + "/v1/claims/bulk", json={"claims": bodies}, headers=headers, timeout=120
            )
            response.raise_for_status()
            for offset, claim in enumerate(response.json()["claims"]):
                claim["kind"] = kind_of(first + offset)
                claim["national_id"] = national_id_of(first + offset)
                self.claims.append(claim)
        self.stack.state.demo_loaded = True
        self.stack.state.save(self.stack.state_path)
        self.say(f"posted {len(self.claims)} claims")

    async def open_balances(self, client: httpx.AsyncClient) -> dict[str, int]:
        """What each open claim's debtor owes now, as the creditor's ERP reads it: the principal
        with the slip fee, reminder fees and late interest booked so far (what the last reminder
        told the debtor). One listing, page by page, instead of a request per claim."""
        balances: dict[str, int] = {}
        params: dict[str, str | int] = {"status": "open", "limit": 500}
        while True:
            response = await client.get(
                self.stack.url("claims-api") + "/v1/claims",
                params=params,
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
            response.raise_for_status()
            page = response.json()
            balances.update({c["id"]: int(c["balance_minor"]) for c in page["items"]})
            if not page.get("next_cursor"):
                return balances
            params["cursor"] = page["next_cursor"]

    async def pay(self, client: httpx.AsyncClient, kind: str, booking: date, *, with_unknown: bool = False) -> int:
        # Every payer pays the whole current balance, fees and interest included.
        balances = await self.open_balances(client)
        paying = [c for c in self.claims if c["kind"] == kind and balances.get(c["id"], 0) > 0]
        credits = [
            GeneratedCredit(
                amount_minor=balances[c["id"]],
                currency=c["currency"],
                reference=c["reference"],
                booking_date=booking,
                bank_ref=f"DEMO-{booking:%Y%m%d}-{n:06d}",
            )
            for n, c in enumerate(paying)
        ]
        if with_unknown:
            credits.append(
                GeneratedCredit(
                    amount_minor=4_200,
                    currency="ISK",
                    reference="RF18539007547034",
                    booking_date=booking,
                    bank_ref=f"DEMO-{booking:%Y%m%d}-UNKNOWN",
                )
            )
        if not credits:
            return 0
        self.posted_files += 1
        document = camt054(
            credits,
            account_iban="IS140159260076545510730339",
            msg_id=f"DEMO-{self.posted_files}-{uuid.uuid4().hex[:8]}",
            created=datetime.now(UTC),
        )
        response = await client.post(
            self.stack.url("payments-ingest") + "/v1/payments/files",
            content=document,
            params={"filename": f"camt054-{booking:%Y%m%d}.xml"},
            headers={"Content-Type": "application/xml", "Authorization": f"Bearer {self.stack.state.admin_token}"},
            timeout=120,
        )
        response.raise_for_status()
        self.say(f"bank file of {booking}: {len(paying)} payments for '{kind}' claims imported")
        return len(paying)

    async def pay_in_netbank(self, client: httpx.AsyncClient) -> int:
        """The netbank payers open their netbank and pay the claim they find there, all of it."""
        bank = self.stack.url("bank-sink")
        paid = 0
        for claim in (c for c in self.claims if c["kind"] == "pays_in_netbank"):
            payor = claim["national_id"]
            if not payor or not claim.get("payment") or claim["payment"]["kind"] != "bank_claim":
                continue
            shown = (await client.get(f"{bank}/netbank/{payor}/claims")).json()["claims"]
            number = claim["payment"]["claim_number"]
            for bill in (b for b in shown if b["claimNumber"] == number):
                response = await client.post(f"{bank}/netbank/{payor}/claims/{bill['claimId']}/pay", json={})
                response.raise_for_status()
                paid += 1
        self.netbank_paid = paid
        self.say(f"{paid} debtors paid the claim in their netbank")
        return paid

    # -- the debtor portal ------------------------------------------------------------------------
    def address_of(self, claim: dict[str, Any]) -> str:
        return f"payer{self.claims.index(claim)}@example.is"

    async def use_portal(self) -> None:
        """Debtors who open the link in their reminder: some pay by card, one objects, one asks
        for three instalments (within the default self-service terms)."""
        from krafa.portal_driver import Person, addresses_with_mail

        async def act(claim: dict[str, Any]) -> None:
            person = Person(self.stack, self.address_of(claim))
            try:
                await person.log_in()
                if claim["kind"] == "pays_by_card":
                    page = await person.pay_by_card(claim["id"])
                    # Back on the portal's receipt page, in the debtor's language.
                    if page.status_code != 200 or "/paid?checkout=cs_" not in str(page.url):
                        raise RuntimeError(f"after paying: {page.status_code} at {page.url}")
                elif claim["kind"] == "objects":
                    await person.object(claim["id"], "Ég sagði mig úr félaginu í janúar.")
                else:
                    await person.instalments(claim["id"], 3)
            except Exception as exc:
                self.portal_errors.append(f"{claim['invoice_no']} ({claim['kind']}): {exc!r}")
            finally:
                await person.close()

        # Each debtor acts once their reminder is in their mailbox, eight at a time, in the order
        # the reminders came. On a busy machine the pipeline runs behind the simulated clock, and
        # a debtor whose reminder is still queued waits for it instead of failing; the phase
        # gives up only when no new reminder has reached any waiting debtor for PORTAL_STALL_S.
        waiting = [c for c in self.claims if c["kind"] in PORTAL_KINDS]
        total = len(waiting)
        addresses = {c["id"]: self.address_of(c).lower() for c in waiting}
        loop = asyncio.get_running_loop()
        progress = loop.time()

        async def debtor() -> None:
            nonlocal progress
            while waiting:
                reached = addresses_with_mail(self.stack)
                ready = next((c for c in waiting if addresses[c["id"]] in reached), None)
                if ready is None:
                    if loop.time() - progress > PORTAL_STALL_S:
                        return
                    await asyncio.sleep(0.5)
                    continue
                waiting.remove(ready)
                progress = loop.time()
                await act(ready)

        await asyncio.gather(*(debtor() for _ in range(8)))
        for claim in waiting:
            self.portal_errors.append(
                f"{claim['invoice_no']} ({claim['kind']}): no reminder reached {addresses[claim['id']]}, "
                f"none reached any waiting debtor for {PORTAL_STALL_S:.0f} s"
            )
        self.say(f"{total - len(self.portal_errors)} debtors used the portal")

    # -- the club's staff and the agent desk ---------------------------------------------------
    async def hold_at_handover(self) -> None:
        """The club's admin, logged in to the creditor web, watches the handover notices and holds
        the golf section's claim when its notice comes (the web's own route: the hold through
        claims-api, the decision and the audit row in the web)."""
        from krafa.portal_driver import StaffPerson, demo_staff

        claim = next((c for c in self.claims if c["kind"] == "held_at_handover"), None)
        if claim is None:
            return
        login = demo_staff(self.stack)["admin"]
        admin = StaffPerson(self.stack, login["email"], login["totp_secret"])
        try:
            # The notice comes three days after the due date: log in and watch from the day before.
            due = date.fromisoformat(claim["due_date"])
            await self.until(datetime.combine(due + timedelta(days=2), datetime.min.time(), UTC))
            await admin.log_in()
            while claim["invoice_no"] not in (await admin.page("/creditor/handovers")).text:
                await asyncio.sleep(0.2)
            done = await admin.submit(f"/creditor/handovers/{claim['id']}", {"decision": "hold"})
            self.held_by_web = done.status_code == 303 and "done=hold" in done.headers.get("location", "")
            self.say(f"the club held {claim['invoice_no']} from its handover notice")
        except Exception as exc:
            self.staff_errors.append(f"handover hold: {exc!r}")
        finally:
            await admin.close()

    async def agent_call(self, client: httpx.AsyncClient) -> None:
        """A debtor rings the agent desk (the telephony provider's incoming-call webhook, Twilio
        Voice's form fields); the agent opens the case and records a promise to pay in two weeks."""
        from krafa.portal_driver import StaffPerson, demo_staff

        claim = next((c for c in self.claims if c["kind"] == "promises"), None)
        if claim is None:
            return
        login = demo_staff(self.stack)["agent"]
        agent = StaffPerson(self.stack, login["email"], login["totp_secret"])
        try:
            await agent.log_in()
            rang = await client.post(
                self.stack.url("web") + "/v1/telephony/incoming",
                data={
                    "CallSid": "CA" + uuid.uuid4().hex,
                    "AccountSid": "AC" + uuid.uuid4().hex,
                    "From": CALLER_PHONE,
                    "To": "+3545551234",
                    "CallStatus": "ringing",
                    "Direction": "inbound",
                },
            )
            rang.raise_for_status()
            case = f"/agent/cases/{self.creditor_id}/{claim['debtor_id']}"
            self.promised = self.stack.sim_now().date() + timedelta(days=14)
            done = await agent.submit(
                case + "/outcome",
                {"outcome": "promise_to_pay", "promised_date": self.promised.isoformat(), "note": "Pays on payday."},
                form_on=case + "?inbound=1",
            )
            if done.status_code != 303 or "done=promise_to_pay" not in done.headers.get("location", ""):
                raise RuntimeError(f"the outcome answered {done.status_code} {done.headers.get('location')}")
            self.say(f"an agent took {claim['invoice_no']}'s call: a promise to pay by {self.promised}")
        except Exception as exc:
            self.staff_errors.append(f"agent call: {exc!r}")
        finally:
            await agent.close()

    async def read_staff_claims(self, client: httpx.AsyncClient) -> None:
        """claims-api's view of the claims the staff acted on, as the club's ERP reads it."""
        for claim in (c for c in self.claims if c["kind"] in ("promises", "held_at_handover")):
            response = await client.get(
                self.stack.url("claims-api") + f"/v1/claims/{claim['id']}",
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
            if response.status_code == 200:
                self.statuses[claim["id"]] = response.json()

    async def read_schedules(self, client: httpx.AsyncClient) -> None:
        """What the scheduler plans for the portal's and the staff's debtors now (paused, plan, stopped)."""
        kinds = ("objects", "asks_instalments", "promises", "held_at_handover")
        for claim in (c for c in self.claims if c["kind"] in kinds):
            response = await client.get(
                self.stack.url("scheduler") + f"/v1/claims/{claim['id']}/schedule",
                headers={"Authorization": f"Bearer {self.stack.state.admin_token}"},
            )
            if response.status_code == 200:
                self.schedules[claim["id"]] = response.json()["status"]

    async def webhook_receiver(self) -> tuple[Any, str]:
        """A creditor's webhook endpoint on 127.0.0.1: records what claims-api tells the creditor."""
        import uvicorn
        from krafa_kit.embedded import free_port

        app = FastAPI()

        @app.post("/hooks")
        async def hook(request: Request) -> dict[str, bool]:
            self.webhooks.append(await request.json())
            return {"ok": True}

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        server_task = (server, task)
        return server_task, f"http://127.0.0.1:{port}/hooks"

    # -- driving simulated time ----------------------------------------------------------------
    async def until(self, moment: datetime) -> None:
        while self.stack.sim_now() < moment:
            await asyncio.sleep(0.05)

    async def audit(self) -> tuple[list[invariants.LateSend], list[float]]:
        """The notifier's own record (docs/adr/0008): sends begun after it knew a claim was
        stopped, and how long each payment took from payments-ingest's commit to that record."""
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            return await invariants.sends_after_stops(conn), await invariants.stop_latencies_ms(conn)
        finally:
            await conn.close()

    async def watch_stops(self) -> None:
        """Fail fast: the first send begun after its claim was stopped ends the run, with the
        claim's whole story printed."""
        while True:
            await asyncio.sleep(2.0)
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                late, _ = await self.audit()
                if late:
                    self.late_sends = late
                    return

    def story(self, claim_id: uuid.UUID) -> str:
        trace = self.observer.claims.get(claim_id)
        lines = trace.history if trace is not None else ["(no event seen)"]
        return f"claim {claim_id} ({trace.invoice_no if trace else '?'}):\n  " + "\n  ".join(lines)

    async def run(self, timeout: float) -> Verdict:
        watchdog = asyncio.create_task(self.watch_stops())
        try:
            return await self._run(timeout, watchdog)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _run(self, timeout: float, watchdog: asyncio.Task[None]) -> Verdict:
        async with httpx.AsyncClient(timeout=30) as client:
            await self.create_creditor(client)
            await self.post_claims(client)
            holding = asyncio.create_task(self.hold_at_handover())
            # Before any due date: these claims must never see a reminder.
            await self.until(datetime.combine(self.day0, datetime.min.time(), UTC) + timedelta(hours=12))
            await self.pay(client, "pays_early", self.day0)
            # After the first reminders, before the second.
            await self.until(
                datetime.combine(self.day0 + timedelta(days=7), datetime.min.time(), UTC) + timedelta(hours=12)
            )
            await self.pay(client, "pays_after_reminder", self.day0 + timedelta(days=7), with_unknown=True)
            await self.pay_in_netbank(client)
            await self.use_portal()
            await self.agent_call(client)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.finished() and loop.time() < deadline and not watchdog.done():
            await asyncio.sleep(0.25)
        if not holding.done():
            holding.cancel()
            self.staff_errors.append("handover hold: no handover notice reached the creditor web in time")
        with contextlib.suppress(asyncio.CancelledError):
            await holding
        await asyncio.sleep(1.0)  # let the last events of the round reach the observer
        async with httpx.AsyncClient(timeout=30) as client:
            await self.read_schedules(client)  # after the scheduler has heard of the portal's actions
            await self.read_staff_claims(client)
        server, task = self.receiver
        server.should_exit = True
        await task
        late, self.stop_ms = await self.audit()
        self.late_sends = self.late_sends or late
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            self.truth = await invariants.messages_tell_the_truth(conn)
        finally:
            await conn.close()
        return self.verdict()

    def finished(self) -> bool:
        unpaid = [c for c in self.claims if c["kind"] in UNPAID]
        traces = self.observer.claims
        for claim in unpaid:
            trace = traces.get(uuid.UUID(claim["id"]))
            if trace is None or not any(s.step == 2 for s in trace.sent):
                return False
            if claim["kind"] == "bounces" and not any(s.fallback_for for s in trace.sent):
                return False
        if any(self.portal_pending()) or any(self.staff_pending()):
            return False
        paid = [c for c in self.claims if c["kind"] in PAYING]
        return all((t := traces.get(uuid.UUID(c["id"]))) is not None and t.paid_at for c in paid)

    def staff_pending(self) -> list[str]:
        """The staff's claims still waiting: the held one until its handover time has passed (so
        the verdict sees that it stayed), the promised one until its new due date is known."""
        if self.staff_errors:
            return []  # nothing more will happen: the verdict says what failed
        pending = []
        for claim in self.claims:
            trace = self.observer.claims.get(uuid.UUID(claim["id"]))
            if claim["kind"] == "held_at_handover":
                handover = trace.handover_at if trace is not None else None
                passed = handover is not None and self.stack.sim_now() > handover + timedelta(hours=6)
                if trace is None or trace.held_at is None or not passed:
                    pending.append(claim["id"])
            if claim["kind"] == "promises" and (trace is None or trace.deferred_to is None):
                pending.append(claim["id"])
        return pending

    def portal_pending(self) -> list[str]:
        traces = self.observer.claims
        pending = []
        for claim in self.claims:
            trace = traces.get(uuid.UUID(claim["id"]))
            if claim["kind"] == "objects" and (trace is None or trace.disputed_at is None):
                pending.append(claim["id"])
            if claim["kind"] == "asks_instalments" and (trace is None or trace.plan_agreed_at is None):
                pending.append(claim["id"])
        disputed = [c for c in self.claims if c["kind"] == "objects"]
        if disputed and not any(w.get("type") == "claim.disputed" for w in self.webhooks):
            pending.append("webhook")
        return pending

    # -- the verdict ---------------------------------------------------------------------------
    def verdict(self) -> Verdict:
        obs = self.observer
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for claim in self.claims:
            by_kind.setdefault(claim["kind"], []).append(claim)

        def trace(claim: dict[str, Any]) -> Any:
            return obs.claims.get(uuid.UUID(claim["id"]))

        paid_claims = [c for kind in PAYING for c in by_kind.get(kind, [])]
        in_netbank = by_kind.get("pays_in_netbank", [])
        netbank_payments = [
            p for p in obs.payments if p.source == "iobws" and str(p.claim_id) in {c["id"] for c in in_netbank}
        ]
        late = self.late_sends
        recorded_after = obs.reminders_after_payment()
        card = by_kind.get("pays_by_card", [])
        paid_by_card = [c for c in card if trace(c) and trace(c).card_payments and trace(c).paid_at]
        objectors = by_kind.get("objects", [])
        paused = [
            c
            for c in objectors
            if trace(c)
            and trace(c).disputed_at
            and self.schedules.get(c["id"]) == "paused"
            and not any(s.sent_at > trace(c).disputed_at for s in trace(c).sent)
        ]
        told = [
            c
            for c in objectors
            if any(w.get("type") == "claim.disputed" and w["data"]["claim_id"] == c["id"] for w in self.webhooks)
        ]
        askers = by_kind.get("asks_instalments", [])
        # The scheduler follows the plan: its timeline is in plan mode or re-planned around it (live).
        planned = [
            c
            for c in askers
            if trace(c) and trace(c).plan_agreed_at and self.schedules.get(c["id"]) in ("plan", "active")
        ]
        held = [
            c
            for c in by_kind.get("held_at_handover", [])
            if trace(c)
            and trace(c).handover_at
            and trace(c).held_at
            and trace(c).held_at < trace(c).handover_at
            and trace(c).escalated_at is None
            and self.held_by_web
            and self.statuses.get(c["id"], {}).get("status") == "held"
        ]
        promised = self.promised.isoformat() if self.promised else None
        kept = [
            c
            for c in by_kind.get("promises", [])
            if trace(c)
            and trace(c).deferred_to is not None
            and trace(c).deferred_to.isoformat() == promised
            and self.statuses.get(c["id"], {}).get("due_date") == promised
            and self.schedules.get(c["id"]) == "active"
        ]
        early_reminded = [c for c in by_kind.get("pays_early", []) if trace(c) and trace(c).sent]
        second_for_paid = [
            c for c in by_kind.get("pays_after_reminder", []) if trace(c) and any(s.step == 2 for s in trace(c).sent)
        ]
        bounced = [c for c in by_kind.get("bounces", []) if trace(c) and trace(c).bounces]
        bounced_with_letter = [
            c for c in bounced if any(s.fallback_for and s.channel.value == "letter" for s in trace(c).sent)
        ]
        second_by_letter = [
            c
            for c in by_kind.get("bounces", [])
            if trace(c) and any(s.step == 2 and s.channel.value == "letter" for s in trace(c).sent)
        ]
        unpaid = [c for kind in UNPAID for c in by_kind.get(kind, [])]
        without_second = [c for c in unpaid if not (trace(c) and any(s.step == 2 for s in trace(c).sent))]
        mail = list((self.stack.spool / "mail" / "new").glob("*.eml"))
        letters = list((self.stack.spool / "providers" / "print").glob("*.pdf"))
        v = Verdict()
        v.checks = [
            Check("claims created", obs.counts["ClaimCreated"] >= self.n, f"{obs.counts['ClaimCreated']} of {self.n}"),
            Check("due dates passed", obs.counts["DueDatePassed"] > 0, f"{obs.counts['DueDatePassed']} DueDatePassed"),
            Check(
                "reminder emails sent",
                obs.sent_by_channel["email"] > 0 and len(mail) > 0,
                f"{obs.sent_by_channel['email']} ReminderSent by email, {len(mail)} messages at the SMTP server",
            ),
            Check(
                "bounce turned into a letter",
                len(bounced_with_letter) >= 1 and len(bounced_with_letter) == len(bounced),
                f"{obs.counts['EmailBounced']} EmailBounced, {len(bounced_with_letter)} fallback letters "
                f"for {len(bounced)} bounced debtors",
            ),
            Check(
                "bounced address not used again",
                len(second_by_letter) == len(by_kind.get("bounces", [])),
                f"{len(second_by_letter)} second reminders went by letter",
            ),
            Check(
                "letters at the print provider",
                len(letters) >= obs.sent_by_channel["letter"] > 0,
                f"{obs.sent_by_channel['letter']} ReminderSent by letter, {len(letters)} PDFs at the print sink",
            ),
            Check(
                "payments matched",
                obs.counts["PaymentReceived"] == len(paid_claims) and obs.counts["ClaimPaid"] == len(paid_claims),
                f"{obs.counts['PaymentReceived']} PaymentReceived, {obs.counts['ClaimPaid']} ClaimPaid "
                f"for {len(paid_claims)} paying debtors, {obs.counts['PaymentUnmatched']} unmatched",
            ),
            Check(
                "claims paid in the netbank",
                bool(in_netbank)
                and self.netbank_paid == len(in_netbank)
                and len(netbank_payments) == len(in_netbank)
                and all(trace(c) and trace(c).paid_at for c in in_netbank),
                f"{self.netbank_paid} netbank payments by {len(in_netbank)} payers, {len(netbank_payments)} "
                "PaymentReceived from the bank's claims interface, each claim paid",
            ),
            Check(
                "zero reminders after payment",
                not late and not early_reminded and not second_for_paid,
                f"{len(late)} sends begun after the notifier knew the claim was paid or stopped "
                f"({len(recorded_after)} recorded after claims-api's paid moment, begun before); "
                f"{len(early_reminded)} to early payers; {len(second_for_paid)} second reminders to payers; "
                f"payment committed → notifier knew: {_spread(self.stop_ms)}"
                + ("\n" + self.story(late[0].claim_id) if late else ""),
            ),
            Check(
                "every unpaid claim got its second reminder",
                not without_second and bool(unpaid),
                f"step 2 for {len(unpaid) - len(without_second)} of {len(unpaid)} unpaid claims"
                + (f"; none for {', '.join(c['invoice_no'] for c in without_second[:5])}" if without_second else ""),
            ),
            Check(
                "every message stated the ledger's balance, within the fee caps and the notices' gaps",
                self.truth.ok,
                self.truth.detail,
            ),
            Check(
                "paid by card in the portal, reminders stopped",
                len(paid_by_card) == len(card) > 0 and not late,
                f"{len(paid_by_card)} of {len(card)} debtors paid by card from their reminder's link "
                f"(PaymentReceived from the provider's webhook, ClaimPaid)"
                + (f"; portal errors: {'; '.join(self.portal_errors)}" if self.portal_errors else ""),
            ),
            Check(
                "objection in the portal: paused, creditor notified",
                len(paused) == len(objectors) == len(told) > 0,
                f"{len(paused)} of {len(objectors)} objections paused the timeline with no reminder after; "
                f"{len(told)} claim.disputed webhooks to the creditor",
            ),
            Check(
                "handover held by a creditor user",
                len(held) == len(by_kind.get("held_at_handover", [])) > 0,
                f"{len(held)} of {len(by_kind.get('held_at_handover', []))} claims held by the club's admin from "
                "the handover notice in the creditor web (ClaimHeld before the handover time, no ClaimEscalated "
                "after it, held at claims-api)"
                + (f"; staff errors: {'; '.join(self.staff_errors)}" if self.staff_errors else ""),
            ),
            Check(
                "agent call: promise to pay re-planned the claim",
                len(kept) == len(by_kind.get("promises", [])) > 0,
                f"{len(kept)} of {len(by_kind.get('promises', []))} calls recorded on the agent desk as a promise "
                f"to pay by {promised} (ClaimDeferred to that date, claims-api's due date, the scheduler's "
                "timeline active)",
            ),
            Check(
                "instalments asked in the portal: granted and re-planned",
                len(planned) == len(askers) > 0,
                f"{len(planned)} of {len(askers)} plans granted within the terms (ClaimInstalmentPlanAgreed); "
                f"the scheduler's timelines: {sorted(self.schedules.get(c['id'], '?') for c in askers)}",
            ),
        ]
        v.figures = {
            "claims": self.n,
            "reminders_email": obs.sent_by_channel["email"],
            "reminders_letter": obs.sent_by_channel["letter"],
            "bounces": obs.counts["EmailBounced"],
            "payments": obs.counts["PaymentReceived"],
            "netbank_payments": len(netbank_payments),
            "claims_paid": obs.counts["ClaimPaid"],
            "paid_by_card": len(paid_by_card),
            "objections": len(paused),
            "plans": len(planned),
            "held_at_handover": len(held),
            "promises_to_pay": len(kept),
            "undecodable": obs.undecodable,
        }
        return v
