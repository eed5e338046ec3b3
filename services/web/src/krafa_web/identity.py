"""OpenID Connect as a relying party, for the debtors' e-ID step and for creditors' staff signing in
with their own organisation's provider: authorization code flow with PKCE (S256),
`state` and `nonce`, the ID token's signature checked against the provider's JWKS and its
issuer, audience, expiry and nonce validated. Any certified provider or broker works (island.is
/ Auðkenni for rafræn skilríki, BankID and Smart-ID through a broker such as Signicat or
Criipto): configure the issuer, client id and secret, and the claim that holds the national id."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "ES256", "PS256"]


class IdentityError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    state: str
    nonce: str
    verifier: str


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class OidcClient:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        scopes: str,
        national_id_claim: str,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri, self.scopes, self.claim = redirect_uri, scopes, national_id_claim
        self.http = httpx.AsyncClient(timeout=10.0)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            response = await self.http.get(self.issuer + "/.well-known/openid-configuration")
            response.raise_for_status()
            metadata: dict[str, Any] = response.json()
            if metadata.get("issuer", "").rstrip("/") != self.issuer:
                raise IdentityError("the provider's metadata names another issuer")
            self._metadata = metadata
        return self._metadata

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            response = await self.http.get((await self.metadata())["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    async def authorization(self, *, language: str, login_hint: str | None = None) -> Request:
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
        if login_hint:
            query["login_hint"] = login_hint
        endpoint = (await self.metadata())["authorization_endpoint"]
        return Request(f"{endpoint}?{urlencode(query)}", state, nonce, verifier)

    async def national_id(self, *, code: str, verifier: str, nonce: str) -> str:
        """Exchange the code, verify the ID token, return the national id it vouches for."""
        claims = await self.verified_claims(code=code, verifier=verifier, nonce=nonce)
        value = claims.get(self.claim)
        if not isinstance(value, str) or not value.strip():
            raise IdentityError(f"the ID token carries no {self.claim!r}")
        return value.strip()

    async def verified_claims(self, *, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and return the ID token's claims once its
        signature, issuer, audience, expiry and nonce are checked."""
        metadata = await self.metadata()
        auth: tuple[str | bytes, str | bytes] | None = (
            (self.client_id, self.client_secret) if self.client_secret else None
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        if auth is None:
            form["client_id"] = self.client_id
        if auth is None:
            response = await self.http.post(metadata["token_endpoint"], data=form)
        else:
            response = await self.http.post(metadata["token_endpoint"], data=form, auth=auth)
        if response.status_code != 200:
            raise IdentityError(f"the token endpoint answered {response.status_code}")
        id_token = response.json().get("id_token")
        if not id_token:
            raise IdentityError("no ID token")
        try:
            token = jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
        except JoseError:
            # The provider may have rotated its keys: fetch them once more.
            try:
                token = jwt.decode(id_token, await self._key_set(refresh=True), algorithms=ALGORITHMS)
            except JoseError as exc:
                raise IdentityError(f"the ID token does not verify: {exc}") from exc
        claims: dict[str, Any] = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise IdentityError(f"the ID token is not for us: {exc}") from exc
        return claims
