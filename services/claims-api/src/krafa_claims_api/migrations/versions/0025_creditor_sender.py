"""claims-api: a creditor's sender identity — the name its messages are sent in, the Reply-To
address and the SMS sender id (beside the From address and phone it had) — and the record of
each change to it: when, by whom, from what to what.

Revision ID: 0025_creditor_sender
Revises: 0024_claims_changed_at
Create Date: 2026-12-07
"""

from alembic import op

revision = "0025_creditor_sender"
down_revision = "0024_claims_changed_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE creditors ADD COLUMN sender_name text NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE creditors ADD COLUMN reply_to text NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE creditors ADD COLUMN sms_sender_id text NOT NULL DEFAULT ''")
    op.execute(
        """
        CREATE TABLE creditor_changes (
            id bigserial PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors (id) ON DELETE CASCADE,
            at timestamptz NOT NULL,
            actor text NOT NULL,
            event_id uuid NOT NULL,
            changes jsonb NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX creditor_changes_by_creditor ON creditor_changes (creditor_id, at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE creditor_changes")
    for column in ("sender_name", "reply_to", "sms_sender_id"):
        op.execute(f"ALTER TABLE creditors DROP COLUMN {column}")
