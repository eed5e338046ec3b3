"""kit test schema: the kit's tables and one table for effects.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from krafa_kit.migrations import create_outbox_and_inbox, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_and_inbox()
    run_sql("CREATE TABLE effects (invoice_no text NOT NULL)")


def downgrade() -> None:
    run_sql("DROP TABLE effects, outbox, inbox")
