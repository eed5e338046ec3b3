"""The relying party (identity.OidcClient) against the stack's real OpenID Connect provider
(krafa.sinks.idp_sink): the debtor's e-ID gives the national id it vouches for, a creditor's
provider the verified claims; the wrong nonce or PKCE verifier gets nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from krafa.sinks.idp_sink import create_app as create_idp
from krafa_kit.embedded import free_port
from krafa_kit.testing import serving
from krafa_web.identity import IdentityError, OidcClient

SECRET = "idp-secret"  # noqa: S105 — a test value


@pytest.fixture
async def issuer() -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with serving(create_idp(issuer=url, client_id="krafa-web", client_secret=SECRET), port):
        yield url


def client(issuer: str, claim: str = "national_id") -> OidcClient:
    return OidcClient(
        issuer=issuer,
        client_id="krafa-web",
        client_secret=SECRET,
        redirect_uri="http://127.0.0.1:1/auth/callback",
        scopes="openid profile email",
        national_id_claim=claim,
    )


async def approve(url: str, **form: str) -> str:
    """The person at the provider's page; returns the code it redirects back with."""
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(url)
        action = re.search(r'action="([^"]+)"', page.text)
        assert action, page.text
        back = await http.post(url.split("/authorize")[0] + action.group(1), data=form)
    query = parse_qs(urlsplit(back.headers["location"]).query)
    return query["code"][0]


async def test_the_e_id_gives_the_national_id_and_a_creditors_provider_the_email(issuer: str) -> None:
    oidc = client(issuer)
    try:
        request = await oidc.authorization(language="is")
        code = await approve(request.url, national_id="0101302989", name="Anna")
        assert await oidc.national_id(code=code, verifier=request.verifier, nonce=request.nonce) == "0101302989"

        request = await oidc.authorization(language="en", login_hint="anna@fram.is")
        assert "login_hint=anna%40fram.is" in request.url
        code = await approve(request.url, email="anna@fram.is")
        claims = await oidc.verified_claims(code=code, verifier=request.verifier, nonce=request.nonce)
        assert (claims["email"], claims["email_verified"], claims["iss"]) == ("anna@fram.is", True, issuer)
        assert claims["sub"]
    finally:
        await oidc.close()


async def test_a_wrong_nonce_or_verifier_gets_nothing(issuer: str) -> None:
    oidc = client(issuer)
    try:
        request = await oidc.authorization(language="en")
        code = await approve(request.url, email="anna@fram.is")
        with pytest.raises(IdentityError, match="not for us"):
            await oidc.verified_claims(code=code, verifier=request.verifier, nonce="another nonce")
        request = await oidc.authorization(language="en")
        code = await approve(request.url, email="anna@fram.is")
        with pytest.raises(IdentityError, match="400"):
            await oidc.verified_claims(code=code, verifier="not the verifier", nonce=request.nonce)
    finally:
        await oidc.close()
