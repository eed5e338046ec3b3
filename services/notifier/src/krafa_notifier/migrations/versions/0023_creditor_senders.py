"""notifier: each creditor's sender identity as it last changed (CreditorUpdated), so a message
of a claim registered before the change is sent under the new name, addresses and SMS sender.

Revision ID: 0023_creditor_senders
Revises: 0022_traceparent
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023_creditor_senders"
down_revision = "0022_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE creditor_senders (creditor_id uuid PRIMARY KEY, sender jsonb NOT NULL,"
        " updated_at timestamptz NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE creditor_senders")
