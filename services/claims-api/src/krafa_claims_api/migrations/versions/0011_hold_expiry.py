"""claims-api: holds expire on their own; the expiry loop finds due holds by this index.

Revision ID: 0011_hold_expiry
Revises: 0003_lifecycle
Create Date: 2026-11-24
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0011_hold_expiry"
down_revision = "0003_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- Only held claims with an end: small, and exactly what the loop asks for.
        CREATE INDEX claims_hold_expiry ON claims (held_until) WHERE status = 'held' AND held_until IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX claims_hold_expiry")
