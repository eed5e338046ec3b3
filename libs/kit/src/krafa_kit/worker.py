"""The polling worker: a background loop that does a round of work, goes again at once while there
is more, and otherwise waits (at most its idle pause, less when it knows when the next work falls
due, or until its `wakeup` is set), and that rides out a database or network outage instead of
dying (the Runtime restarts a loop that crashes on anything else). A worker is an entry point:
each round opens and commits its own unit of work; the use cases it calls never commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

import asyncpg

from krafa_kit.wakeup import Wakeup

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Round:
    """What one round did: `more` when work may be waiting (a full batch), `next_due_in_s` the wall
    seconds until the earliest known work falls due."""

    done: int = 0
    more: bool = False
    next_due_in_s: float | None = None


class PollingWorker:
    name: ClassVar[str] = "worker"
    # A clock that does not move on its own (tests) must not spin the loop.
    MIN_WAIT_S: ClassVar[float] = 0.05
    # What a round may fail with and still be tried again after the pause.
    transient: ClassVar[tuple[type[BaseException], ...]] = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        # Set by whoever creates work for the loop (a handler, a NOTIFY through the Runtime's
        # listener): the pause ends at once instead of at its end.
        self.wakeup = Wakeup()

    async def round(self) -> Round:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """What the loop holds open while it runs (an HTTP client, a directory)."""
        yield

    async def run(self) -> None:
        async with self.running():
            while True:
                # Python 3.11's wait_for (asyncpg connects through it) can swallow a cancellation
                # that meets a finished call: a stopping service's loop must not go on regardless.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                try:
                    done = await self.round()
                except self.transient as exc:
                    if isinstance(exc, PollingWorker.transient):  # the database or network away
                        log.warning("%s: round failed, trying again", self.name, extra={"error": repr(exc)})
                    else:
                        log.exception("%s: round failed, trying again", self.name)
                    done = Round()
                if done.more:
                    continue
                wait = self.idle_s if done.next_due_in_s is None else min(self.idle_s, done.next_due_in_s)
                await self.wakeup.wait(max(wait, self.MIN_WAIT_S))
