"""payments-ingest: an operator matches an unmatched payment to a claim or asks for its refund.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP CONSTRAINT payments_state_check;
        ALTER TABLE payments ADD CONSTRAINT payments_state_check
            CHECK (state IN ('matched', 'unmatched', 'refund_requested'));
        ALTER TABLE payments ADD COLUMN operator_action text
            CHECK (operator_action IN ('matched', 'refund_requested'));
        ALTER TABLE payments ADD COLUMN handled_at timestamptz
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP COLUMN handled_at;
        ALTER TABLE payments DROP COLUMN operator_action;
        ALTER TABLE payments DROP CONSTRAINT payments_state_check;
        ALTER TABLE payments ADD CONSTRAINT payments_state_check CHECK (state IN ('matched', 'unmatched'))
        """
    )
