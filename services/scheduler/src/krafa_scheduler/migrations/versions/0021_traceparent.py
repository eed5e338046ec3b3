"""scheduler: a claim's timeline keeps the trace context of the ClaimCreated that began it, so every reminder step it fires later, days on, continues the trace the claim's POST started.

Revision ID: 0021_traceparent
Revises: 0020_personal_data
Create Date: 2026-12-06
"""

from alembic import op

revision = "0021_traceparent"
down_revision = "0020_personal_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE timelines ADD COLUMN traceparent text")


def downgrade() -> None:
    op.execute("ALTER TABLE timelines DROP COLUMN traceparent")
