"""scheduler: the clocks of sandbox creditors (docs/adr/0015), learnt from SandboxClockAdvanced:
how far each runs ahead of the service's clock. Their timelines fire on that clock, in sweep
passes of their own; a creditor without a row runs on the service's clock.

Revision ID: 0023_creditor_clocks
Revises: 0022_timelines_due_notify
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023_creditor_clocks"
down_revision = "0022_timelines_due_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE creditor_clocks (
            creditor_id uuid PRIMARY KEY,
            offset_s bigint NOT NULL CHECK (offset_s > 0),
            advanced_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE creditor_clocks")
