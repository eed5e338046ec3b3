"""The thin path across all five services: claims in over REST; reminders out by SMTP; a bounce
turned into a letter; a bank file paying claims so that their reminders stop."""

from __future__ import annotations

import pytest
from krafa.observer import Observer
from krafa.scenario import Scenario
from krafa.stack import Stack

pytestmark = pytest.mark.e2e


async def test_every_expected_outcome_of_the_demo_happens(stack: Stack) -> None:
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    try:
        verdict = await Scenario(stack, observer, claims=30).run(timeout=180)
    finally:
        await observer.stop()
    failed = [f"{c.name}: {c.detail}" for c in verdict.checks if not c.ok]
    assert not failed, failed
