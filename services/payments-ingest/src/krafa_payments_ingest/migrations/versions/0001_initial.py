"""payments-ingest: the open-claim reference index, imported files and payments.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op
from krafa_kit.migrations import create_outbox_and_inbox, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_and_inbox()
    run_sql(
        """
        CREATE TABLE claim_index (
            claim_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            reference text NOT NULL,
            invoice_no text NOT NULL,
            currency char(3) NOT NULL,
            amount_owed_minor bigint NOT NULL,
            status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
            created_at timestamptz NOT NULL,
            indexed_at timestamptz NOT NULL,
            closed_at timestamptz
        );
        CREATE INDEX claim_index_reference ON claim_index (reference);
        CREATE TABLE imports (
            id uuid PRIMARY KEY,
            sha256 char(64) NOT NULL,
            filename text,
            format text NOT NULL,
            size_bytes bigint NOT NULL,
            repeat_of uuid REFERENCES imports(id),
            entries integer NOT NULL DEFAULT 0,
            new_entries integer NOT NULL DEFAULT 0,
            duplicates integer NOT NULL DEFAULT 0,
            matched integer NOT NULL DEFAULT 0,
            unmatched integer NOT NULL DEFAULT 0,
            imported_at timestamptz NOT NULL
        );
        CREATE INDEX imports_sha256 ON imports (sha256, imported_at);
        CREATE TABLE payments (
            id uuid PRIMARY KEY,
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            identity char(64) NOT NULL UNIQUE,
            identity_basis text NOT NULL CHECK (identity_basis IN ('bank_ref', 'end_to_end_id', 'content')),
            import_id uuid NOT NULL REFERENCES imports(id),
            entry_index integer NOT NULL,
            detail_index integer NOT NULL,
            amount_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            booking_date date,
            value_date date,
            reference text,
            remittance_text text,
            bank_ref text,
            end_to_end_id text,
            debtor_name text,
            debtor_account text,
            state text NOT NULL CHECK (state IN ('matched', 'unmatched')),
            claim_id uuid,
            creditor_id uuid,
            debtor_id uuid,
            unmatched_reason text,
            received_at timestamptz NOT NULL,
            CHECK ((state = 'matched') = (claim_id IS NOT NULL))
        );
        CREATE INDEX payments_import ON payments (import_id);
        CREATE INDEX payments_claim ON payments (claim_id) WHERE claim_id IS NOT NULL;
        CREATE INDEX payments_unmatched ON payments (seq DESC) WHERE state = 'unmatched'
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE payments, imports, claim_index, outbox, inbox CASCADE")
