"""Card payments through a payment-service provider, in Stripe Checkout's API shape: a hosted
checkout session created with the secret key (`POST /v1/checkout/sessions`, form-encoded), the
debtor pays on the provider's page, and the provider posts `checkout.session.completed` to our
webhook signed in `Stripe-Signature` (`t=<unix>,v1=<HMAC-SHA256(secret, "t.body")>`). The
completed session becomes a payment notification exactly like a bank's real-time notification
(service.import_notifications), so a card payment is a PaymentReceived like any other.

Amounts: the provider counts in its own minor units, which are not always ISO 4217's: ISK, which
ISO 4217 gives no decimals, is a two-decimal currency there (whole krónur × 100); its zero-decimal
currencies (JPY, KRW, …) are sent as is; its three-decimal ones (BHD, JOD, KWD, OMR, TND) are sent
in thousandths but only in whole tens; every other currency counts two decimals there (so IQD,
three in ISO 4217, goes in hundredths). Conversions are integer-exact or refused (NotChargeable):
an amount the provider cannot take to the last minor unit is never rounded."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from krafa_events.currencies import minor_units

# The provider's zero-decimal and three-decimal currencies; every other counts two decimals there.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
TOLERANCE_S = 300  # the provider's own default for a webhook's age


class PspError(Exception):
    pass


class NotChargeable(ValueError):
    """An amount the provider cannot charge exactly (a fraction finer than its minor unit)."""


class BadSignature(Exception):
    pass


def provider_decimals(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def provider_amount(minor: int, currency: str) -> int:
    """Our integer minor units (ISO 4217 precision) to the provider's, exactly or NotChargeable."""
    code = currency.upper()
    ours, theirs = minor_units(code), provider_decimals(code)
    scale: int = 10 ** abs(theirs - ours)
    if theirs >= ours:
        amount = minor * scale
    else:
        amount, rest = divmod(minor, scale)
        if rest:
            raise NotChargeable(f"a card payment in {code} cannot carry the last {ours - theirs} decimal(s)")
    if code in THREE_DECIMAL and amount % 10:
        # The provider's partners take three-decimal currencies in whole tens only.
        raise NotChargeable(f"a card payment in {code} is charged in whole tens of the minor unit")
    return amount


def from_provider_amount(amount: object, currency: str) -> int:
    """The provider's amount in our integer minor units; PspError if it is no whole number of them."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise PspError(f"the provider's amount {amount!r} is not an integer")
    code = currency.upper()
    ours, theirs = minor_units(code), provider_decimals(code)
    scale: int = 10 ** abs(theirs - ours)
    if theirs <= ours:
        return amount * scale
    minor, rest = divmod(amount, scale)
    if rest:
        raise PspError(f"{amount} is not a whole number of {code} minor units")
    return minor


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    url: str


class CheckoutClient:
    def __init__(self, base_url: str, secret_key: str, *, timeout: float = 15.0) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {secret_key}"}
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def create(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
        reference: str,
        metadata: dict[str, str],
        locale: str,
        idempotency_key: str,
    ) -> Session:
        form = {
            "mode": "payment",
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": reference,
            "payment_method_types[0]": "card",
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": currency.lower(),
            "line_items[0][price_data][unit_amount]": str(provider_amount(amount_minor, currency)),
            "line_items[0][price_data][product_data][name]": description,
            "locale": locale,
            **{f"metadata[{k}]": v for k, v in metadata.items()},
            **{f"payment_intent_data[metadata][{k}]": v for k, v in metadata.items()},
        }
        try:
            response = await self.http.post(
                "/v1/checkout/sessions", data=form, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.HTTPError as exc:
            raise PspError(f"the provider is unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PspError(f"the provider answered {response.status_code}")
        body = response.json()
        return Session(body["id"], body["url"])


def verify(payload: bytes, header: str | None, secret: str, *, now: float | None = None) -> dict[str, Any]:
    """The webhook's event, if its signature is the provider's and it is recent; BadSignature
    otherwise. Every `v1` signature in the header is tried (the provider signs with each active
    secret while one is being rolled)."""
    if not header:
        raise BadSignature("no signature")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        raise BadSignature("a malformed signature header")
    stamp = int(stamps[0])
    if abs((now if now is not None else time.time()) - stamp) > TOLERANCE_S:
        raise BadSignature("the signature is too old")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise BadSignature("the signature does not match")
    try:
        # A fraction stays a Decimal (from_provider_amount refuses it), never a float cut to int.
        event: dict[str, Any] = json.loads(payload, parse_float=Decimal)
    except ValueError as exc:
        raise BadSignature("the body is not JSON") from exc
    return event


def sign(payload: bytes, secret: str, stamp: int) -> str:
    """The provider's signature header (for the sink that stands in for it, and for tests)."""
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"
