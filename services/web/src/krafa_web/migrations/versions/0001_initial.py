"""web: personal links, login challenges, sessions, attempt counters and the login audit.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
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
        -- Learnt from ReminderSent: which debtor a personal link opens for. Only the code's hash.
        CREATE TABLE portal_links (
            code_hash bytea PRIMARY KEY,
            delivery_id uuid NOT NULL UNIQUE,
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            claim_ids uuid[] NOT NULL,
            channel text NOT NULL,
            sent_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        );
        CREATE INDEX portal_links_debtor ON portal_links (creditor_id, debtor_id);
        -- A login in progress: the cookie's hash, the code's keyed hash, attempts.
        CREATE TABLE login_challenges (
            id uuid PRIMARY KEY,
            token_hash bytea NOT NULL UNIQUE,
            csrf text NOT NULL,
            link_hash bytea REFERENCES portal_links (code_hash),
            creditor_id uuid,
            debtor_id uuid,
            method text NOT NULL CHECK (method IN ('code', 'oidc')),
            channel text,
            destination text,
            code_hash bytea,
            oidc_state text UNIQUE,
            oidc_nonce text,
            oidc_verifier text,
            attempts int NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            finished_at timestamptz,
            outcome text
        );
        CREATE TABLE sessions (
            id uuid PRIMARY KEY,
            token_hash bytea NOT NULL UNIQUE,
            csrf text NOT NULL,
            principals jsonb NOT NULL,
            via text NOT NULL,
            created_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            ended_at timestamptz
        );
        -- Wrong codes per debtor, for the lockout.
        CREATE TABLE login_failures (
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            at timestamptz NOT NULL
        );
        CREATE INDEX login_failures_debtor ON login_failures (creditor_id, debtor_id, at);
        -- A new email or phone the debtor is verifying with a code before it is used.
        CREATE TABLE contact_verifications (
            id uuid PRIMARY KEY,
            session_id uuid NOT NULL REFERENCES sessions (id),
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('email', 'phone')),
            value text NOT NULL,
            code_hash bytea NOT NULL,
            attempts int NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            finished_at timestamptz
        );
        -- Who logged in, how and when: part of the debtor's own export.
        CREATE TABLE login_audit (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL,
            creditor_id uuid,
            debtor_id uuid,
            event text NOT NULL,
            detail text
        );
        CREATE INDEX login_audit_debtor ON login_audit (creditor_id, debtor_id, at);
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE login_audit, contact_verifications, login_failures, sessions, login_challenges, portal_links,"
        " outbox, inbox CASCADE"
    )
