"""notifier: joins 0002_soft_retry, a branch nothing followed, to the main line, so the service has one
head and every later revision runs after all that came before (a contract test holds it).

Revision ID: 0025_one_head
Revises: 0002_soft_retry, 0024_join_heads
Create Date: 2026-12-07
"""

revision = "0025_one_head"
down_revision = ("0002_soft_retry", "0024_join_heads")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
