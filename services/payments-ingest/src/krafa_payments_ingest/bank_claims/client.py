"""The IOBWS 3.2 Claims client: the operations Krafa uses, over httpx, with OAuth2 client
credentials (RFC 6749 4.4) as an httpx auth flow.

The token is fetched on first use and again shortly before it expires; a 401 saying the token
expired or is unknown (the bank may end it early) fetches a new one and sends the request once
more. Every call carries an X-Request-ID; createClaim carries an X-Idempotency-Key, so a create
retried after a lost answer cannot make a second claim. Errors become IobwsError, marked transient
(408, 429, 5xx, network: try again later, after Retry-After when given) or not (the request is
wrong: retrying it will not help)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

TOKEN_LEEWAY_S = 30.0  # fetch a new token this long before the old one expires (a tenth of a short one's life)
TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


class IobwsError(Exception):
    def __init__(self, status: int | None, code: str | None, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status or 'no answer'} {code or ''}: {detail}".strip())
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT


class ClientCredentials(httpx.Auth):
    """Bearer tokens from the token endpoint by the client credentials grant, cached until shortly
    before they expire; one more try with a new token when the bank says the token is not good."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetched = 0
        self._lock = asyncio.Lock()

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        request = httpx.Request("POST", self.token_url, data=form, headers={"Accept": "application/json"})
        return next(httpx.BasicAuth(self.client_id, self.client_secret).auth_flow(request))

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise IobwsError(response.status_code, "TOKEN", f"the token endpoint refused: {response.text[:200]}")
        data = response.json()
        self.token = str(data["access_token"])
        life = float(data.get("expires_in") or 300)
        self.expires_at = time.monotonic() + life - min(TOKEN_LEEWAY_S, life / 10)
        self.fetched += 1

    def _fresh(self) -> bool:
        return self.token is not None and time.monotonic() < self.expires_at

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._lock:
            if not self._fresh():
                token_response = yield self._token_request()
                await token_response.aread()
                self._take(token_response)
        used = self.token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        await response.aread()
        if response.status_code == 401 and _code(response) in ("TOKEN_EXPIRED", "TOKEN_INVALID", "TOKEN_UNKNOWN"):
            async with self._lock:
                if self.token == used:  # nobody fetched a newer one meanwhile
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._take(token_response)
            request.headers["Authorization"] = f"Bearer {self.token}"
            request.headers["X-Request-ID"] = str(uuid.uuid4())
            yield request


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            return str(body["code"])
        messages = body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return str(messages[0].get("code"))
    return None


def _json(response: httpx.Response) -> Any:
    """The body as JSON, its fractional numbers as Decimal: IOBWS amounts are JSON numbers in
    krónur, and money is never a float here (httpx's own .json() would make them floats)."""
    return json.loads(response.content, parse_float=Decimal)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


Hook = Callable[[Any], Awaitable[None]]


class ClaimsClient:
    def __init__(
        self,
        base_url: str,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        timeout_s: float = 10.0,
        event_hooks: dict[str, list[Hook]] | None = None,
    ) -> None:
        self.auth = ClientCredentials(token_url, client_id, client_secret, scope)
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=self.auth,
            timeout=timeout_s,
            event_hooks=event_hooks or {},
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> httpx.Response:
        sent = {"X-Request-ID": str(uuid.uuid4()), **(headers or {})}
        content = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            sent["Content-Type"] = content_type
        try:
            response = await self.http.request(method, path, content=content, headers=sent, params=params)
        except httpx.TransportError as exc:
            raise IobwsError(None, None, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            detail = response.text[:300] if response.content else response.reason_phrase
            raise IobwsError(response.status_code, _code(response), detail, _retry_after(response))
        return response

    async def create_claim(self, body: dict[str, Any], idempotency_key: uuid.UUID) -> dict[str, Any]:
        """createClaim: the claimStatusSingleResponse (``success`` or ``error``)."""
        response = await self._call(
            "POST", "/v1/claims", json_body=body, headers={"X-Idempotency-Key": str(idempotency_key)}
        )
        result: dict[str, Any] = _json(response)
        return result

    async def patch_claim(self, bank_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """patchClaim with a JSON Merge Patch: the claimStatusSingleResponse."""
        response = await self._call(
            "PATCH", f"/v1/claims/{quote(bank_id)}", json_body=patch, content_type="application/merge-patch+json"
        )
        result: dict[str, Any] = _json(response)
        return result

    async def get_claim(self, bank_id: str) -> dict[str, Any]:
        result: dict[str, Any] = _json(await self._call("GET", f"/v1/claims/{quote(bank_id)}"))
        return result

    async def claim_transactions(self, bank_id: str) -> list[dict[str, Any]]:
        return await self._pages(f"/v1/claims/{quote(bank_id)}/transactions", {})

    async def claimant_transactions(self, claimant_id: str, since: date, until: date) -> list[dict[str, Any]]:
        """getClaimsTransactions: every payment booked on the claimant's claims in [since, until]."""
        params: dict[str, str | int] = {
            "claimantId": claimant_id,
            "dateFrom": since.isoformat(),
            "dateTo": until.isoformat(),
        }
        return await self._pages("/v1/claims/transactions", params)

    async def _pages(self, path: str, params: dict[str, str | int]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = await self._call("GET", path, params={**params, "page": page, "itemsPerPage": 500})
            found.extend(_json(response))
            pages = int(response.headers.get("X-Paging-TotalPages") or 1)
            if page >= pages:
                return found
            page += 1
