"""bounce-handler: deliveries, inbound messages and bounces.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op
from krafa_kit.migrations import create_outbox_and_inbox, run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_and_inbox()
    run_sql(
        """
        CREATE TABLE deliveries (
            delivery_id uuid PRIMARY KEY,
            reminder_id uuid NOT NULL,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_ids uuid[] NOT NULL,
            step integer NOT NULL,
            recipient text NOT NULL,
            return_path text,
            sent_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE inbound_messages (
            id uuid PRIMARY KEY,
            received_at timestamptz NOT NULL,
            mail_from text NOT NULL,
            rcpt_to text NOT NULL,
            delivery_id uuid,
            verdict text NOT NULL CHECK (verdict IN ('bounce', 'not_bounce', 'bad_signature')),
            detail text,
            size_bytes integer NOT NULL,
            raw_sha256 bytea NOT NULL,
            raw bytea NOT NULL
        );
        CREATE INDEX inbound_messages_delivery ON inbound_messages (delivery_id);
        CREATE INDEX inbound_messages_received_at ON inbound_messages (received_at);
        CREATE TABLE bounces (
            id uuid PRIMARY KEY,
            delivery_id uuid NOT NULL,
            inbound_message_id uuid REFERENCES inbound_messages(id),
            state text NOT NULL CHECK (state IN ('emitted', 'awaiting_delivery', 'duplicate')),
            recipient text,
            reported_address text,
            kind text CHECK (kind IN ('hard', 'soft')),
            status text,
            reason text,
            source text NOT NULL DEFAULT 'dsn' CHECK (source IN ('dsn', 'webhook')),
            report jsonb NOT NULL,
            received_at timestamptz NOT NULL,
            emitted_at timestamptz,
            event_id uuid,
            raw_sha256 bytea NOT NULL,
            CHECK (state = 'awaiting_delivery' OR (kind IS NOT NULL AND recipient IS NOT NULL))
        );
        CREATE INDEX bounces_delivery ON bounces (delivery_id, received_at);
        CREATE INDEX bounces_received_at ON bounces (received_at DESC, id DESC);
        CREATE UNIQUE INDEX bounces_one_hard_per_delivery ON bounces (delivery_id)
            WHERE kind = 'hard' AND state = 'emitted'
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE bounces, inbound_messages, deliveries, outbox, inbox CASCADE")
