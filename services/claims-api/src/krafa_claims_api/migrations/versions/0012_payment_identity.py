"""claims-api: how debtors pay. The creditor's registry id, KID scheme and claim-bank agreement;
each claim's payment identity (the claim in the netbank, a KID, a reference number, an RF).

Revision ID: 0012_payment_identity
Revises: 0011_hold_expiry
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0012_payment_identity"
down_revision = "0011_hold_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE creditors ADD COLUMN registration_no text NOT NULL DEFAULT '';
        ALTER TABLE creditors ADD COLUMN kid_scheme text NOT NULL DEFAULT 'mod10'
            CHECK (kid_scheme IN ('mod10', 'mod11'));
        ALTER TABLE creditors ADD COLUMN bank_claims jsonb;
        ALTER TABLE claims ADD COLUMN payment jsonb;
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE claims DROP COLUMN payment;"
        " ALTER TABLE creditors DROP COLUMN bank_claims, DROP COLUMN kid_scheme, DROP COLUMN registration_no"
    )
