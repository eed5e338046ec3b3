"""Running a sink's ASGI app on 127.0.0.1 with the READY line (shared by the HTTP sinks)."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

from krafa.sinks.provider_sink import _AnnouncingServer, _format_hostport, _ignore_signal, _log_config


def serve(app: Any, host: str, port: int, level: str = "INFO") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    import uvicorn

    config = uvicorn.Config(
        app, log_config=_log_config(level.upper()), log_level=level.lower(), lifespan="on", timeout_graceful_shutdown=5
    )
    server = _AnnouncingServer(config, f"READY http {_format_hostport(host, sock.getsockname()[1])}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
    return 0
