"""notifier: soft-bounce retries of email deliveries.

Revision ID: 0002_soft_retry
Revises: 0001
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0002_soft_retry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per re-send of a soft-bounced email delivery. The primary key makes each attempt
    # happen at most once; bounce_id makes one bounce schedule at most one attempt. Times are on
    # the service's clock (simulated in demos), not the database's.
    run_sql(
        """
        CREATE TABLE soft_retries (
            delivery_id uuid NOT NULL,
            attempt int NOT NULL CHECK (attempt >= 1),
            bounce_id uuid NOT NULL UNIQUE,
            creditor_id uuid NOT NULL,
            bounced_at timestamptz NOT NULL,
            due_at timestamptz NOT NULL,
            status text NOT NULL DEFAULT 'scheduled'
                CHECK (status IN ('scheduled', 'fired', 'skipped', 'cancelled')),
            detail text,
            fired_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (delivery_id, attempt)
        );
        CREATE INDEX soft_retries_due ON soft_retries (due_at) WHERE status = 'scheduled'
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE soft_retries")
