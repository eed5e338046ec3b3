"""claims-api: idempotency keys, claim cancellation with the creditor's fee, settlement entries,
and the index behind cursor pagination.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- One row per (creditor, Idempotency-Key). The response is written in the same transaction
        -- as the effect, so a committed effect always has its key; rows older than 24 h are
        -- treated as absent and overwritten when the key is used again.
        CREATE TABLE idempotency_keys (
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            key text NOT NULL,
            request_hash text NOT NULL,
            status_code integer,
            response_body jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (creditor_id, key)
        );
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

        -- Icelandic payment slips (docs/domain.md): the cancellation fee (niðurfellingargjald) is set off against the
        -- creditor's next settlement.
        ALTER TABLE creditors ADD COLUMN cancellation_fee_minor bigint NOT NULL DEFAULT 0
            CHECK (cancellation_fee_minor >= 0);
        ALTER TABLE claims ADD COLUMN cancelled_at timestamptz;
        ALTER TABLE claims ADD COLUMN cancel_reason text;
        CREATE TABLE settlement_entries (
            id bigserial PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            claim_id uuid NOT NULL REFERENCES claims(id),
            kind text NOT NULL,
            amount_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (claim_id, kind)
        );
        CREATE INDEX settlement_entries_creditor ON settlement_entries (creditor_id, created_at);

        CREATE INDEX claims_listing ON claims (creditor_id, created_at, id);
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX claims_listing")
    op.execute("DROP TABLE settlement_entries, idempotency_keys")
    op.execute("ALTER TABLE claims DROP COLUMN cancel_reason, DROP COLUMN cancelled_at")
    op.execute("ALTER TABLE creditors DROP COLUMN cancellation_fee_minor")
