"""web: the people who work in Krafa by hand — creditors' staff, call agents and operators —
their logins (password + TOTP), sessions and the audit of everything they do.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
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
        -- A creditor's staff (viewer, clerk, admin: creditor_id set) or the agency's own (agent,
        -- operator: creditor_id null). An agent serves the queues of the creditors in `serves`.
        CREATE TABLE staff_users (
            id uuid PRIMARY KEY,
            creditor_id uuid,
            email text NOT NULL,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('viewer', 'clerk', 'admin', 'agent', 'operator')),
            departments text[] NOT NULL DEFAULT '{}',
            serves uuid[] NOT NULL DEFAULT '{}',
            password_hash text NOT NULL,
            totp_secret text NOT NULL,
            totp_last_step bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            created_by uuid,
            disabled_at timestamptz,
            CHECK ((creditor_id IS NULL) = (role IN ('agent', 'operator')))
        );
        CREATE UNIQUE INDEX staff_users_email ON staff_users (lower(email));
        CREATE INDEX staff_users_creditor ON staff_users (creditor_id);
        -- A session: the cookie's hash; `verified_at` is set once the TOTP step passes.
        CREATE TABLE staff_sessions (
            id uuid PRIMARY KEY,
            token_hash bytea NOT NULL UNIQUE,
            csrf text NOT NULL,
            user_id uuid NOT NULL REFERENCES staff_users (id),
            created_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            verified_at timestamptz,
            ended_at timestamptz
        );
        -- Who did what, when, to what: logins, refusals and every action on a claim or a user.
        CREATE TABLE staff_audit (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL,
            creditor_id uuid,
            user_id uuid,
            email text NOT NULL,
            action text NOT NULL,
            target text,
            detail jsonb NOT NULL DEFAULT '{}',
            outcome text NOT NULL DEFAULT 'ok'
        );
        CREATE INDEX staff_audit_creditor ON staff_audit (creditor_id, at DESC);
        CREATE INDEX staff_audit_user ON staff_audit (user_id, action, at);
        -- Learnt from CreditorNoticeDue: the claims that go to collection soon, and what the
        -- creditor decided (let it go, hold, special treatment) and who decided.
        CREATE TABLE handover_notices (
            notice_id uuid NOT NULL,
            claim_id uuid NOT NULL,
            creditor_id uuid NOT NULL,
            handover_at timestamptz NOT NULL,
            noticed_at timestamptz NOT NULL,
            decision text CHECK (decision IN ('let_go', 'hold', 'special')),
            decided_by text,
            decided_at timestamptz,
            PRIMARY KEY (notice_id, claim_id)
        );
        CREATE INDEX handover_notices_creditor ON handover_notices (creditor_id, handover_at);
        -- Notes an agent keeps on a debtor's case.
        CREATE TABLE case_notes (
            id bigserial PRIMARY KEY,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            at timestamptz NOT NULL,
            user_id uuid NOT NULL REFERENCES staff_users (id),
            author text NOT NULL,
            body text NOT NULL
        );
        CREATE INDEX case_notes_debtor ON case_notes (creditor_id, debtor_id, at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE handover_notices, case_notes, staff_audit, staff_sessions, staff_users CASCADE")
