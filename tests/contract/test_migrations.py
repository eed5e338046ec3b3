"""Each service's migrations form one line: a single head. Two revisions made side by side on the
same parent both run (the services upgrade to "heads"), but in no fixed order, so a later revision
could meet either; a revision that joins them restores the order."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa_kit.migrations import heads

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(p.parent for p in ROOT.glob("services/*/src/*/migrations/env.py"))


def test_every_service_has_migrations() -> None:
    assert {p.parts[-4] for p in MIGRATIONS} >= {
        "claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest", "web"
    }  # fmt: skip


@pytest.mark.parametrize("migrations", MIGRATIONS, ids=lambda p: p.parts[-4])
def test_one_head(migrations: Path) -> None:
    found = heads(migrations)
    assert len(found) == 1, f"{len(found)} heads: {sorted(found)}; add a revision that joins them"
