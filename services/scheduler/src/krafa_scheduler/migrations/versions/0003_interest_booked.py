"""scheduler: the late interest already booked on each claim, so a step books only what accrued
since (FeeCharged kind late_interest, issue 3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from krafa_kit.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE timelines ADD COLUMN interest_booked_minor bigint NOT NULL DEFAULT 0")


def downgrade() -> None:
    run_sql("ALTER TABLE timelines DROP COLUMN interest_booked_minor")
