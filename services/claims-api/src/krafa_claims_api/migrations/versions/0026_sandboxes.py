"""claims-api: sandbox creditors (docs/adr/0015). A sandbox is a creditor of its own, linked to
the live one by `sandbox_of` (at most one per live creditor), and runs on a clock of its own:
`sandbox_clocks` holds how far it is ahead of the service's clock. The offset only grows.

Revision ID: 0026_sandboxes
Revises: 0025_creditor_sender
Create Date: 2026-12-07
"""

from alembic import op

revision = "0026_sandboxes"
down_revision = "0025_creditor_sender"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE creditors ADD COLUMN sandbox_of uuid UNIQUE REFERENCES creditors (id)")
    op.execute(
        """
        CREATE TABLE sandbox_clocks (
            creditor_id uuid PRIMARY KEY REFERENCES creditors (id) ON DELETE CASCADE,
            offset_s bigint NOT NULL CHECK (offset_s >= 0),
            advanced_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE sandbox_clocks")
    op.execute("ALTER TABLE creditors DROP COLUMN sandbox_of")
