"""payments-ingest: saved column mappings of CSV bank exports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        CREATE TABLE csv_mappings (
            name text PRIMARY KEY,
            mapping jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE csv_mappings")
