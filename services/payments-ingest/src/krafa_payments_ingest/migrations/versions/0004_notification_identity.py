"""payments-ingest: payments notified through the API are identified by the source's own id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP CONSTRAINT payments_identity_basis_check;
        ALTER TABLE payments ADD CONSTRAINT payments_identity_basis_check
            CHECK (identity_basis IN ('bank_ref', 'end_to_end_id', 'content', 'source_id'))
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP CONSTRAINT payments_identity_basis_check;
        ALTER TABLE payments ADD CONSTRAINT payments_identity_basis_check
            CHECK (identity_basis IN ('bank_ref', 'end_to_end_id', 'content'))
        """
    )
