"""claims-api: a payment reference names one claim across all creditors, and references are no
longer numbered from one shared sequence (they are drawn at random per claim).

A bank payment carries only the reference: held by claims of two creditors, it could settle
neither (it waits for an operator while the right claim keeps being dunned). The constraint makes
that impossible rather than unlikely.

Revision ID: 0020_reference_unique
Revises: 0013_portal
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0020_reference_unique"
down_revision = "0013_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One statement (run_sql would split the block at its semicolons).
    op.execute(
        """
        DO $$
        DECLARE shared text;
        BEGIN
            SELECT string_agg(reference, ', ') INTO shared FROM (
                SELECT reference FROM claims GROUP BY reference HAVING count(*) > 1 LIMIT 20) d;
            IF shared IS NOT NULL THEN
                RAISE EXCEPTION 'payment references held by claims of several creditors: %', shared
                    USING HINT = 'give all but one of those claims a new reference (and tell their debtors), then migrate again';
            END IF;
        END $$
        """
    )
    run_sql(
        """
        ALTER TABLE claims DROP CONSTRAINT claims_creditor_id_reference_key;
        CREATE UNIQUE INDEX claims_reference ON claims (reference);
        DROP SEQUENCE claim_reference_seq
        """
    )


def downgrade() -> None:
    run_sql(
        """
        CREATE SEQUENCE claim_reference_seq START 100001;
        DROP INDEX claims_reference;
        ALTER TABLE claims ADD CONSTRAINT claims_creditor_id_reference_key UNIQUE (creditor_id, reference)
        """
    )
