"""claims-api: a debtor's personal-data requests across the services.

An erasure or export the creditor asks for goes to every service that holds personal data (the
request events); `privacy_requests` is the request with the services that must answer, and
claims-api's own part of an export; `privacy_answers` what each service answered. A request is
complete when every service named in it has answered.

Revision ID: 0021_personal_data
Revises: 0020_reference_unique
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0021_personal_data"
down_revision = "0020_reference_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE privacy_requests (
            id uuid PRIMARY KEY,
            creditor_id uuid NOT NULL REFERENCES creditors (id),
            debtor_id uuid NOT NULL REFERENCES debtors (id),
            kind text NOT NULL CHECK (kind IN ('erasure', 'export')),
            services text[] NOT NULL,
            own_part jsonb,
            requested_at timestamptz NOT NULL,
            completed_at timestamptz
        );
        CREATE INDEX privacy_requests_debtor ON privacy_requests (creditor_id, debtor_id, kind, requested_at);
        CREATE TABLE privacy_answers (
            request_id uuid NOT NULL REFERENCES privacy_requests (id),
            service text NOT NULL,
            rows integer NOT NULL,
            data jsonb,
            handled_at timestamptz NOT NULL,
            PRIMARY KEY (request_id, service)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE privacy_answers, privacy_requests")
