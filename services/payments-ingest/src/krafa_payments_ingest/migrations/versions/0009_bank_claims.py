"""payments-ingest: Icelandic bank claims (the claim in the payer's netbank, kept in step with the
ledger through the banks' claims interface) and the payments the interface reports.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE payments DROP CONSTRAINT payments_identity_basis_check;
        ALTER TABLE payments ADD CONSTRAINT payments_identity_basis_check
            CHECK (identity_basis IN ('bank_ref', 'end_to_end_id', 'content', 'source_id', 'bank_claim'));
        CREATE TABLE bank_claims (
            claim_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claimant_id text NOT NULL,
            claim_bank text NOT NULL,
            claim_number text NOT NULL,
            due_date date NOT NULL,
            final_due_date date NOT NULL,
            payor_id text NOT NULL,
            template_code text NOT NULL,
            secondary_template_code text,
            partial_payment_allowed boolean NOT NULL,
            currency char(3) NOT NULL,
            -- what the ledger says is outstanding, as ClaimBalanceChanged last announced it
            principal_minor bigint NOT NULL,
            fees_minor bigint NOT NULL,
            interest_minor bigint NOT NULL,
            ledger_entries integer NOT NULL DEFAULT 0,
            -- what payments made at the bank covered, by the bank's own breakdown
            bank_paid_principal_minor bigint NOT NULL DEFAULT 0,
            bank_paid_fees_minor bigint NOT NULL DEFAULT 0,
            bank_paid_interest_minor bigint NOT NULL DEFAULT 0,
            wanted text NOT NULL DEFAULT 'open' CHECK (wanted IN ('open', 'cancelled')),
            collection text NOT NULL DEFAULT 'primary' CHECK (collection IN ('primary', 'secondary')),
            state text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'open', 'paid', 'cancelled', 'failed')),
            sent jsonb,
            version integer NOT NULL DEFAULT 1,
            synced_version integer NOT NULL DEFAULT 0,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error text,
            created_at timestamptz NOT NULL,
            synced_at timestamptz,
            UNIQUE (claimant_id, claim_bank, claim_number, due_date)
        );
        CREATE INDEX bank_claims_to_sync ON bank_claims (next_attempt_at) WHERE version > synced_version;
        CREATE INDEX bank_claims_claimants ON bank_claims (claimant_id) WHERE state = 'open';
        CREATE TABLE bank_claim_payments (
            identity char(64) PRIMARY KEY,
            claim_id uuid NOT NULL REFERENCES bank_claims(claim_id),
            transaction jsonb NOT NULL,
            recorded_at timestamptz NOT NULL
        );
        CREATE TABLE bank_claim_polls (
            claimant_id text PRIMARY KEY,
            polled_at timestamptz NOT NULL,
            transactions integer NOT NULL DEFAULT 0
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE bank_claim_polls, bank_claim_payments, bank_claims")
    run_sql(
        """
        ALTER TABLE payments DROP CONSTRAINT payments_identity_basis_check;
        ALTER TABLE payments ADD CONSTRAINT payments_identity_basis_check
            CHECK (identity_basis IN ('bank_ref', 'end_to_end_id', 'content', 'source_id'))
        """
    )
