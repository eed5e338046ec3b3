"""scheduler: policies as data, the timeline's cursor and pauses, the debtor contact log, and
afternoon call retries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from krafa_kit.migrations import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE timelines
            ADD COLUMN amount_minor bigint NOT NULL DEFAULT 0,
            ADD COLUMN payments jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN department text,
            ADD COLUMN customer_class text NOT NULL DEFAULT 'regular',
            ADD COLUMN debtor_kind text NOT NULL DEFAULT 'person',
            ADD COLUMN debtor_country text NOT NULL DEFAULT '',
            ADD COLUMN policy_creditor uuid,
            ADD COLUMN policy_key text,
            ADD COLUMN policy_version int,
            ADD COLUMN last_fired_at timestamptz,
            ADD COLUMN watch_round int NOT NULL DEFAULT 0,
            ADD COLUMN fees jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN free_reminders int NOT NULL DEFAULT 0,
            ADD COLUMN shift_s bigint NOT NULL DEFAULT 0,
            ADD COLUMN pause_reason text,
            ADD COLUMN instalments jsonb;
        ALTER TABLE timelines ALTER COLUMN jurisdiction TYPE text;
        DROP INDEX timelines_due;
        -- Active, paused-until and instalment-plan rows all wake up through next_action_at.
        CREATE INDEX timelines_due ON timelines (next_action_at) WHERE next_action_at IS NOT NULL;
        CREATE INDEX timelines_debtor ON timelines (creditor_id, debtor_id);

        -- Creditor policies: every version kept, so a planned timeline keeps the one it started with.
        CREATE TABLE policies (
            creditor_id uuid NOT NULL,
            key text NOT NULL,
            version int NOT NULL,
            department text NOT NULL DEFAULT '',
            customer_class text NOT NULL DEFAULT '',
            document jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (creditor_id, key, version)
        );
        CREATE INDEX policies_scope ON policies (creditor_id, department, customer_class, created_at DESC);

        -- Every contact the engine made, per creditor and debtor: the contact budget reads it.
        CREATE TABLE contacts (
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            channel text NOT NULL,
            at timestamptz NOT NULL,
            reminder_id uuid NOT NULL,
            PRIMARY KEY (reminder_id)
        );
        CREATE INDEX contacts_debtor ON contacts (creditor_id, debtor_id, at);

        CREATE TABLE call_retries (
            reminder_id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_ids uuid[] NOT NULL,
            step int NOT NULL,
            template text NOT NULL,
            tone text NOT NULL,
            currency text NOT NULL,
            due_at timestamptz NOT NULL,
            fired_at timestamptz
        );
        CREATE INDEX call_retries_due ON call_retries (due_at) WHERE fired_at IS NULL
        """
    )


def downgrade() -> None:
    run_sql(
        """
        DROP TABLE call_retries, contacts, policies;
        DROP INDEX timelines_debtor;
        ALTER TABLE timelines
            DROP COLUMN amount_minor, DROP COLUMN payments, DROP COLUMN department,
            DROP COLUMN customer_class, DROP COLUMN debtor_kind, DROP COLUMN debtor_country,
            DROP COLUMN policy_creditor, DROP COLUMN policy_key, DROP COLUMN policy_version,
            DROP COLUMN last_fired_at, DROP COLUMN watch_round, DROP COLUMN fees,
            DROP COLUMN free_reminders, DROP COLUMN shift_s, DROP COLUMN pause_reason,
            DROP COLUMN instalments
        """
    )
