"""payments-ingest: which debtors' personal data was erased here.

Revision ID: 0021_personal_data
Revises: 0020_collection_accounts
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.privacy import create_erased_subjects

revision = "0021_personal_data"
down_revision = "0020_collection_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erased_subjects()
    op.execute("CREATE INDEX payments_debtor ON payments (creditor_id, debtor_id) WHERE debtor_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX payments_debtor")
    op.execute("DROP TABLE erased_subjects")
