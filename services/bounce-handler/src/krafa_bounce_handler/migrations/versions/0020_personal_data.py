"""bounce-handler: which debtors' personal data was erased here, so that a returned message of a
reminder sent before the erasure is pseudonymised when it arrives after it.

Revision ID: 0020_personal_data
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.privacy import create_erased_subjects

revision = "0020_personal_data"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erased_subjects()
    op.execute("CREATE INDEX deliveries_debtor ON deliveries (creditor_id, debtor_id)")


def downgrade() -> None:
    op.execute("DROP INDEX deliveries_debtor")
    op.execute("DROP TABLE erased_subjects")
