"""web: a staff user's chosen language for the staff pages, and the audit's two times — `at` on
the services' clock (the one claim timelines use, simulated in demos and tests), `recorded_at`
on the wall clock that login lockouts count in.

Revision ID: 0005_staff_language
Revises: 0004_staff_sso_required
Create Date: 2026-12-07
"""

from alembic import op

revision = "0005_staff_language"
down_revision = "0004_staff_sso_required"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE staff_users ADD COLUMN language text CHECK (language IN ('is', 'nb', 'et', 'en'))")
    op.execute("ALTER TABLE staff_audit ADD COLUMN recorded_at timestamptz")
    op.execute("UPDATE staff_audit SET recorded_at = at")
    op.execute("ALTER TABLE staff_audit ALTER COLUMN recorded_at SET NOT NULL")
    op.execute("DROP INDEX staff_audit_user")
    op.execute("CREATE INDEX staff_audit_user ON staff_audit (user_id, action, recorded_at)")


def downgrade() -> None:
    op.execute("DROP INDEX staff_audit_user")
    op.execute("CREATE INDEX staff_audit_user ON staff_audit (user_id, action, at)")
    op.execute("ALTER TABLE staff_audit DROP COLUMN recorded_at")
    op.execute("ALTER TABLE staff_users DROP COLUMN language")
