r"""A payment-service provider standing in for a real one in `make run` and the tests, speaking
Stripe Checkout's API shape so that the production client talks to it unchanged.

CLI::

    python -m krafa.sinks.psp_sink --host 127.0.0.1 --port 0 --secret-key sk_test_… \
        --webhook-url http://127.0.0.1:8004/v1/psp/webhook --webhook-secret whsec_… [--spool DIR]

``POST /v1/checkout/sessions``
    the secret key as ``Authorization: Bearer``; a form-encoded body with ``mode=payment``,
    ``success_url`` (``{CHECKOUT_SESSION_ID}`` is replaced), ``cancel_url``, ``client_reference_id``,
    ``line_items[0][price_data][currency|unit_amount|product_data][name]]``, ``line_items[0][quantity]``,
    ``metadata[...]``, ``locale``; ``Idempotency-Key`` replays the first answer. → 200 a
    ``checkout.session`` object with ``id`` (``cs_test_…``) and the hosted page's ``url``.
    Errors in the provider's shape: ``{"error": {"type", "message", "param"}}``.
``GET /v1/checkout/sessions/{id}``
    the session (``status`` open/complete/expired, ``payment_status`` unpaid/paid).
``GET /pay/{id}``, ``POST /pay/{id}``
    the hosted payment page: a card form. The provider's test cards: ``4242 4242 4242 4242`` pays,
    ``4000 0000 0000 0002`` is declined, any future expiry and any CVC. A payment completes the
    session, posts ``checkout.session.completed`` to the webhook URL signed
    ``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "t.body")>`` (retried on failure),
    then redirects the browser to ``success_url``.
``GET /healthz``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from krafa.sinks._serve import serve

log = logging.getLogger("krafa.psp_sink")

PAYS = "4242424242424242"
DECLINED = "4000000000000002"
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


def signature(payload: bytes, secret: str, stamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def _error(status: int, message: str, param: str | None = None, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, "param": param}}, status_code=status)


def _display(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    whole, cents = divmod(amount, 100)
    return f"{whole:,}.{cents:02d} {currency.upper()}" if cents else f"{whole:,} {currency.upper()}"


def create_app(
    *, secret_key: str, webhook_url: str | None, webhook_secret: str | None, spool: Path | None = None
) -> FastAPI:
    app = FastAPI(title="Krafa PSP sink", docs_url=None, redoc_url=None, openapi_url=None)
    sessions: dict[str, dict[str, Any]] = {}
    replays: dict[str, dict[str, Any]] = {}
    webhooks: list[dict[str, Any]] = []
    app.state.sessions, app.state.webhooks = sessions, webhooks
    if spool is not None:
        spool.mkdir(parents=True, exist_ok=True)

    def record(kind: str, value: dict[str, Any]) -> None:
        if spool is not None:
            with (spool / f"{kind}.jsonl").open("a") as out:
                out.write(json.dumps(value) + "\n")

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and hmac.compare_digest(header[7:], secret_key)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/checkout/sessions")
    async def create_session(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Invalid API Key provided", kind="authentication_error")
        key = request.headers.get("idempotency-key")
        if key and key in replays:
            return JSONResponse(replays[key], headers={"Idempotent-Replayed": "true"})
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("mode") != "payment":
            return _error(400, "Only mode=payment is supported here", "mode")
        for required in ("success_url", "cancel_url", "line_items[0][price_data][currency]"):
            if not form.get(required):
                return _error(400, f"Missing required param: {required}.", required)
        try:
            unit = int(form.get("line_items[0][price_data][unit_amount]", ""))
            quantity = int(form.get("line_items[0][quantity]", "1"))
        except ValueError:
            return _error(400, "Invalid integer: unit_amount", "line_items[0][price_data][unit_amount]")
        currency = form["line_items[0][price_data][currency]"].lower()
        if unit <= 0 or quantity <= 0:
            return _error(400, "This value must be greater than or equal to 1.", "unit_amount")
        if currency == "isk" and unit % 100:
            return _error(400, "ISK amounts must be whole krónur (divisible by 100).", "unit_amount")
        session_id = "cs_test_" + secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")
        base = str(request.base_url).rstrip("/")
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[") and k.endswith("]")}
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": unit * quantity,
            "currency": currency,
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "locale": form.get("locale"),
            "description": form.get("line_items[0][price_data][product_data][name]", ""),
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "url": f"{base}/pay/{session_id}",
            "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600,
            "payment_intent": None,
        }
        sessions[session_id] = session
        if key:
            replays[key] = session
        record("sessions", session)
        return JSONResponse(session)

    @app.get("/v1/checkout/sessions/{session_id}")
    async def get_session(session_id: str, request: Request) -> Response:
        if not authorised(request):
            return _error(401, "Invalid API Key provided", kind="authentication_error")
        session = sessions.get(session_id)
        if session is None:
            return _error(404, f"No such checkout.session: '{session_id}'", "id")
        return JSONResponse(session)

    @app.get("/pay/{session_id}")
    async def hosted_page(session_id: str) -> Response:
        session = sessions.get(session_id)
        if session is None or session["status"] != "open":
            return HTMLResponse(_page("Payment not available", "<p>This payment link is not open.</p>"), 404)
        return HTMLResponse(_form(session))

    @app.post("/pay/{session_id}")
    async def pay(session_id: str, request: Request) -> Response:
        session = sessions.get(session_id)
        if session is None or session["status"] != "open":
            return HTMLResponse(_page("Payment not available", "<p>This payment link is not open.</p>"), 404)
        form = {k: str(v) for k, v in (await request.form()).items()}
        number = "".join(ch for ch in form.get("number", "") if ch.isdigit())
        if number == DECLINED:
            return HTMLResponse(_form(session, "Your card was declined."), 402)
        if number != PAYS:
            return HTMLResponse(_form(session, "Your card number is invalid."), 422)
        session.update(status="complete", payment_status="paid", payment_intent="pi_test_" + secrets.token_hex(12))
        await deliver(session)
        return RedirectResponse(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id), 303)

    async def deliver(session: dict[str, Any]) -> None:
        """`checkout.session.completed`, signed, with a few retries as the provider would."""
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": dict(session)},
        }
        webhooks.append(event)
        record("webhooks", event)
        if not webhook_url or not webhook_secret:
            return
        payload = json.dumps(event).encode()
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(5):
                headers = {
                    "Content-Type": "application/json",
                    "Stripe-Signature": signature(payload, webhook_secret, int(time.time())),
                }
                try:
                    response = await client.post(webhook_url, content=payload, headers=headers)
                    if response.status_code < 300:
                        return
                    log.warning("webhook answered %s", response.status_code)
                except httpx.HTTPError as exc:
                    log.warning("webhook failed: %r", exc)
                await asyncio.sleep(0.2 * 2**attempt)

    return app


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} – Test PSP</title><style>"
        "body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}"
        "main{max-width:26rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:12px;"
        "box-shadow:0 2px 8px rgba(0,0,0,.1)}label{display:block;font-weight:600;margin-top:1rem}"
        "input{width:100%;box-sizing:border-box;font:inherit;padding:.6rem;border:1px solid #6b7385;border-radius:6px}"
        "button{margin-top:1.2rem;width:100%;font:inherit;font-weight:700;padding:.8rem;border:0;border-radius:6px;"
        "background:#4b3fd0;color:#fff}.err{color:#b3093c;font-weight:600}.amount{font-size:1.6rem;font-weight:700}"
        "</style></head><body><main>" + body + "</main></body></html>"
    )


def _form(session: dict[str, Any], error: str | None = None) -> str:
    amount = _display(session["amount_total"], session["currency"])
    err = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    return _page(
        "Pay",
        f"<h1>Pay {html.escape(amount)}</h1><p>{html.escape(session['description'])}</p>{err}"
        f'<form method="post" action="/pay/{session["id"]}">'
        '<label for="number">Card number</label><input id="number" name="number" inputmode="numeric" '
        'autocomplete="cc-number" required>'
        '<label for="expiry">Expiry (MM/YY)</label><input id="expiry" name="expiry" autocomplete="cc-exp" required>'
        '<label for="cvc">CVC</label><input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" required>'
        '<label for="name">Name on card</label><input id="name" name="name" autocomplete="cc-name">'
        f'<button type="submit">Pay {html.escape(amount)}</button></form>'
        f'<p><a href="{html.escape(session["cancel_url"])}">Cancel and go back</a></p>',
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m krafa.sinks.psp_sink", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-key", default=os.environ.get("KRAFA_PSP_SECRET_KEY", "sk_test_krafa"))
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=os.environ.get("KRAFA_PSP_WEBHOOK_SECRET"))
    parser.add_argument("--spool", type=Path, default=None)
    parser.add_argument("--log-level", default=os.environ.get("KRAFA_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    app = create_app(
        secret_key=args.secret_key, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret, spool=args.spool
    )
    return serve(app, args.host, args.port, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
