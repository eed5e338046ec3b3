"""notifier: a delivery keeps the trace context of the ReminderDue that asked for it, so the ReminderSent the dispatcher writes later continues the claim's trace.

Revision ID: 0022_traceparent
Revises: 0021_suppression_bounced_at
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022_traceparent"
down_revision = "0021_suppression_bounced_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE deliveries ADD COLUMN traceparent text")


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries DROP COLUMN traceparent")
