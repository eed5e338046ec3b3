"""The kit's uvicorn server ticks rarely while idle, yet a stop ends its wait at once: asked to
exit, or sent SIGTERM as a stack stops its processes, it stops long before its next tick (the tick
here is an hour, so a server that waited for it would time the test out)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import uvicorn
from krafa_kit.embedded import free_port
from krafa_kit.server import Server

HOUR_S = 3600.0


async def app(scope: dict[str, object], receive: object, send: object) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


async def test_asked_to_exit_it_stops_without_waiting_for_its_tick() -> None:
    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    server.TICK_S = HOUR_S
    task = asyncio.create_task(server._serve())  # no signal handlers in the test process
    while not server.started:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/")
    assert response.status_code == 204
    assert "date" in response.headers  # refreshed on its first tick
    server.should_exit = True
    await asyncio.wait_for(task, 30)


def test_sigterm_stops_it_without_waiting_for_its_tick() -> None:
    port = free_port()
    script = textwrap.dedent(
        f"""
        import uvicorn
        from krafa_kit.server import Server

        async def app(scope, receive, send):
            await send({{"type": "http.response.start", "status": 204, "headers": []}})
            await send({{"type": "http.response.body", "body": b""}})

        server = Server(uvicorn.Config(app, host="127.0.0.1", port={port}, log_config=None, lifespan="off"))
        server.TICK_S = {HOUR_S}
        server.run()
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        with httpx.Client() as client:
            while True:
                assert process.poll() is None, "the server exited before it served"
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"http://127.0.0.1:{port}/").status_code == 204:
                        break
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(30)  # raises TimeoutExpired if it waited for its tick
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
