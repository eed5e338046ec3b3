r"""An OpenID Connect provider standing in for a national e-ID (rafræn skilríki, BankID,
Smart-ID) and for a creditor's own identity provider (its staff's single sign-on) in `make run`
and the tests: discovery, the authorization endpoint (a page where the tester says whose national
id or work address to vouch for), the token endpoint with PKCE (S256) and client authentication,
and RS256-signed ID tokens whose keys are published as a JWKS.

CLI::

    python -m krafa.sinks.idp_sink --host 127.0.0.1 --port 0 --client-id krafa-web \
        --client-secret … [--issuer URL]

The ID token carries ``sub``, ``name``, ``national_id`` (the national id typed on the page) and,
when an address was typed, ``email`` with ``email_verified``. ``sub`` is derived from the
national id, else from the address.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import os
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from krafa.sinks._serve import serve


def create_app(*, issuer: str, client_id: str, client_secret: str) -> FastAPI:
    app = FastAPI(title="Krafa e-ID sink", docs_url=None, redoc_url=None, openapi_url=None)
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
    requests: dict[str, dict[str, Any]] = {}
    codes: dict[str, dict[str, Any]] = {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "jwks_uri": issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": ["sub", "name", "national_id", "email", "email_verified"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return dict(KeySet([key]).as_dict(private=False))

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("client_id") != client_id or q.get("response_type") != "code":
            return HTMLResponse(_page("<p>Unknown client or response type.</p>"), 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("redirect_uri"):
            return HTMLResponse(_page("<p>PKCE (S256) and a redirect URI are required.</p>"), 400)
        request_id = secrets.token_urlsafe(16)
        requests[request_id] = q
        hint = html.escape(q.get("login_hint", ""), quote=True)
        return HTMLResponse(
            _page(
                "<h1>Test e-ID</h1><p>Which person should this test provider vouch for?</p>"
                f'<form method="post" action="/authorize/{request_id}">'
                '<label for="national_id">National id</label>'
                '<input id="national_id" name="national_id" autocomplete="off">'
                '<label for="email">Work email</label>'
                f'<input id="email" name="email" type="email" autocomplete="off" value="{hint}">'
                '<label for="name">Name</label><input id="name" name="name" autocomplete="off">'
                '<button type="submit">Sign in</button>'
                '<button type="submit" name="deny" value="1" class="deny">Cancel</button></form>'
            )
        )

    @app.post("/authorize/{request_id}")
    async def approve(request_id: str, request: Request) -> Response:
        q = requests.pop(request_id, None)
        if q is None:
            return HTMLResponse(_page("<p>This sign-in has expired.</p>"), 400)
        form = {k: str(v) for k, v in (await request.form()).items()}
        back = {"state": q.get("state", "")}
        if form.get("deny") or not (form.get("national_id", "").strip() or form.get("email", "").strip()):
            back["error"] = "access_denied"
            return RedirectResponse(q["redirect_uri"] + "?" + urlencode(back), 303)
        code = secrets.token_urlsafe(24)
        codes[code] = {
            **q,
            "national_id": form.get("national_id", "").strip(),
            "email": form.get("email", "").strip(),
            "name": form.get("name", ""),
            "at": time.time(),
        }
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode({"code": code, **back}), 303)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        given_id, given_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            given_id, _, given_secret = decoded.partition(":")
        if given_id != client_id or not hmac.compare_digest(given_secret or "", client_secret):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = codes.pop(form.get("code", ""), None)
        if grant is None or time.time() - grant["at"] > 120 or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not hmac.compare_digest(challenge, grant["code_challenge"]):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": hashlib.sha256((grant["national_id"] or grant["email"].lower()).encode()).hexdigest()[:24],
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.get("nonce"),
            "name": grant.get("name") or None,
            "national_id": grant["national_id"] or None,
        }
        if grant["email"]:
            claims |= {"email": grant["email"], "email_verified": True}
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse(
            {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    return app


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Test e-ID</title><style>'
        "body{font-family:system-ui,sans-serif;margin:0;background:#eef2f0;color:#14213d}"
        "main{max-width:24rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:10px}"
        "label{display:block;font-weight:600;margin-top:1rem}input{width:100%;box-sizing:border-box;font:inherit;"
        "padding:.6rem;border:1px solid #5c6b73;border-radius:6px}button{margin-top:1.2rem;width:100%;font:inherit;"
        "font-weight:700;padding:.8rem;border:0;border-radius:6px;background:#1d5c3a;color:#fff}"
        "button.deny{background:#fff;color:#1d5c3a;border:2px solid #1d5c3a}</style></head>"
        "<body><main>" + body + "</main></body></html>"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m krafa.sinks.idp_sink", description="a test OpenID Connect provider"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer", default=None, help="default: http://<host>:<port>")
    parser.add_argument("--client-id", default="krafa-web")
    parser.add_argument("--client-secret", default=os.environ.get("KRAFA_OIDC_CLIENT_SECRET", "krafa-web-secret"))
    parser.add_argument("--log-level", default=os.environ.get("KRAFA_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    issuer = args.issuer or f"http://{args.host}:{args.port}"
    app = create_app(issuer=issuer.rstrip("/"), client_id=args.client_id, client_secret=args.client_secret)
    return serve(app, args.host, args.port, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
