"""payments-ingest: payments match only claims of the creditor collecting on the account they were
paid into, and the operator queue says why a payment waits there.

Revision ID: 0020_collection_accounts
Revises: 0007
Create Date: 2026-11-25
"""

from krafa_kit.migrations import run_sql

revision = "0020_collection_accounts"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- domain.account_key of the creditor's collection account (null: the creditor gave none).
        ALTER TABLE claim_index ADD COLUMN account text;
        -- domain.account_key of the account the payment was made into (null: the file does not say).
        ALTER TABLE payments ADD COLUMN account text;
        -- Why an unmatched payment waits, and the claims that were considered.
        ALTER TABLE payments ADD COLUMN unmatched_detail text;
        ALTER TABLE payments ADD COLUMN candidates jsonb NOT NULL DEFAULT '[]'::jsonb
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP COLUMN candidates, DROP COLUMN unmatched_detail, DROP COLUMN account;
        ALTER TABLE claim_index DROP COLUMN account
        """
    )
