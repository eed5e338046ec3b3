"""notifier: the balance as booked (ClaimBalanceChanged) per claim, and per delivery the legal notice kind, the charges its step booked and what the message stated.

Revision ID: 0005_balance
Revises: 0004_payment_identity
Create Date: 2026-12-06
"""

from krafa_kit.migrations import run_sql

revision = "0005_balance"
down_revision = "0004_payment_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE claims_view ADD COLUMN ledger jsonb;
        ALTER TABLE claims_view ADD COLUMN ledger_entries integer NOT NULL DEFAULT 1;
        ALTER TABLE claims_view ADD COLUMN booked_fee_ids uuid[] NOT NULL DEFAULT '{}';
        ALTER TABLE deliveries ADD COLUMN notice_kind text;
        ALTER TABLE deliveries ADD COLUMN stage text;
        ALTER TABLE deliveries ADD COLUMN jurisdiction text;
        ALTER TABLE deliveries ADD COLUMN fee_ids uuid[] NOT NULL DEFAULT '{}';
        ALTER TABLE deliveries ADD COLUMN interest_rate_pct text;
        ALTER TABLE deliveries ADD COLUMN stated jsonb;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE deliveries DROP COLUMN stated, DROP COLUMN interest_rate_pct, DROP COLUMN fee_ids,
            DROP COLUMN jurisdiction, DROP COLUMN stage, DROP COLUMN notice_kind;
        ALTER TABLE claims_view DROP COLUMN booked_fee_ids, DROP COLUMN ledger_entries,
            DROP COLUMN ledger;
        """
    )
