"""Alembic environment: this service's schema only (see krafa_kit.migrations)."""

from krafa_kit.migrations import run_env

run_env()
