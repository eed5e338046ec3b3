"""notifier: SMS, netbank and call channels, costs and receipts, creditor templates, the claim
view's dunning states and the debtors' current contact snapshots.

Revision ID: 0002_channels
Revises: 0001
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0002_channels"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE claims_view
            ADD COLUMN jurisdiction text,
            -- set when the claim's timeline was re-planned (deferral, plan, amendment, release,
            -- dispute resumed): a reminder due before it is stale and is not sent
            ADD COLUMN replanned_at timestamptz;
        ALTER TABLE deliveries
            ADD COLUMN currency text,
            ADD COLUMN interest_minor bigint NOT NULL DEFAULT 0,
            ADD COLUMN pay_by date,
            ADD COLUMN cc text[] NOT NULL DEFAULT '{}',
            ADD COLUMN provider text,
            ADD COLUMN provider_ref text,
            ADD COLUMN cost_minor bigint,
            ADD COLUMN cost_currency text,
            ADD COLUMN segments int,
            ADD COLUMN delivered_at timestamptz;
        CREATE UNIQUE INDEX deliveries_provider_ref ON deliveries (provider, provider_ref)
            WHERE provider_ref IS NOT NULL;
        CREATE TABLE debtors (
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            snapshot jsonb NOT NULL,
            phone text,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (creditor_id, debtor_id)
        );
        CREATE INDEX debtors_phone ON debtors (phone) WHERE phone IS NOT NULL;
        -- a delivery receipt that overtook our own record of the send (the provider answered
        -- and called back before we committed): applied as soon as the send is recorded
        CREATE TABLE early_receipts (
            provider text NOT NULL,
            provider_ref text NOT NULL,
            outcome text NOT NULL,
            reason text,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (provider, provider_ref)
        );
        CREATE TABLE templates (
            creditor_id uuid NOT NULL,
            key text NOT NULL,
            channel text NOT NULL,
            language text NOT NULL,
            subject text,
            body text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (creditor_id, key, channel, language)
        );
        CREATE TABLE call_tasks (
            id uuid PRIMARY KEY,
            reminder_id uuid NOT NULL UNIQUE,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_ids uuid[] NOT NULL,
            step int NOT NULL,
            status text NOT NULL DEFAULT 'open',
            attempts int NOT NULL DEFAULT 0,
            window_opens_at timestamptz NOT NULL,
            window_closes_at timestamptz NOT NULL,
            claimed_by text,
            claimed_at timestamptz,
            outcome text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX call_tasks_due ON call_tasks (window_opens_at) WHERE status = 'open';
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE call_tasks, templates, early_receipts, debtors;
        DROP INDEX deliveries_provider_ref;
        ALTER TABLE deliveries DROP COLUMN currency, DROP COLUMN interest_minor, DROP COLUMN pay_by,
            DROP COLUMN cc, DROP COLUMN provider, DROP COLUMN provider_ref, DROP COLUMN cost_minor,
            DROP COLUMN cost_currency, DROP COLUMN segments, DROP COLUMN delivered_at;
        ALTER TABLE claims_view DROP COLUMN jurisdiction, DROP COLUMN replanned_at;
        """
    )
