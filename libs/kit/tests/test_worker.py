"""The polling worker's loop ends when its task is cancelled, even when a round loses the
cancellation (Python 3.11's wait_for can return a finished call's result instead of raising it)."""

from __future__ import annotations

import asyncio
import contextlib

from krafa_kit.worker import PollingWorker, Round


class SwallowsCancellation(PollingWorker):
    name = "swallower"

    def __init__(self) -> None:
        super().__init__(idle_s=0.01)
        self.rounds = 0
        self.started = asyncio.Event()
        self.ended = False

    async def round(self) -> Round:
        if self.ended:  # the test is over either way: the loop must not outlive it
            raise asyncio.CancelledError
        self.rounds += 1
        self.started.set()
        # As a wait_for that met a finished call does: the result, not the cancellation.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        return Round(more=True)


async def test_a_cancelled_worker_stops_even_if_a_round_swallowed_the_cancellation() -> None:
    worker = SwallowsCancellation()
    task = asyncio.create_task(worker.run())
    await worker.started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    worker.ended = True
    assert task in done and task.cancelled()
    assert worker.rounds == 1
