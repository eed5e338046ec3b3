"""claims-api: the claim lifecycle (disputes, holds, deferrals, instalment plans, write-offs), the
per-claim ledger, departments, signed webhooks, and card-instalment failures.

Revision ID: 0003_lifecycle
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0003_lifecycle"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- Lifecycle state beside `status` (open, disputed, held, paid, cancelled, written_off).
        ALTER TABLE claims ADD COLUMN interest_minor bigint NOT NULL DEFAULT 0;
        ALTER TABLE claims ADD COLUMN written_off_minor bigint NOT NULL DEFAULT 0;
        ALTER TABLE claims ADD COLUMN dispute_reason text;
        ALTER TABLE claims ADD COLUMN held_until timestamptz;
        ALTER TABLE claims ADD COLUMN stage text;
        ALTER TABLE claims ADD COLUMN updated_at timestamptz;

        CREATE TABLE claim_instalments (
            claim_id uuid NOT NULL REFERENCES claims(id),
            no integer NOT NULL,
            due_date date NOT NULL,
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            PRIMARY KEY (claim_id, no)
        );

        -- The ledger: signed movements of what is outstanding per component. A charge adds to
        -- principal/fees/interest; a payment subtracts what it covered and adds any excess to
        -- overpaid; a write-off subtracts what is left. The balance is the sum of the three
        -- components. `source_id` makes every producer idempotent (fee_id, payment event id, ...).
        CREATE TABLE ledger_entries (
            id bigserial PRIMARY KEY,
            claim_id uuid NOT NULL REFERENCES claims(id),
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            kind text NOT NULL,
            source_id text NOT NULL,
            principal_minor bigint NOT NULL DEFAULT 0,
            fees_minor bigint NOT NULL DEFAULT 0,
            interest_minor bigint NOT NULL DEFAULT 0,
            overpaid_minor bigint NOT NULL DEFAULT 0,
            amount_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            occurred_at timestamptz NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            UNIQUE (claim_id, source_id)
        );

        -- Claims created before the ledger: their charge and what was paid, fees first.
        INSERT INTO ledger_entries (claim_id, creditor_id, kind, source_id, principal_minor, fees_minor,
                                    amount_minor, currency, occurred_at)
        SELECT id, creditor_id, 'charge', 'created', amount_minor, fees_minor, amount_minor + fees_minor,
               currency, created_at FROM claims;
        INSERT INTO ledger_entries (claim_id, creditor_id, kind, source_id, fees_minor, principal_minor,
                                    overpaid_minor, amount_minor, currency, occurred_at)
        SELECT id, creditor_id, 'payment', 'backfill', -least(paid_minor, fees_minor),
               -least(greatest(paid_minor - fees_minor, 0), amount_minor),
               greatest(paid_minor - fees_minor - amount_minor, 0), paid_minor, currency, coalesce(paid_at, now())
        FROM claims WHERE paid_minor > 0;

        CREATE TABLE departments (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            key text NOT NULL,
            name text NOT NULL,
            final_due_offset_days integer NOT NULL CHECK (final_due_offset_days >= 0),
            policy_key text,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (creditor_id, key)
        );

        -- Icelandic payment slips (docs/domain.md): the department that would have received the slip's value pays its
        -- cancellation fee.
        ALTER TABLE settlement_entries ADD COLUMN department text;

        ALTER TABLE api_keys ADD COLUMN name text;

        CREATE TABLE webhook_endpoints (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            url text NOT NULL,
            secret text NOT NULL,
            event_types text[] NOT NULL,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            disabled_at timestamptz
        );
        CREATE INDEX webhook_endpoints_creditor ON webhook_endpoints (creditor_id);

        -- One row per (message, endpoint): the worker's queue and the delivery log.
        CREATE TABLE webhook_deliveries (
            id uuid PRIMARY KEY,
            message_id text NOT NULL,
            endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id),
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            status text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_status_code integer,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_creditor ON webhook_deliveries (creditor_id, created_at);
        CREATE TABLE webhook_attempts (
            id bigserial PRIMARY KEY,
            delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id),
            attempted_at timestamptz NOT NULL DEFAULT now(),
            status_code integer,
            error text,
            duration_ms integer NOT NULL
        );
        CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

        -- Icelandic payment slips (docs/domain.md): a failed card instalment becomes one payment slip, whatever the replays.
        CREATE TABLE card_instalment_failures (
            failure_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            claim_id uuid NOT NULL REFERENCES claims(id),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE card_instalment_failures, webhook_attempts, webhook_deliveries, webhook_endpoints,"
        " departments, ledger_entries, claim_instalments"
    )
    op.execute("ALTER TABLE api_keys DROP COLUMN name")
    op.execute("ALTER TABLE settlement_entries DROP COLUMN department")
    op.execute(
        "ALTER TABLE claims DROP COLUMN interest_minor, DROP COLUMN written_off_minor, DROP COLUMN dispute_reason,"
        " DROP COLUMN held_until, DROP COLUMN stage, DROP COLUMN updated_at"
    )
