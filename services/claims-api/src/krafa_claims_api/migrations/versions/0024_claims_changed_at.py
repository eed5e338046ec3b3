"""claims-api: when Krafa last changed each claim, kept by the database itself, so an ERP syncs
with `GET /v1/claims?updated_since=` and misses no change whichever code path made it.

Revision ID: 0024_claims_changed_at
Revises: 0023_contact_verified_at
Create Date: 2026-12-06
"""

from alembic import op

revision = "0024_claims_changed_at"
down_revision = "0023_contact_verified_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE claims ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now()")
    op.execute("UPDATE claims SET changed_at = COALESCE(updated_at, created_at)")
    op.execute(
        """
        CREATE FUNCTION claims_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.changed_at := now();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER claims_changed BEFORE UPDATE ON claims FOR EACH ROW"
        " WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION claims_changed()"
    )
    op.execute("CREATE INDEX claims_creditor_changed ON claims (creditor_id, changed_at)")


def downgrade() -> None:
    op.execute("DROP INDEX claims_creditor_changed")
    op.execute("DROP TRIGGER claims_changed ON claims")
    op.execute("DROP FUNCTION claims_changed()")
    op.execute("ALTER TABLE claims DROP COLUMN changed_at")
