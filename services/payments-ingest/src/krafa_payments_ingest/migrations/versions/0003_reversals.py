"""payments-ingest: a payment can reverse an earlier one (a credit charged back).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments ADD COLUMN reversal_of uuid REFERENCES payments(id);
        CREATE INDEX payments_reversal_of ON payments (reversal_of) WHERE reversal_of IS NOT NULL;
        CREATE INDEX payments_bank_ref ON payments (bank_ref) WHERE bank_ref IS NOT NULL;
        CREATE INDEX payments_end_to_end_id ON payments (end_to_end_id) WHERE end_to_end_id IS NOT NULL;
        ALTER TABLE imports ADD COLUMN reversals integer NOT NULL DEFAULT 0
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE imports DROP COLUMN reversals;
        DROP INDEX payments_end_to_end_id;
        DROP INDEX payments_bank_ref;
        ALTER TABLE payments DROP COLUMN reversal_of
        """
    )
