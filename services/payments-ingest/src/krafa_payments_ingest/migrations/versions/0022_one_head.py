"""payments-ingest: joins 0009 (bank claims) and 0021 (personal data), made side by side, so the
service has one head and every later revision runs after all that came before (a contract test holds
it).

Revision ID: 0022_one_head
Revises: 0009, 0021_personal_data
Create Date: 2026-12-07
"""

revision = "0022_one_head"
down_revision = ("0009", "0021_personal_data")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
