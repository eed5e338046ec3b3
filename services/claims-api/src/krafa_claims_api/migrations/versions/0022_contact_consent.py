"""claims-api: the creditor's contact consent, the evidence that its terms of business allow
sharing its customers' addresses with us (docs/domain.md, digital letters).

`creditors.contact_consent` holds the current attestation (source, terms version, terms date,
when it was recorded). A contact point the creditor names without evidence of its own takes it;
one with no evidence at all is kept but not used for digital delivery, and an upload counts the
rows that named such addresses.

Revision ID: 0022_contact_consent
Revises: 0021_personal_data, 0010_ingest_perf
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022_contact_consent"
# Also after the debtors branch (contact_uploads): it joins the two heads.
down_revision = ("0021_personal_data", "0010_ingest_perf")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE creditors ADD COLUMN contact_consent jsonb")
    op.execute("ALTER TABLE contact_uploads ADD COLUMN rows_without_consent integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE contact_uploads DROP COLUMN rows_without_consent")
    op.execute("ALTER TABLE creditors DROP COLUMN contact_consent")
