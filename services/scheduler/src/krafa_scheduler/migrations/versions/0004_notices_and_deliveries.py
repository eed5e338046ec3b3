"""scheduler: the notice that holds the next steps (when it was due, when the notifier reported it
sent, the pay-by it stated); no call retries of its own (the notifier's call queue retries the same
task); creditor policies stored before several channels per step keep their meaning — a channel
list that was an order of preference becomes the first channel with the rest as its fallbacks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from krafa_kit.migrations import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE timelines
            ADD COLUMN notice_step int,
            ADD COLUMN notice_due_at timestamptz,
            ADD COLUMN notice_sent_at timestamptz,
            ADD COLUMN notice_pay_by date;
        DROP TABLE call_retries;
        UPDATE policies SET document = jsonb_set(document, '{steps}', (
            SELECT jsonb_agg(
                CASE WHEN s ? 'fallbacks' OR jsonb_array_length(COALESCE(s->'channels', '[]'::jsonb)) < 2 THEN s
                ELSE s || jsonb_build_object(
                    'channels', jsonb_build_array(s->'channels'->0),
                    'fallbacks', jsonb_build_object(s->'channels'->>0, (s->'channels') - 0))
                END ORDER BY ord)
            FROM jsonb_array_elements(document->'steps') WITH ORDINALITY AS t(s, ord)))
        WHERE jsonb_typeof(document->'steps') = 'array'
        """
    )


def downgrade() -> None:
    run_sql(
        """
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
        CREATE INDEX call_retries_due ON call_retries (due_at) WHERE fired_at IS NULL;
        ALTER TABLE timelines
            DROP COLUMN notice_step, DROP COLUMN notice_due_at, DROP COLUMN notice_sent_at,
            DROP COLUMN notice_pay_by
        """
    )
