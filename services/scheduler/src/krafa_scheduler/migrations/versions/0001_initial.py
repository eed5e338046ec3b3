"""scheduler: one timeline per claim.

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
    run_sql(
        """
        CREATE TABLE timelines (
            claim_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            currency char(3) NOT NULL,
            due_date date NOT NULL,
            final_due_date date NOT NULL,
            jurisdiction char(2) NOT NULL,
            time_zone text NOT NULL,
            step int NOT NULL DEFAULT 0,
            next_action_at timestamptz,
            status text NOT NULL DEFAULT 'active',
            stop_reason text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX timelines_due ON timelines (next_action_at) WHERE status = 'active'
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE timelines, outbox, inbox")
