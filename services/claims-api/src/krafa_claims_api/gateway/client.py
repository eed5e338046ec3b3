"""The notifier's and the scheduler's internal APIs as claims-api calls them for a creditor: with
the gateway token (KRAFA_GATEWAY_TOKEN, which the owners take on these reads only, never on an
operator route), the creditor claims-api verified (the notifier reads it from
`X-Krafa-Creditor-Id`, which only claims-api sets), and the request's trace and request id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from krafa_kit import tracing
from krafa_kit.clients import service_client

from krafa_claims_api.gateway import domain
from krafa_claims_api.settings import Settings

log = logging.getLogger(__name__)


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        token: str | None,
        *,
        timeout_s: float,
        creditor_header: bool,
    ) -> None:
        self.name = name
        self.creditor_header = creditor_header
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = service_client(base_url, headers, timeout=timeout_s)

    async def call(
        self,
        method: str,
        path: str,
        creditor_id: UUID,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The owner's JSON answer, or a refusal (krafa_kit.errors) for the creditor."""
        response = await self._request(method, path, creditor_id, params=params, json=json)
        return domain.accepted(self.name, domain.Answer(response.status_code, _json(response)))

    async def document(self, path: str, creditor_id: UUID, media_type: str) -> bytes:
        """A document the owner renders (a PDF), or a refusal for the creditor."""
        response = await self._request("GET", path, creditor_id, accept=media_type)
        if response.status_code == 200 and response.headers.get("content-type", "").startswith(media_type):
            return response.content
        raise domain.refusal(self.name, domain.Answer(response.status_code, _json(response)))

    async def _request(
        self,
        method: str,
        path: str,
        creditor_id: UUID,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        headers = {"Accept": accept, "traceparent": tracing.child_traceparent()}
        context = tracing.current()
        if context is not None and context.request_id:
            headers["Request-Id"] = context.request_id
        if self.creditor_header:
            headers["X-Krafa-Creditor-Id"] = str(creditor_id)
        try:
            response = await self.http.request(method, path, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("%s unreachable for a creditor's read: %s", self.name, type(exc).__name__)
            raise domain.unavailable(self.name, "not reachable") from exc
        if response.status_code in (401, 403):
            log.error("%s refused claims-api's gateway token (KRAFA_GATEWAY_TOKEN unset or differs?)", self.name)
        elif response.status_code >= 500:
            log.warning("%s answered %s to a creditor's read", self.name, response.status_code)
        return response

    async def close(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass
class Upstreams:
    notifier: Upstream
    scheduler: Upstream

    @classmethod
    def from_settings(cls, settings: Settings) -> Upstreams:
        token = settings.gateway_token.get_secret_value() if settings.gateway_token else None
        return cls(
            Upstream(
                "notifier", settings.notifier_url, token, timeout_s=settings.upstream_timeout_s, creditor_header=True
            ),
            Upstream(
                "scheduler", settings.scheduler_url, token, timeout_s=settings.upstream_timeout_s, creditor_header=False
            ),
        )

    async def close(self) -> None:
        await self.notifier.close()
        await self.scheduler.close()
