"""HTTP clients for calls between Krafa's own services."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class RetryStaleConnection(httpx.AsyncBaseTransport):
    """Sends an idempotent request once more on a new connection when a kept-alive one turns
    out to be closed by the server (a restart, an idle timeout) before it answered."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.transport.handle_async_request(request)
        except httpx.RemoteProtocolError:
            if request.method not in IDEMPOTENT_METHODS:
                raise
            return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.transport.aclose()


def service_client(base_url: str, headers: Mapping[str, str], timeout: float) -> httpx.AsyncClient:
    """An HTTP client for another Krafa service's API."""
    return httpx.AsyncClient(
        base_url=base_url, headers=dict(headers), timeout=timeout, transport=RetryStaleConnection()
    )
