"""Signed webhooks to creditors (Standard Webhooks).

`enqueue_webhook` writes one delivery row per subscribed endpoint in the caller's transaction, so
a webhook exists exactly when the change that caused it commits (the outbox pattern). The
`WebhookWorker` leases due rows with FOR UPDATE SKIP LOCKED (safe with several replicas), POSTs
them signed, and reschedules failures on a backoff schedule until they are delivered or given up.
Every attempt is logged for the delivery-log endpoint.

Signature: `webhook-signature: v1,<base64 HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}">`
keyed with the base64-decoded part of the endpoint's `whsec_...` secret.

SSRF guard: a creditor chooses the URL Krafa calls, so an endpoint must be https without
credentials, and its host must be, and resolve only to, public unicast addresses (not loopback,
private, link-local, multicast, reserved or unspecified; IPv4 inside IPv6 is checked as IPv4).
The check runs at registration and again before every attempt, and the attempt connects to the
address just checked (the Host header and TLS name stay the URL's), so a DNS answer that changes
in between (DNS rebinding) cannot point it inwards. Redirects are never followed.
`KRAFA_WEBHOOK_ALLOW_PRIVATE` (tests, demos: 127.0.0.1 sinks) lifts the address rules and allows
http; `KRAFA_WEBHOOK_ALLOW_HTTP` allows http alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit
from uuid import UUID

import asyncpg
import httpx
from krafa_kit.db import Database
from krafa_kit.worker import PollingWorker, Round

from krafa_claims_api import metrics, webhook_events, webhook_repository

log = logging.getLogger(__name__)

EVENT_TYPES = tuple(webhook_events.DATA)
SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
# Standard Webhooks' suggested schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h; then the delivery is marked failed (it stays in the log).
RETRY_DELAYS_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
LEASE_S = 60
USER_AGENT = "Krafa-Webhooks/1"
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """A webhook URL Krafa must not call; the message says why."""


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_http: bool = False
    allow_private: bool = False  # tests and demos: 127.0.0.1 sinks, over http


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: `url` has the checked address as its host; `host` is the Host
    header and `sni` the TLS server name (certificate check), both the endpoint's own."""

    url: str
    host: str
    sni: str | None
    address: str


# Checked in this order so the reason names the narrowest class (127.0.0.1 is also "private").
_ADDRESS_CLASSES = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("reserved", "is_reserved"),
    ("private", "is_private"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: IPAddress) -> str | None:
    """Why Krafa must not connect to `ip` ("loopback", "private", …), or None for a public
    unicast address. IPv4 carried in IPv6 (mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64
    64:ff9b::/96) is judged as the IPv4 address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    for name, flag in _ADDRESS_CLASSES:
        if getattr(ip, flag):
            return name
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT)
        return "non-public"
    return None


def parse_url(url: str, policy: UrlPolicy) -> SplitResult:
    """The URL's parts when its form is acceptable (scheme, no credentials, a host)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number in range)
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and (policy.allow_http or policy.allow_private)):
        raise UnsafeUrl("the URL must use https")
    if "@" in parts.netloc:
        raise UnsafeUrl("the URL must not carry credentials (user:password@)")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    return parts


async def resolve(url: str, policy: UrlPolicy) -> Target:
    """Check `url` and resolve its host (with the event loop's getaddrinfo, which also reads
    decimal, octal and hex IPv4 forms such as 2130706433 or 0177.0.0.1); UnsafeUrl when the form
    is refused, the host does not resolve, or any address it resolves to is not public."""
    parts = parse_url(url, policy)
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_S)
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))
    except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
        raise UnsafeUrl(f"the host {host} does not resolve") from exc
    if not addresses:
        raise UnsafeUrl(f"the host {host} does not resolve")
    if not policy.allow_private:
        # Every address must be public: a name with one public and one internal record is refused.
        for ip in addresses:
            reason = address_problem(ip)
            if reason is not None:
                where = f"the host {host} is" if _literal(host) == ip else f"the host {host} resolves to {ip},"
                raise UnsafeUrl(f"{where} a {reason} address")
    return pin(parts, addresses[0], port)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def pin(parts: SplitResult, ip: IPAddress, port: int) -> Target:
    """The request for `parts` sent to `ip`: the endpoint's Host header and TLS name."""
    host = parts.hostname
    assert host is not None
    shown = f"[{ip.compressed}]" if isinstance(ip, ipaddress.IPv6Address) else ip.compressed
    pinned = parts._replace(netloc=f"{shown}:{port}").geturl()
    header = parts.netloc
    if not header.isascii():  # an internationalised name goes on the wire as IDNA (as getaddrinfo read it)
        host = host.encode("idna").decode("ascii")
        header = host + (f":{parts.port}" if parts.port is not None else "")
    sni = host if parts.scheme.lower() == "https" and _literal(host) is None else None
    return Target(url=pinned, host=header, sni=sni, address=str(ip))


def failure_reason(status_code: int | None, error: BaseException | None) -> str:
    """Why an attempt failed, for the metrics (krafa_claims_api.metrics): the answer's status class
    (a 3xx too: redirects are not followed), or what kept it from an answer."""
    if status_code is not None:
        return f"http_{status_code // 100}xx" if 300 <= status_code < 600 else "other"
    if isinstance(error, UnsafeUrl):
        return "refused"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.TransportError):
        return "connection"
    return "other"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute and compare every v1 signature, reject stale timestamps."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def encode_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def enqueue_webhook(conn: asyncpg.Connection, creditor_id: UUID, event_type: str, data: dict[str, Any]) -> None:
    """Queue `event_type` for every active endpoint of the creditor that subscribes to it, in the
    caller's transaction. Does nothing when the creditor has no such endpoint."""
    webhook_events.validate(event_type, data)  # the payload is the documented one, or nothing is queued
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    await webhook_repository.add_deliveries(
        conn, message_id, creditor_id, event_type, json.loads(json.dumps(payload, default=str))
    )


class WebhookWorker(PollingWorker):
    """Background loop delivering due webhooks. It sleeps until the earliest pending delivery may
    be tried (a retry's delay, a replica's lease) or until a delivery is queued (the NOTIFY of
    webhook_repository.WORK, through Runtime.wake_on_due); `poll_interval_s` only bounds that
    sleep. `retry_delays_s` and `poll_interval_s` are attributes so tests (and operators) can
    shorten them."""

    name = "webhook worker"

    def __init__(
        self,
        db: Database,
        *,
        url_policy: UrlPolicy | None = None,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        poll_interval_s: float = 30.0,
        timeout_s: float = 10.0,
        batch_size: int = 20,
    ) -> None:
        super().__init__(poll_interval_s)
        self.db = db
        self.url_policy = url_policy or UrlPolicy()
        self.retry_delays_s = retry_delays_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.delivered = 0
        self._client: httpx.AsyncClient | None = None

    @property
    def poll_interval_s(self) -> float:
        return self.idle_s

    @poll_interval_s.setter
    def poll_interval_s(self, value: float) -> None:
        self.idle_s = value

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # No redirects and no proxies from the environment: the request goes to the checked address.
        async with httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, trust_env=False, headers={"user-agent": USER_AGENT}
        ) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def round(self) -> Round:
        assert self._client is not None
        done = await self.deliver_due(self._client)
        if done:
            return Round(done, more=True)
        async with self.db.connection() as conn:
            return Round(next_due_in_s=await webhook_repository.next_due_in_s(conn))

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Lease a batch of due deliveries, send them concurrently, record the outcomes."""
        async with self.db.connection() as conn:
            rows = await webhook_repository.lease_due(conn, self.batch_size, float(LEASE_S))
        if not rows:
            return 0
        await asyncio.gather(*(self._deliver(client, row) for row in rows))
        return len(rows)

    async def _deliver(self, client: httpx.AsyncClient, row: asyncpg.Record) -> None:
        body = encode_body(row["payload"])
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": row["message_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(row["secret"], row["message_id"], timestamp, body),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        reason: str | None = None
        try:
            # Checked again now, not only at registration: the name may resolve elsewhere today.
            target = await resolve(row["url"], self.url_policy)
            response = await client.post(
                target.url,
                content=body,
                headers={**headers, "host": target.host},
                extensions={"sni_hostname": target.sni} if target.sni else None,
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
                reason = failure_reason(status_code, None)
        except UnsafeUrl as exc:
            error = f"refused: {exc}"[:500]
            reason = failure_reason(None, exc)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            reason = failure_reason(None, exc)
        duration_ms = int((time.perf_counter() - started) * 1000)
        attempts = row["attempts"] + 1
        if error is None:
            status, delay = "delivered", 0.0
        elif attempts > len(self.retry_delays_s):
            status, delay = "failed", 0.0
        else:
            status, delay = "pending", self.retry_delays_s[attempts - 1]
        async with self.db.uow() as uow:
            await webhook_repository.record_attempt(
                uow.conn,
                row["id"],
                attempts=attempts,
                status=status,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
                retry_in_s=delay,
            )
            await uow.commit()
        # A failed attempt with retries left is `failed`; the last one gives the delivery up.
        outcome = {"delivered": "delivered", "pending": "failed", "failed": "gave_up"}[status]
        metrics.webhook_attempt(str(row["creditor_id"]), outcome, reason)
        if status == "delivered":
            self.delivered += 1
        else:
            log.log(
                logging.WARNING if status == "failed" else logging.INFO,
                "webhook delivery given up" if status == "failed" else "webhook attempt failed",
                extra={
                    "delivery": str(row["id"]),
                    "creditor": str(row["creditor_id"]),
                    "error": error,
                    "status": status,
                },
            )
