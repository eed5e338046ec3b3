"""Single sign-on for creditors' staff with the creditor's own OpenID Connect provider (Entra ID,
Google Workspace, Okta, Keycloak…), beside password + TOTP. A creditor's admin sets the provider
up (issuer, client id, client secret sealed at rest, the email domains it signs in); the login
page sends an address of such a domain to that provider (authorization code + PKCE + nonce, the
state bound to the browser by a cookie); the verified ID token signs in the creditor's existing
user with that subject or address. It never creates users, and the provider's own multi-factor
login stands in for the TOTP step."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from krafa_kit.clock import Clock
from krafa_kit.db import Database

from krafa_web import domain as portal_domain
from krafa_web.identity import IdentityError, OidcClient
from krafa_web.staff import domain, repository
from krafa_web.staff.domain import SsoCandidate, SsoIdentity, StaffUser
from krafa_web.staff.sealing import Sealer, SealError
from krafa_web.staff.service import StaffRefused

SIGN_IN_TTL = timedelta(minutes=10)
SCOPES = "openid email profile"


class SsoRefused(Exception):
    """A sign-in that did not end in a session: the reason the page explains and what it may
    show (the address the provider vouched for)."""

    def __init__(self, reason: str, *, creditor_id: UUID | None = None, email: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.creditor_id, self.email = reason, creditor_id, email


@dataclass(frozen=True, slots=True)
class SsoSettings:
    creditor_id: UUID
    issuer: str
    client_id: str
    has_secret: bool
    domains: tuple[str, ...]
    enabled: bool
    required: bool
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    user_id: UUID
    next_path: str


class SingleSignOn:
    def __init__(
        self, db: Database, people: Clock, *, sealer: Sealer | None, redirect_uri: str, services: Clock | None = None
    ) -> None:
        self.db, self.people, self.sealer, self.redirect_uri = db, people, sealer, redirect_uri
        # The audit's `at` is on the services' clock (as in Staff); sign-in states expire on `people`.
        self.services = services or people
        # One relying-party client per creditor, rebuilt when its settings change.
        self._clients: dict[UUID, tuple[tuple[Any, ...], OidcClient]] = {}

    async def close(self) -> None:
        for _, client in self._clients.values():
            await client.close()
        self._clients.clear()

    def _client(self, row: Any) -> OidcClient:
        version = (row["issuer"], row["client_id"], row["client_secret_sealed"], row["updated_at"])
        known = self._clients.get(row["creditor_id"])
        if known is not None and known[0] == version:
            return known[1]
        secret = None
        if row["client_secret_sealed"]:
            if self.sealer is None:
                raise SsoRefused("unavailable", creditor_id=row["creditor_id"])
            try:
                secret = self.sealer.open(row["client_secret_sealed"])
            except SealError as exc:
                raise SsoRefused("unavailable", creditor_id=row["creditor_id"]) from exc
        client = OidcClient(
            issuer=row["issuer"],
            client_id=row["client_id"],
            client_secret=secret,
            redirect_uri=self.redirect_uri,
            scopes=SCOPES,
            national_id_claim="sub",
        )
        self._clients[row["creditor_id"]] = (version, client)
        return client

    # -- the creditor admin's settings -------------------------------------------------------------
    async def settings_of(self, creditor_id: UUID) -> SsoSettings | None:
        async with self.db.connection() as conn:
            row = await repository.sso_of(conn, creditor_id)
        if row is None:
            return None
        return SsoSettings(
            creditor_id=row["creditor_id"],
            issuer=row["issuer"],
            client_id=row["client_id"],
            has_secret=row["client_secret_sealed"] is not None,
            domains=tuple(row["domains"]),
            enabled=row["enabled"],
            required=row["required"],
            updated_at=row["updated_at"],
            updated_by=row["updated_by"],
        )

    async def configure(
        self,
        creditor_id: UUID,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        domains: str,
        enabled: bool,
        by: StaffUser | None,
        required: bool = False,
    ) -> SsoSettings:
        """Save the creditor's provider, after its discovery document answered for that issuer.
        `client_secret` None keeps the stored one; an empty string removes it (a public client).
        Refusals: StaffRefused with `sso_issuer`, `sso_client_id`, `sso_domains`, `sso_domain_taken`,
        `sso_no_key`, `sso_discovery` or `forbidden` (audited)."""
        if by is not None and not (by.can_manage_users and by.creditor_id == creditor_id):
            raise StaffRefused("forbidden")
        issuer = issuer.strip().rstrip("/")
        detail: dict[str, Any] = {
            "issuer": issuer,
            "client_id": client_id.strip(),
            "enabled": enabled,
            "required": required,
        }
        try:
            names = domain.sso_domains(domains)
        except ValueError:
            names = ()
            reason: str | None = "sso_domains"
        else:
            reason = None
        if domain.issuer_problem(issuer):
            reason = "sso_issuer"
        elif not client_id.strip() or len(client_id) > 255:
            reason = "sso_client_id"
        elif not names and reason is None:
            reason = "sso_domains"
        elif client_secret and self.sealer is None:
            reason = "sso_no_key"
        if reason is None:
            probe = OidcClient(
                issuer=issuer,
                client_id=client_id,
                client_secret=None,
                redirect_uri=self.redirect_uri,
                scopes=SCOPES,
                national_id_claim="sub",
            )
            try:
                await probe.metadata()
            except (httpx.HTTPError, IdentityError, ValueError):
                reason = "sso_discovery"
            finally:
                await probe.close()
        sealed = self.sealer.seal(client_secret) if client_secret and self.sealer is not None else None
        now = self.people.now()
        detail["domains"] = list(names)
        async with self.db.uow() as uow:
            if reason is None:
                taken = await repository.sso_domain_owners(uow.conn, list(names), creditor_id)
                if taken:
                    reason = "sso_domain_taken"
                    detail["taken"] = taken
            if reason is None:
                await repository.put_sso(
                    uow.conn,
                    creditor_id=creditor_id,
                    issuer=issuer,
                    client_id=client_id.strip(),
                    client_secret_sealed=sealed,
                    keep_secret=client_secret is None,
                    domains=list(names),
                    enabled=enabled,
                    required=required,
                    at=now,
                    by=by.email if by else "operator API",
                )
            if client_secret is not None:
                detail["client_secret"] = "replaced" if client_secret else "removed"
            await repository.audit(
                uow.conn,
                at=self.services.now(),
                recorded_at=now,
                creditor_id=creditor_id,
                user_id=by.id if by else None,
                email=by.email if by else "operator API",
                action="sso.configure",
                target=f"sso:{issuer}",
                detail={**detail, **({"why": reason} if reason else {})},
                outcome="refused" if reason else "ok",
            )
            await uow.commit()
        if reason:
            raise StaffRefused(reason)
        settings = await self.settings_of(creditor_id)
        assert settings is not None
        return settings

    # -- signing in --------------------------------------------------------------------------------
    async def start(self, email: str, next_path: str, language: str = "en") -> tuple[str, str]:
        """The provider's authorization URL for this address's creditor (its page in `language`,
        the login page's: OIDC ui_locales), and the browser token the callback must come back
        with. `not_set_up` when no creditor signs that domain in."""
        async with self.db.connection() as conn:
            row = await repository.sso_for_domain(conn, domain.email_domain(email))
        if row is None:
            raise SsoRefused("not_set_up")
        client = self._client(row)
        try:
            request = await client.authorization(language=language, login_hint=email.strip())
        except (httpx.HTTPError, IdentityError, KeyError, ValueError) as exc:
            raise SsoRefused("unavailable", creditor_id=row["creditor_id"]) from exc
        browser = portal_domain.new_secret()
        async with self.db.uow() as uow:
            await repository.add_sso_login(
                uow.conn,
                state_hash=portal_domain.digest(request.state),
                browser_hash=portal_domain.digest(browser),
                creditor_id=row["creditor_id"],
                nonce=request.nonce,
                verifier=request.verifier,
                next_path=next_path,
                at=self.people.now(),
            )
            await uow.commit()
        return browser, request.url

    async def finish(self, browser: str | None, state: str, code: str, client_address: str) -> SignedIn:
        """The provider's redirect back: the state must be one this browser started in the last
        ten minutes and not used; the code is exchanged with the PKCE verifier and the ID token
        verified (signature, issuer, audience, expiry, nonce); then its subject or address signs
        in the creditor's user. Every outcome is audited."""
        now = self.people.now()
        async with self.db.uow() as uow:
            login = await repository.take_sso_login(uow.conn, portal_domain.digest(state), now)
            await uow.commit()
        if (
            login is None
            or not browser
            or not hmac.compare_digest(bytes(login["browser_hash"]), portal_domain.digest(browser))
            or now - login["created_at"] > SIGN_IN_TTL
        ):
            await self._refused(None, "sso_state", {"client": client_address})
            raise SsoRefused("expired")
        creditor_id: UUID = login["creditor_id"]
        async with self.db.connection() as conn:
            row = await repository.sso_of(conn, creditor_id)
        if row is None or not row["enabled"]:
            await self._refused(creditor_id, "sso_disabled", {"client": client_address})
            raise SsoRefused("not_set_up", creditor_id=creditor_id)
        try:
            client = self._client(row)
            claims = await client.verified_claims(code=code, verifier=login["verifier"], nonce=login["nonce"])
        except (httpx.HTTPError, IdentityError, KeyError, ValueError) as exc:
            await self._refused(creditor_id, "sso_token", {"client": client_address, "error": str(exc)[:300]})
            raise SsoRefused("failed", creditor_id=creditor_id) from exc
        who = SsoIdentity.of(row["issuer"], claims)
        detail = {"client": client_address, "issuer": who.issuer, "subject": who.subject, "email": who.email}
        token = portal_domain.new_secret()
        async with self.db.uow() as uow:
            candidates = [
                SsoCandidate(r["id"], r["email"], r["sso_issuer"], r["sso_subject"])
                for r in await repository.sso_candidates(uow.conn, creditor_id)
            ]
            found = domain.sso_match(candidates, who)
            if isinstance(found, str):
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=creditor_id,
                    user_id=None,
                    email=(who.email or who.subject or "?")[:254],
                    action="login.sso",
                    detail={**detail, "why": found},
                    outcome="refused",
                )
                await uow.commit()
                raise SsoRefused(found, creditor_id=creditor_id, email=who.email)
            if found.sso_subject is None:
                await repository.bind_sso(uow.conn, found.id, who.issuer, who.subject)
            await repository.create_verified_session(
                uow.conn,
                session_id=uuid.uuid4(),
                token_hash=portal_domain.digest(token),
                csrf=portal_domain.new_secret(),
                user_id=found.id,
                now=now,
            )
            await repository.audit(
                uow.conn,
                at=self.services.now(),
                recorded_at=now,
                creditor_id=creditor_id,
                user_id=found.id,
                email=found.email,
                action="login",
                detail={**detail, "method": "sso", "bound": found.sso_subject is None},
            )
            await uow.commit()
        return SignedIn(token, found.id, login["next_path"])

    async def abandon(self, state: str, error: str, client_address: str) -> None:
        """The provider sent the person back without a code (cancelled, or its error): the state
        is spent and the refusal audited."""
        async with self.db.uow() as uow:
            login = await repository.take_sso_login(uow.conn, portal_domain.digest(state), self.people.now())
            await uow.commit()
        creditor_id = login["creditor_id"] if login is not None else None
        await self._refused(creditor_id, "sso_provider_error", {"client": client_address, "error": error[:200]})

    async def _refused(self, creditor_id: UUID | None, why: str, detail: dict[str, Any]) -> None:
        async with self.db.connection() as conn:
            await repository.audit(
                conn,
                at=self.services.now(),
                recorded_at=self.people.now(),
                creditor_id=creditor_id,
                user_id=None,
                email="single sign-on",
                action="login.sso",
                detail={**detail, "why": why},
                outcome="refused",
            )
