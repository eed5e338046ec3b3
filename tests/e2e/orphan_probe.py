"""Not collected by the suite (no test_ prefix): test_no_orphans.py runs it as its own pytest
session and stops that session while the fixtures' servers are up."""

from __future__ import annotations

import asyncio

from krafa_kit.embedded import EmbeddedBroker, EmbeddedPostgres


async def test_holds_the_fixtures_servers(embedded_pg: EmbeddedPostgres, broker: EmbeddedBroker) -> None:
    await asyncio.sleep(600)
