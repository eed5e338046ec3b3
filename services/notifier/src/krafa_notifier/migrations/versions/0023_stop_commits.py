"""notifier: a stop and a payment hold keep the transaction that wrote them, so a check of "no send
after a stop" dates the stop by its commit (when the dispatcher's fence could first see it), not by
a stamp taken inside a lane transaction that may commit much later (docs/adr/0008).

Revision ID: 0023_stop_commits
Revises: 0022_traceparent, 0006_claim_states
Create Date: 2026-12-07
"""

from krafa_kit.migrations import run_sql

revision = "0023_stop_commits"
down_revision = ("0022_traceparent", "0006_claim_states")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE claim_states ADD COLUMN stopped_xid xid8;
        ALTER TABLE payment_holds ADD COLUMN held_xid xid8 DEFAULT pg_current_xact_id();
        """
    )


def downgrade() -> None:
    run_sql("ALTER TABLE claim_states DROP COLUMN stopped_xid; ALTER TABLE payment_holds DROP COLUMN held_xid")
