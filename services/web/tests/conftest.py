"""Every test database of this service arrives migrated: a copy of a template migrated once per
test session (see krafa_kit.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa_web.app import MIGRATIONS, SCHEMA


@pytest.fixture
def migrated_schema() -> tuple[str, Path]:
    return SCHEMA, MIGRATIONS
