"""payments-ingest: the ledger length behind an amount Krafa stated to a payer — the card
checkout's amount, the bank's copy of a claim — so a payment of all of it names that statement
(PaymentReceived.stated_entries).

Revision ID: 0023_stated_balances
Revises: 0022_one_head
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023_stated_balances"
down_revision = "0022_one_head"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE card_checkouts ADD COLUMN stated_entries integer CHECK (stated_entries >= 1)")
    op.execute("ALTER TABLE bank_claims ADD COLUMN sent_ledger_entries integer")


def downgrade() -> None:
    op.execute("ALTER TABLE bank_claims DROP COLUMN sent_ledger_entries")
    op.execute("ALTER TABLE card_checkouts DROP COLUMN stated_entries")
