"""claims-api: when the debtor last proved a contact point reaches them (the portal's one-time
code). A bounced address the debtor verifies is active again, and its `verified_at` in the snapshot
lets the notifier lift its suppression of the address.

Revision ID: 0023_contact_verified_at
Revises: 0022_contact_consent
Create Date: 2026-12-06
"""

from alembic import op

revision = "0023_contact_verified_at"
down_revision = "0022_contact_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE contact_points ADD COLUMN verified_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE contact_points DROP COLUMN verified_at")
