"""payments-ingest: look claims up by the invoice number a remittance text names.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# domain.text_key in SQL: whitespace removed, upper case.
INVOICE_KEY = r"upper(regexp_replace(invoice_no, '\s', '', 'g'))"


def upgrade() -> None:
    op.execute(f"CREATE INDEX claim_index_invoice_key ON claim_index ({INVOICE_KEY})")


def downgrade() -> None:
    op.execute("DROP INDEX claim_index_invoice_key")
