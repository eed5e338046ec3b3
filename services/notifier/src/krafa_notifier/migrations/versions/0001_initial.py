"""notifier: its view of the claims, deliveries and the suppression list.

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
        CREATE TABLE claims_view (
            claim_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            invoice_no text NOT NULL,
            description text,
            amount_minor bigint NOT NULL,
            fees_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            due_date date NOT NULL,
            reference text NOT NULL,
            status text NOT NULL DEFAULT 'open',
            creditor jsonb NOT NULL,
            debtor jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE deliveries (
            id uuid PRIMARY KEY,
            reminder_id uuid NOT NULL,
            kind text NOT NULL,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_ids uuid[] NOT NULL,
            step int NOT NULL,
            tone text NOT NULL,
            template text NOT NULL,
            fee_minor bigint NOT NULL DEFAULT 0,
            channels text[] NOT NULL,
            channel text,
            status text NOT NULL DEFAULT 'pending',
            recipient text,
            message_id text,
            return_path text,
            fallback_for uuid,
            attempts int NOT NULL DEFAULT 0,
            last_error text,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            claimed_by uuid,
            due_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            UNIQUE (reminder_id, kind)
        );
        CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX deliveries_sending ON deliveries (claimed_by) WHERE status = 'sending';
        CREATE TABLE suppressions (
            creditor_id uuid NOT NULL,
            address text NOT NULL,
            reason text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (creditor_id, address)
        )
        """
    )


def downgrade() -> None:
    run_sql("DROP TABLE claims_view, deliveries, suppressions, outbox, inbox")
