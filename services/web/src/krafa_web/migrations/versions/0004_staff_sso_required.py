"""web: a creditor may require its staff to sign in with its provider (passwords then stop
working for its viewers and clerks; its admins keep password + TOTP to fix a broken setup).

Revision ID: 0004_staff_sso_required
Revises: 0003_staff_sso
Create Date: 2026-12-07
"""

from alembic import op

revision = "0004_staff_sso_required"
down_revision = "0003_staff_sso"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE creditor_sso ADD COLUMN required boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE creditor_sso DROP COLUMN required")
