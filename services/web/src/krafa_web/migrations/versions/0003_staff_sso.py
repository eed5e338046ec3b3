"""web: a creditor's own OpenID Connect provider for its staff's single sign-on, the sign-ins in
flight (state, nonce, PKCE verifier) and the provider's subject each user is bound to.

Revision ID: 0003_staff_sso
Revises: 0002
Create Date: 2026-12-07
"""

from alembic import op
from krafa_kit.migrations import run_sql

revision = "0003_staff_sso"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        """
        -- One provider per creditor. The client secret is sealed (Fernet, KRAFA_STAFF_OIDC_KEYS);
        -- `domains` are the email domains whose addresses the login page sends to this provider.
        CREATE TABLE creditor_sso (
            creditor_id uuid PRIMARY KEY,
            issuer text NOT NULL,
            client_id text NOT NULL,
            client_secret_sealed text,
            domains text[] NOT NULL DEFAULT '{}',
            enabled boolean NOT NULL DEFAULT true,
            updated_at timestamptz NOT NULL,
            updated_by text NOT NULL
        );
        -- A sign-in sent to the provider: the hash of its state, bound to the browser that
        -- started it (the hash of a cookie), with the nonce and the PKCE verifier; used once.
        CREATE TABLE staff_sso_logins (
            state_hash bytea PRIMARY KEY,
            browser_hash bytea NOT NULL,
            creditor_id uuid NOT NULL,
            nonce text NOT NULL,
            verifier text NOT NULL,
            next_path text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            finished_at timestamptz
        );
        CREATE INDEX staff_sso_logins_created ON staff_sso_logins (created_at);
        -- The provider's subject a user signed in as first: later sign-ins match it, so an
        -- address given to someone else at the provider does not open the account.
        ALTER TABLE staff_users ADD COLUMN sso_issuer text, ADD COLUMN sso_subject text;
        CREATE UNIQUE INDEX staff_users_sso ON staff_users (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE creditor_sso, staff_sso_logins")
    op.execute("DROP INDEX staff_users_sso")
    op.execute("ALTER TABLE staff_users DROP COLUMN sso_issuer, DROP COLUMN sso_subject")
