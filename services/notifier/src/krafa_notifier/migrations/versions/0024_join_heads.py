"""notifier: joins the two revisions made side by side on 0022 (the creditors' sender identity and
the stops' commit times), so the service has one head again.

Revision ID: 0024_join_heads
Revises: 0023_creditor_senders, 0023_stop_commits
Create Date: 2026-12-07
"""

revision = "0024_join_heads"
down_revision = ("0023_creditor_senders", "0023_stop_commits")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
