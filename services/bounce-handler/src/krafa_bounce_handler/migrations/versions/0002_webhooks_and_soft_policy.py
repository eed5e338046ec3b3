"""bounce-handler: provider webhooks (events, used signature tokens) and the soft-bounce policy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from krafa_kit.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE webhook_events (
            id uuid PRIMARY KEY,
            provider text NOT NULL,
            received_at timestamptz NOT NULL,
            provider_event_id text,
            event text NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('bounce', 'ignored', 'unmatched')),
            delivery_id uuid,
            detail text,
            body_sha256 bytea NOT NULL,
            body bytea NOT NULL
        );
        CREATE INDEX webhook_events_delivery ON webhook_events (delivery_id);
        CREATE INDEX webhook_events_received_at ON webhook_events (received_at);
        CREATE TABLE webhook_tokens (
            provider text NOT NULL,
            token text NOT NULL,
            signed_at timestamptz NOT NULL,
            PRIMARY KEY (provider, token)
        );
        CREATE INDEX webhook_tokens_signed_at ON webhook_tokens (signed_at);
        ALTER TABLE bounces ADD COLUMN webhook_event_id uuid REFERENCES webhook_events(id);
        ALTER TABLE bounces ADD COLUMN escalated boolean NOT NULL DEFAULT false;
        CREATE INDEX deliveries_creditor_recipient ON deliveries (creditor_id, lower(recipient))
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP INDEX deliveries_creditor_recipient;
        ALTER TABLE bounces DROP COLUMN escalated, DROP COLUMN webhook_event_id;
        DROP TABLE webhook_tokens, webhook_events
        """
    )
