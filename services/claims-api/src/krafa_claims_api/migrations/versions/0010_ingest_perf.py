"""claims-api: drop contact_points_creditor, an index no query uses.

Contact points are only ever read, changed and erased by debtor (contact_points_value leads with
debtor_id), and creditors are never deleted, so the index served nothing; but every contact point a
bulk of claims or a contact-list upload writes paid for it (20,000 index entries per 10,000-claim
bulk).

Revision ID: 0010_ingest_perf
Revises: 0003_debtors
Create Date: 2026-11-24
"""

from alembic import op

revision = "0010_ingest_perf"
down_revision = "0003_debtors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS contact_points_creditor")


def downgrade() -> None:
    op.execute("CREATE INDEX contact_points_creditor ON contact_points (creditor_id, debtor_id)")
