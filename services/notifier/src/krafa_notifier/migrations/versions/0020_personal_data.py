"""notifier: erasure of a debtor's personal data, and what arrives for them after it.

`erased_subjects` lists the debtors whose data was erased here. A send the dispatcher had already
claimed when the erasure came is recorded after it: the trigger pseudonymises the address, the
error and the content such a delivery (one that existed before the erasure) records.

Revision ID: 0020_personal_data
Revises: 0005_content
Create Date: 2026-11-25
"""

from alembic import op
from krafa_kit.privacy import create_erased_subjects

revision = "0020_personal_data"
down_revision = "0005_content"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erased_subjects()
    op.execute(
        """
        CREATE FUNCTION deliveries_of_erased() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE stand_in text;
        BEGIN
            SELECT pseudonym INTO stand_in FROM erased_subjects
             WHERE creditor_id = NEW.creditor_id AND debtor_id = NEW.debtor_id AND recorded_at >= NEW.created_at;
            IF stand_in IS NOT NULL THEN
                IF NEW.recipient IS NOT NULL THEN
                    NEW.recipient := CASE WHEN NEW.channel = 'email' THEN stand_in || '@erased.invalid'
                                          ELSE stand_in END;
                END IF;
                NEW.last_error := NULL;
                NEW.content := NULL;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER deliveries_of_erased BEFORE UPDATE OF recipient, last_error, content ON deliveries"
        " FOR EACH ROW EXECUTE FUNCTION deliveries_of_erased()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER deliveries_of_erased ON deliveries")
    op.execute("DROP FUNCTION deliveries_of_erased()")
    op.execute("DROP TABLE erased_subjects")
