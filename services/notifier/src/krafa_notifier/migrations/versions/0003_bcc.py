"""notifier: blind copies of reminder emails (ReminderDue.bcc).

Revision ID: 0003_bcc
Revises: 0002_channels
Create Date: 2026-11-24
"""

from krafa_kit.migrations import run_sql

revision = "0003_bcc"
down_revision = "0002_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE deliveries ADD COLUMN bcc text[] NOT NULL DEFAULT '{}'")


def downgrade() -> None:
    run_sql("ALTER TABLE deliveries DROP COLUMN bcc")
