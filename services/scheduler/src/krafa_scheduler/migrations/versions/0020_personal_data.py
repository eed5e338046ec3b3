"""scheduler: which debtors' personal data was erased (their timelines hold none, but the record
makes every service answer an erasure the same way).

Revision ID: 0020_personal_data
Revises: 0004
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.privacy import create_erased_subjects

revision = "0020_personal_data"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erased_subjects()


def downgrade() -> None:
    op.execute("DROP TABLE erased_subjects")
