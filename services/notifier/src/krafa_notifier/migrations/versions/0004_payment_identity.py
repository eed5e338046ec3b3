"""notifier: how each claim's debtor pays (the claim in the netbank, KID, reference number, RF), as
ClaimCreated carries it, for the payment section of every message.

Revision ID: 0004_payment_identity
Revises: 0003_bcc
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004_payment_identity"
down_revision = "0003_bcc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE claims_view ADD COLUMN payment jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE claims_view DROP COLUMN payment")
