"""Driving the debtor portal as a person would, on a running stack: a creditor and its claims over
REST, the reminder emails and one-time codes as they arrive at the SMTP catcher. Shared by the
browser tests, `krafa screenshots` and the demo."""

from __future__ import annotations

import asyncio
import email
import json
import re
import time
from collections.abc import Collection
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from krafa.stack import Stack

LINK = re.compile(r"https?://[\w.:\-]+/l/[a-z2-7]{16}")
CODE = re.compile(r"\b(\d{6})\b")


class _MailIndex:
    """The SMTP catcher's spooled messages by envelope recipient, in arrival order, kept up to date
    by reading only the lines its index (`index.jsonl`, one per message, written after the
    message) gained since the last look. At 10,000 claims the spool holds tens of thousands of
    messages: a poll that stat-ed or parsed each one every 0.2 s held the event loop for minutes,
    and with it the scenario and its signal handling."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.offset = 0
        self.by_address: dict[str, list[Path]] = {}

    def refresh(self) -> None:
        try:
            with (self.spool / "index.jsonl").open("rb") as index:
                index.seek(self.offset)
                tail = index.read()
        except FileNotFoundError:
            return
        complete = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits for the next look
        self.offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            for address in record["rcpt_tos"]:
                self.by_address.setdefault(address.lower(), []).append(self.spool / record["file"])

    def paths_to(self, address: str) -> list[Path]:
        return list(self.by_address.get(address.lower(), []))


_INDEXES: dict[Path, _MailIndex] = {}


def messages_to(stack: Stack, address: str) -> list[EmailMessage]:
    """Every message spooled for `address`, oldest first."""
    spool = stack.spool / "mail"
    index = _INDEXES.get(spool)
    if index is None:
        index = _INDEXES[spool] = _MailIndex(spool)
    index.refresh()
    found = []
    for path in index.paths_to(address):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def addresses_with_mail(stack: Stack) -> Collection[str]:
    """Every address (lower case) some message reached, from the catcher's index alone."""
    spool = stack.spool / "mail"
    index = _INDEXES.get(spool)
    if index is None:
        index = _INDEXES[spool] = _MailIndex(spool)
    index.refresh()
    return index.by_address.keys()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


async def wait_for(check: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise TimeoutError(f"waited {timeout}s for {what}")


async def reminder_link(stack: Stack, address: str, *, newest: bool = False) -> str:
    """The personal link in the first reminder email to `address` (`newest`: in the latest one)."""

    def find() -> str | None:
        messages = messages_to(stack, address)
        for message in reversed(messages) if newest else messages:
            match = LINK.search(text_of(message))
            if match:
                return match.group(0)
        return None

    link: str = await wait_for(find, 90, f"a reminder with a link to {address}")
    return link


async def one_time_code(stack: Stack, address: str, seen: int) -> str:
    """The code in the newest code email to `address` after the first `seen` messages."""

    def find() -> str | None:
        for message in reversed(messages_to(stack, address)[seen:]):
            subject = str(message["Subject"] or "")
            match = CODE.search(subject)
            if match:
                return match.group(1)
        return None

    code: str = await wait_for(find, 30, f"a one-time code to {address}")
    return code


class Creditor:
    def __init__(self, stack: Stack, api_key: str, creditor_id: str) -> None:
        self.stack, self.api_key, self.id = stack, api_key, creditor_id
        self.http = httpx.AsyncClient(
            base_url=stack.url("claims-api"), headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    @classmethod
    async def create(cls, stack: Stack, name: str = "Ungmennafélagið Fram") -> Creditor:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                stack.url("claims-api") + "/v1/admin/creditors",
                headers={"Authorization": f"Bearer {stack.state.admin_token}"},
                json={
                    "name": name,
                    "country": "IS",
                    "currency": "ISK",
                    "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                    "default_language": "is",
                    "contact_phone": "+354 555 1234",
                    "payment_account": "0133-26-012345",
                    "sender_email": "innheimta@fram.localhost",
                    "slip_fee_minor": 390,
                },
            )
            response.raise_for_status()
            body = response.json()
        return cls(stack, body["api_key"], body["creditor_id"])

    async def claim(
        self,
        n: int,
        *,
        email: str | None,
        language: str = "is",
        amount: int = 12_000,
        overdue_days: int = 1,
        **debtor: Any,
    ) -> dict[str, Any]:
        """A claim `overdue_days` past its due date (21 or more: the default policy's first notice is due at once)."""
        today = self.stack.sim_now().date()
        response = await self.http.post(
            "/v1/claims",
            json={
                "invoice_no": f"P-{n:04d}-{int(time.time() * 1000) % 100000}",
                "amount_minor": amount,
                "currency": "ISK",
                "issue_date": (today - timedelta(days=overdue_days + 19)).isoformat(),
                "due_date": (today - timedelta(days=overdue_days)).isoformat(),
                "description": "Æfingagjöld vor 2026",
                "debtor": {
                    "customer_no": f"C-{n:04d}",
                    "name": debtor.pop("name", "Guðrún Jónsdóttir"),
                    "country": "IS",
                    "language": language,
                    "time_zone": "Atlantic/Reykjavik",
                    "email": email,
                    "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
                    **debtor,
                },
            },
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def get(self, claim_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/claims/{claim_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def close(self) -> None:
        await self.http.aclose()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CONTACT = re.compile(r'name="contact" id="contact-1" value="([^"]+)"')
ALERT = re.compile(r'role="alert"[^>]*>\s*<p>(.*?)</p>', re.S)
PAY_ATTEMPTS = 3
PAY_RETRY_S = 10.0


class Person:
    """A debtor using the portal's pages over HTTP, as a browser would (forms, redirects, the
    provider's hosted page), for the demo. Cookies are kept by hand: the portal's are Secure
    and the demo stack answers on http://127.0.0.1, which browsers trust and httpx does not."""

    def __init__(self, stack: Stack, address: str) -> None:
        self.stack, self.address = stack, address
        self.cookies: dict[str, str] = {}
        self.http = httpx.AsyncClient(timeout=30, follow_redirects=False, headers={"Accept-Language": "en"})

    async def close(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, form: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        if form is not None:
            headers["Origin"] = self.stack.url("web")
        response = await self.http.request(method, url, data=form, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or not value.strip('"'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    async def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (302, 303):
            response = await self.request("GET", str(response.url.join(response.headers["location"])))
        return response

    async def log_in(self) -> None:
        # From the newest reminder, as a person opens the latest mail: the first one's link may
        # have expired by the time they act (60 days).
        link = await reminder_link(self.stack, self.address, newest=True)
        page = await self.request("GET", link)
        csrf, contact = CSRF.search(page.text), CONTACT.search(page.text)
        if page.status_code != 200 or csrf is None or contact is None:
            raise RuntimeError(f"the link page answered {page.status_code}")
        seen = len(messages_to(self.stack, self.address))
        sent = await self.request("POST", link, {"csrf": csrf.group(1), "contact": contact.group(1)})
        if sent.status_code == 429:
            raise RuntimeError("the portal refused to send a code: too many requests from this address")
        await self.follow(sent)
        code = await one_time_code(self.stack, self.address, seen)
        form = await self.request("GET", self.stack.url("web") + "/login/code")
        token = CSRF.search(form.text)
        assert token is not None
        done = await self.request("POST", self.stack.url("web") + "/login/code", {"csrf": token.group(1), "code": code})
        if done.headers.get("location") != "/claims":
            raise RuntimeError(f"login refused ({done.status_code})")

    async def _form(self, path: str, values: dict[str, str]) -> httpx.Response:
        url = self.stack.url("web") + path
        page = await self.request("GET", url)
        token = CSRF.search(page.text)
        if token is None:
            raise RuntimeError(f"{path}: no form ({page.status_code})")
        return await self.request("POST", url, {"csrf": token.group(1), **values})

    async def pay_by_card(self, claim_id: str, card: str = "4242424242424242") -> httpx.Response:
        """The whole balance, on the provider's hosted page; returns the portal's page after."""
        for attempt in range(PAY_ATTEMPTS):
            checkout = await self._form(f"/claims/{claim_id}/pay", {"whole": "whole"})
            if checkout.status_code in (302, 303):
                break
            # As a person does when the portal says the card payment could not start: try again
            # in a little while, and say what the page said if it never starts.
            said = ALERT.search(checkout.text)
            message = said.group(1).strip() if said else "(no message)"
            refusal = f"the checkout answered {checkout.status_code}: {message}"
            if checkout.status_code < 500 or attempt == PAY_ATTEMPTS - 1:
                raise RuntimeError(refusal)
            await asyncio.sleep(PAY_RETRY_S)
        hosted = checkout.headers["location"]
        paid = await self.request("POST", hosted, {"number": card, "expiry": "12/30", "cvc": "123"})
        if paid.status_code not in (302, 303):
            raise RuntimeError(f"the provider's page answered {paid.status_code}")
        return await self.follow(paid)

    async def object(self, claim_id: str, reason: str) -> httpx.Response:
        return await self.follow(await self._form(f"/claims/{claim_id}/object", {"reason": reason}))

    async def instalments(self, claim_id: str, count: int) -> httpx.Response:
        return await self.follow(
            await self._form(f"/claims/{claim_id}/arrange", {"kind": "instalments", "count": str(count)})
        )


class StaffPerson(Person):
    """A member of staff (a creditor's clerk or admin, an agent) using the staff pages over HTTP as
    a browser would: password, then the authenticator's code, then forms with their CSRF token."""

    def __init__(self, stack: Stack, email: str, totp_secret: str) -> None:
        super().__init__(stack, email)
        self.totp_secret = totp_secret

    async def log_in(self) -> None:
        import pyotp

        web = self.stack.url("web")
        page = await self.request("GET", web + "/staff/login")
        token = CSRF.search(page.text)
        if token is None:
            raise RuntimeError(f"the staff login page answered {page.status_code}")
        form = {"csrf": token.group(1), "email": self.address, "password": STAFF_PASSWORD}
        await self.request("POST", web + "/staff/login", form)
        code_page = await self.request("GET", web + "/staff/login/code")
        token = CSRF.search(code_page.text)
        if token is None:
            raise RuntimeError(f"{self.address}: the password was refused ({code_page.status_code})")
        code = pyotp.TOTP(self.totp_secret).now()
        done = await self.request("POST", web + "/staff/login/code", {"csrf": token.group(1), "code": code})
        if done.status_code != 303 or "/staff/login" in done.headers.get("location", ""):
            raise RuntimeError(f"{self.address}: the code was refused ({done.status_code})")

    async def page(self, path: str) -> httpx.Response:
        return await self.request("GET", self.stack.url("web") + path)

    async def submit(self, path: str, values: dict[str, str], *, form_on: str | None = None) -> httpx.Response:
        """Post `values` to `path` with the CSRF token of the page `form_on` (default: `path`)."""
        return await self._form_post(form_on or path, path, values)

    async def _form_post(self, page_path: str, path: str, values: dict[str, str]) -> httpx.Response:
        page = await self.page(page_path)
        token = CSRF.search(page.text)
        if token is None:
            raise RuntimeError(f"{page_path}: no form ({page.status_code})")
        return await self.request("POST", self.stack.url("web") + path, {"csrf": token.group(1), **values})


def demo_staff(stack: Stack) -> dict[str, dict[str, str]]:
    """The demo staff users' logins (email and TOTP secret), as `create_demo_staff` kept them."""
    import json

    path = stack.home / STAFF_FILE
    known: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    return known


STAFF_PASSWORD = "krafa-demo-staff-2026"  # noqa: S105 — the local demo's staff users only
STAFF_FILE = "demo-staff.json"


async def create_demo_staff(stack: Stack, creditor_id: str) -> dict[str, dict[str, str]]:
    """The demo's people in the creditor web, the agent desk and the operators' pages: an admin of
    the creditor, an agent serving its queue and an operator (each with a TOTP secret, kept in the
    stack's home for `krafa run`)."""
    import json

    people: dict[str, dict[str, Any]] = {
        "admin": {"email": "admin@fram.localhost", "name": "Anna Admin", "role": "admin", "creditor_id": creditor_id},
        "agent": {"email": "agent@krafa.localhost", "name": "Ari Agent", "role": "agent", "serves": [creditor_id]},
        "operator": {"email": "ops@krafa.localhost", "name": "Olga Operator", "role": "operator"},
    }
    made: dict[str, dict[str, str]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for key, person in people.items():
            response = await client.post(
                stack.url("web") + "/v1/staff-users",
                headers={"Authorization": f"Bearer {stack.state.admin_token}"},
                json={**person, "password": STAFF_PASSWORD},
            )
            if response.status_code == 409:
                continue  # a restarted demo keeps its users
            response.raise_for_status()
            made[key] = {"email": str(person["email"]), "totp_secret": response.json()["totp_secret"]}
    if made:
        # A restarted demo keeps the users it made before: their secrets stay in the file.
        path = stack.home / STAFF_FILE
        known = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**known, **made}, indent=1))
    return made


def staff_login_line(stack: Stack) -> str:
    """The demo staff users' logins with the current TOTP code, for a person trying the screens."""
    import json

    import pyotp

    path = stack.home / STAFF_FILE
    if not path.exists():
        return ""
    people = json.loads(path.read_text())
    parts = [f"{p['email']} (code {pyotp.TOTP(p['totp_secret']).now()})" for p in people.values()]
    return f"Staff login {stack.url('web')}/staff/login, password {STAFF_PASSWORD}: " + ", ".join(parts)
