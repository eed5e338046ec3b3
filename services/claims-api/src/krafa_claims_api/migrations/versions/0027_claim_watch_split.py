"""claims-api: claim watch (kröfuvakt) splits what it recovers. A claim remembers when it went
into claim watch and the creditor's share of recoveries from then on (the collection agency's
terms, carried by ClaimWatchStarted); each payment received in claim watch books the agency's
share as a settlement entry of its own (kind `watch_commission`), so settlement entries are now
unique per claim, kind and source.

Revision ID: 0027_claim_watch_split
Revises: 0026_sandboxes
Create Date: 2026-12-07
"""

from alembic import op

revision = "0027_claim_watch_split"
down_revision = "0026_sandboxes"
branch_labels = None
depends_on = None


UPGRADE = (
    "ALTER TABLE claims ADD COLUMN watch_started_at timestamptz",
    "ALTER TABLE claims ADD COLUMN watch_creditor_share_pct smallint"
    " CHECK (watch_creditor_share_pct BETWEEN 0 AND 100)",
    "ALTER TABLE settlement_entries ADD COLUMN source_id text NOT NULL DEFAULT ''",
    "ALTER TABLE settlement_entries DROP CONSTRAINT settlement_entries_claim_id_kind_key",
    "ALTER TABLE settlement_entries ADD CONSTRAINT settlement_entries_claim_kind_source UNIQUE (claim_id, kind, source_id)",
)
DOWNGRADE = (
    "DELETE FROM settlement_entries WHERE kind = 'watch_commission'",
    "ALTER TABLE settlement_entries DROP CONSTRAINT settlement_entries_claim_kind_source",
    "ALTER TABLE settlement_entries ADD CONSTRAINT settlement_entries_claim_id_kind_key UNIQUE (claim_id, kind)",
    "ALTER TABLE settlement_entries DROP COLUMN source_id",
    "ALTER TABLE claims DROP COLUMN watch_creditor_share_pct, DROP COLUMN watch_started_at",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
