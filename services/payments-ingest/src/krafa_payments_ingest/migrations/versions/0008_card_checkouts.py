"""payments-ingest: card checkouts started from the debtor portal at the payment-service provider.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE card_checkouts (
            id text PRIMARY KEY,
            claim_id uuid NOT NULL,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            reference text NOT NULL,
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            currency char(3) NOT NULL,
            status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'expired')),
            created_at timestamptz NOT NULL,
            completed_at timestamptz,
            provider_event text
        );
        CREATE INDEX card_checkouts_claim ON card_checkouts (claim_id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE card_checkouts")
