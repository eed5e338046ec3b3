"""notifier: when the address of a suppression bounced, on the services' clock (the EmailBounced
event's `bounced_at`), so that the debtor's later verification of the address (the portal's
one-time code, announced in DebtorUpdated's `email_verified_at`) lifts it, and an earlier one does not.

Revision ID: 0021_suppression_bounced_at
Revises: 0020_personal_data
Create Date: 2026-12-06
"""

from alembic import op

revision = "0021_suppression_bounced_at"
down_revision = "0020_personal_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE suppressions ADD COLUMN bounced_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE suppressions DROP COLUMN bounced_at")
