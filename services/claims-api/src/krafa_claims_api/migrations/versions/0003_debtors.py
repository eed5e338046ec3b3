"""claims-api: debtor master data (customer class, credit limit, overdue thresholds, erasure),
contact points with consent and state, contact-list upload jobs, and the debtor's change log.

The pre-0003 `debtors.email`, `phone` and `email_state` columns stay as a projection of the
contact points, so older readers keep working; existing values become contact points here.

Revision ID: 0003_debtors
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0003_debtors"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        ALTER TABLE debtors
            ADD COLUMN customer_class text NOT NULL DEFAULT 'regular',
            ADD COLUMN credit_limit_minor bigint CHECK (credit_limit_minor >= 0),
            ADD COLUMN credit_limit_currency char(3),
            ADD COLUMN overdue_warn_days integer CHECK (overdue_warn_days > 0),
            ADD COLUMN overdue_block_days integer CHECK (overdue_block_days > 0),
            ADD COLUMN overdue_warn_minor bigint CHECK (overdue_warn_minor >= 0),
            ADD COLUMN overdue_block_minor bigint CHECK (overdue_block_minor >= 0),
            ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN erased_at timestamptz;
        CREATE INDEX debtors_listing ON debtors (creditor_id, created_at, id);

        -- Contact points belong to one (creditor, debtor): purpose limitation by construction.
        CREATE TABLE contact_points (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            debtor_id uuid NOT NULL REFERENCES debtors(id),
            kind text NOT NULL CHECK (kind IN ('email', 'phone', 'netbank')),
            value text NOT NULL,
            origin text NOT NULL CHECK (origin IN ('creditor_upload', 'debtor_opt_in')),
            state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'bounced', 'opted_out')),
            verified boolean NOT NULL DEFAULT false,
            consent_source text,
            consent_at timestamptz,
            terms_version text,
            state_reason text,
            listed_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE UNIQUE INDEX contact_points_value ON contact_points (debtor_id, kind, lower(value));
        CREATE INDEX contact_points_creditor ON contact_points (creditor_id, debtor_id);

        INSERT INTO contact_points (id, creditor_id, debtor_id, kind, value, origin, state, consent_source,
                                    listed_at, created_at, updated_at)
        SELECT gen_random_uuid(), creditor_id, id, 'email', email, 'creditor_upload', email_state, 'claim',
               updated_at, updated_at, updated_at
        FROM debtors WHERE email IS NOT NULL;
        INSERT INTO contact_points (id, creditor_id, debtor_id, kind, value, origin, consent_source,
                                    listed_at, created_at, updated_at)
        SELECT gen_random_uuid(), creditor_id, id, 'phone', phone, 'creditor_upload', 'claim',
               updated_at, updated_at, updated_at
        FROM debtors WHERE phone IS NOT NULL;

        -- What changed on a debtor, when and why: field names only, never the personal data itself,
        -- so an erasure leaves nothing personal behind here.
        CREATE TABLE debtor_history (
            id bigserial PRIMARY KEY,
            debtor_id uuid NOT NULL REFERENCES debtors(id),
            event_id uuid NOT NULL,
            source text NOT NULL,
            occurred_at timestamptz NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX debtor_history_debtor ON debtor_history (debtor_id, occurred_at);

        CREATE TABLE contact_uploads (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors(id),
            content_hash text NOT NULL,
            format text NOT NULL,
            size_bytes bigint NOT NULL,
            status text NOT NULL,
            rows_total integer NOT NULL DEFAULT 0,
            rows_accepted integer NOT NULL DEFAULT 0,
            rows_rejected integer NOT NULL DEFAULT 0,
            debtors_created integer NOT NULL DEFAULT 0,
            debtors_updated integer NOT NULL DEFAULT 0,
            rows_unchanged integer NOT NULL DEFAULT 0,
            failure text,
            created_at timestamptz NOT NULL,
            started_at timestamptz,
            finished_at timestamptz,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX contact_uploads_hash ON contact_uploads (creditor_id, content_hash);
        CREATE TABLE contact_upload_rejects (
            upload_id uuid NOT NULL REFERENCES contact_uploads(id),
            line integer NOT NULL,
            customer_no text,
            field text,
            detail text NOT NULL,
            PRIMARY KEY (upload_id, line)
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE contact_upload_rejects, contact_uploads, debtor_history, contact_points")
    op.execute("DROP INDEX debtors_listing")
    op.execute(
        "ALTER TABLE debtors DROP COLUMN customer_class, DROP COLUMN credit_limit_minor,"
        " DROP COLUMN credit_limit_currency, DROP COLUMN overdue_warn_days, DROP COLUMN overdue_block_days,"
        " DROP COLUMN overdue_warn_minor, DROP COLUMN overdue_block_minor, DROP COLUMN created_at,"
        " DROP COLUMN erased_at"
    )
