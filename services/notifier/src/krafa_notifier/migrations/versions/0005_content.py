"""notifier: what each sent reminder said (its content as rendered), so the notice as sent can be
shown again (the debtor portal's PDFs).

Revision ID: 0005_content
Revises: 0004_payment_identity
Create Date: 2026-12-06
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0005_content"
down_revision = "0004_payment_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("ALTER TABLE deliveries ADD COLUMN content jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries DROP COLUMN content")
