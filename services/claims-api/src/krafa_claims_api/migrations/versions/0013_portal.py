"""claims-api: the debtor portal's self-service terms and arrangement requests.

Revision ID: 0013_portal
Revises: 0012_payment_identity
Create Date: 2026-12-06
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0013_portal"
down_revision = "0012_payment_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- How far a debtor may help themselves; department '' is the creditor's default.
        CREATE TABLE self_service_terms (
            creditor_id uuid NOT NULL REFERENCES creditors (id),
            department text NOT NULL DEFAULT '',
            max_deferral_days int NOT NULL CHECK (max_deferral_days >= 0),
            max_instalments int NOT NULL CHECK (max_instalments >= 0),
            max_plan_days int NOT NULL CHECK (max_plan_days >= 0),
            min_instalment_minor bigint NOT NULL CHECK (min_instalment_minor >= 0),
            interval_days int NOT NULL CHECK (interval_days > 0),
            requests_allowed boolean NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (creditor_id, department)
        );
        -- A debtor's deferral or plan beyond the terms, for the creditor to decide.
        CREATE TABLE arrangement_requests (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_id uuid NOT NULL REFERENCES claims (id),
            kind text NOT NULL CHECK (kind IN ('deferral', 'instalments')),
            due_date date,
            instalments jsonb,
            note text,
            reasons text[] NOT NULL DEFAULT '{}',
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
            created_at timestamptz NOT NULL,
            decided_at timestamptz,
            decision_note text
        );
        CREATE INDEX arrangement_requests_claim ON arrangement_requests (claim_id);
        CREATE INDEX arrangement_requests_creditor ON arrangement_requests (creditor_id, created_at);
        CREATE UNIQUE INDEX arrangement_requests_one_pending ON arrangement_requests (claim_id) WHERE status = 'pending';
        CREATE INDEX debtors_national_id ON debtors (national_id) WHERE national_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX debtors_national_id")
    op.execute("DROP TABLE arrangement_requests, self_service_terms")
