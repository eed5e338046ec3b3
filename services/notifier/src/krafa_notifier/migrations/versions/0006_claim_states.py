"""notifier: each claim's dunning state moves out of claims_view into claim_states, written by the
stops lane alone; payment_holds keep a claim's sends back from the moment a payment for it is
known until claims-api has booked it; deliveries record when their send began (docs/adr/0008).

Revision ID: 0006_claim_states
Revises: 0005_balance, 0005_content
Create Date: 2026-12-06
"""

from krafa_kit.migrations import run_sql

revision = "0006_claim_states"
down_revision = ("0005_balance", "0005_content")
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE claim_states (
            claim_id uuid PRIMARY KEY,
            status text NOT NULL DEFAULT 'open',
            replanned_at timestamptz,
            stopped_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO claim_states (claim_id, status, replanned_at)
            SELECT claim_id, status, replanned_at FROM claims_view;
        ALTER TABLE claims_view DROP COLUMN status, DROP COLUMN replanned_at;
        CREATE TABLE payment_holds (
            claim_id uuid NOT NULL,
            payment_id uuid NOT NULL,
            held_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            booked_at timestamptz,
            booked_entries int NOT NULL DEFAULT 0,
            PRIMARY KEY (claim_id, payment_id)
        );
        CREATE INDEX payment_holds_open ON payment_holds (claim_id) WHERE booked_at IS NULL;
        ALTER TABLE deliveries ADD COLUMN dispatch_started_at timestamptz;
        """
    )


def downgrade() -> None:
    run_sql(
        """
        ALTER TABLE claims_view ADD COLUMN status text NOT NULL DEFAULT 'open', ADD COLUMN replanned_at timestamptz;
        UPDATE claims_view v SET status = s.status, replanned_at = s.replanned_at
            FROM claim_states s WHERE s.claim_id = v.claim_id;
        DROP TABLE claim_states, payment_holds;
        ALTER TABLE deliveries DROP COLUMN dispatch_started_at;
        """
    )
