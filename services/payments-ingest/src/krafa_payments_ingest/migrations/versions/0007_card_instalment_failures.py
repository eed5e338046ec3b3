"""payments-ingest: card instalment failures reported by a card processor, once per processor id;
the claim index learns the debtor's customer number (a failure names the customer, not the debtor).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE claim_index ADD COLUMN customer_no text;
        CREATE INDEX claim_index_customer ON claim_index (creditor_id, customer_no);
        CREATE TABLE card_instalment_failures (
            id uuid PRIMARY KEY,
            source_id text NOT NULL UNIQUE,
            creditor_id uuid NOT NULL,
            debtor_id uuid,
            customer_no text NOT NULL,
            agreement_ref text NOT NULL,
            instalment_no integer NOT NULL CHECK (instalment_no >= 1),
            instalment_count integer CHECK (instalment_count >= instalment_no),
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            currency char(3) NOT NULL,
            reason text NOT NULL,
            next_attempt_date date,
            failed_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE card_instalment_failures;
        DROP INDEX claim_index_customer;
        ALTER TABLE claim_index DROP COLUMN customer_no
        """
    )
