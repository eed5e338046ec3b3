"""scheduler: new timelines wake the sweep at commit, whoever writes them (the ClaimCreated handler,
a bulk load, an operator's repair), so an idle sweep can sleep until its next known step instead of
polling for rows it was not told of.

Revision ID: 0022_timelines_due_notify
Revises: 0021_traceparent
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022_timelines_due_notify"
down_revision = "0021_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The channel is krafa_kit.wakeup.due_channel(<schema>, "timelines"); once per statement (a
    # COPY of many rows is one NOTIFY), and PostgreSQL folds the same NOTIFY within a transaction.
    op.execute(
        """
        CREATE FUNCTION timelines_due() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('krafa_due_' || TG_TABLE_SCHEMA || '_timelines', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute("CREATE TRIGGER timelines_due AFTER INSERT ON timelines FOR EACH STATEMENT EXECUTE FUNCTION timelines_due()")


def downgrade() -> None:
    op.execute("DROP TRIGGER timelines_due ON timelines")
    op.execute("DROP FUNCTION timelines_due()")
