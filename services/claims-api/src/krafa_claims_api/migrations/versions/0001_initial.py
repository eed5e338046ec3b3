"""claims-api: creditors, API keys, debtors, claims and their history.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
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
        CREATE TABLE creditors (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            country char(2) NOT NULL,
            currency char(3) NOT NULL,
            default_language text NOT NULL DEFAULT 'en',
            contact_phone text NOT NULL DEFAULT '',
            payment_account text NOT NULL DEFAULT '',
            payment_link_template text,
            sender_email text NOT NULL DEFAULT '',
            slip_fee_minor bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            prefix text NOT NULL UNIQUE,
            secret_hash bytea NOT NULL,
            scopes text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        );
        CREATE TABLE debtors (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            customer_no text NOT NULL,
            kind text NOT NULL,
            name text NOT NULL,
            national_id text,
            language text NOT NULL,
            time_zone text NOT NULL,
            country char(2) NOT NULL,
            email text,
            email_state text NOT NULL DEFAULT 'active',
            phone text,
            address jsonb,
            fallback_channel text NOT NULL DEFAULT 'letter',
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (creditor_id, customer_no)
        );
        CREATE SEQUENCE claim_reference_seq START 100001;
        CREATE TABLE claims (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            debtor_id uuid NOT NULL REFERENCES debtors(id),
            invoice_no text NOT NULL,
            amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
            fees_minor bigint NOT NULL DEFAULT 0,
            paid_minor bigint NOT NULL DEFAULT 0,
            currency char(3) NOT NULL,
            issue_date date NOT NULL,
            due_date date NOT NULL,
            final_due_date date NOT NULL,
            reference text NOT NULL,
            description text,
            department text,
            status text NOT NULL DEFAULT 'open',
            overdue boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            paid_at timestamptz,
            UNIQUE (creditor_id, invoice_no),
            UNIQUE (creditor_id, reference)
        );
        CREATE INDEX claims_debtor ON claims (creditor_id, debtor_id);
        CREATE TABLE claim_history (
            id bigserial PRIMARY KEY,
            claim_id uuid NOT NULL REFERENCES claims(id),
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            occurred_at timestamptz NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            UNIQUE (claim_id, event_id)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE claim_history, claims, debtors, api_keys, creditors, outbox, inbox CASCADE")
    op.execute("DROP SEQUENCE claim_reference_seq")
