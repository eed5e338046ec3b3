"""A service's client survives a kept-alive connection the server has closed: an idempotent
request is sent again on a new connection, anything else is left to its caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from krafa_kit.clients import service_client

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


@pytest.fixture
async def closing_server() -> AsyncIterator[str]:
    """Answers the first request of every connection and drops the connection at the second
    without a word, as a server does whose idle timeout fired as the request arrived."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if answered:
                    break
                writer.write(RESPONSE)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_an_idempotent_request_is_sent_again_on_a_new_connection(closing_server: str) -> None:
    async with service_client(closing_server, {}, timeout=5) as client:
        assert (await client.get("/a")).text == "ok"
        assert (await client.get("/b")).text == "ok"  # the kept-alive connection was dropped
        assert (await client.delete("/c")).text == "ok"


async def test_a_post_is_not_sent_twice(closing_server: str) -> None:
    async with service_client(closing_server, {}, timeout=5) as client:
        assert (await client.get("/a")).text == "ok"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/b", json={})
