"""SMS: segment counting, the provider adapters (a generic JSON API and Twilio's), and the
signatures their delivery receipts carry.

Carriers bill per segment. A text that fits the GSM 03.38 7-bit alphabet (basic table, plus the
extension table whose characters take two septets: an ESC and the character) is 160 septets in
one segment, 153 per segment once concatenated (the UDH takes 7). Anything else goes as UCS-2:
70 UTF-16 code units, 67 per concatenated segment. Icelandic þ, ð, á and Estonian õ are not in
GSM 03.38, so most Icelandic reminders are UCS-2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import httpx

from krafa_notifier.channels import PermanentSendError, TransientSendError

# GSM 03.38 basic character set (the 128 septets; 0x1B is the escape to the extension table).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets.
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def count_segments(text: str) -> SegmentCount:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
        encoding: Encoding = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2  # an emoji is a surrogate pair: two units
        single, multi = 70, 67
        encoding = "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return SegmentCount(encoding, units, segments)


@dataclass(frozen=True, slots=True)
class SmsAccepted:
    provider_ref: str
    segments: int
    cost_minor: int | None
    cost_currency: str | None


class SmsProvider(Protocol):
    name: str

    async def send(
        self, *, to: str, text: str, client_ref: str, callback_url: str | None, sender: str | None = None
    ) -> SmsAccepted:
        """`sender`: the creditor's own sender id; None sends as the provider's configured one."""
        ...

    async def close(self) -> None: ...


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientSendError(f"{what} answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentSendError(f"{what} refused the message ({response.status_code})")


class GenericJsonSms:
    """`POST {base}/sms/messages` with `{"to", "from", "text", "client_ref", "callback_url"}`;
    the answer carries the provider's id, segments and price. The client reference is the
    delivery id, so a retried send is accepted once."""

    name = "generic"

    def __init__(self, base_url: str, *, sender: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.sender = sender
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def send(
        self, *, to: str, text: str, client_ref: str, callback_url: str | None, sender: str | None = None
    ) -> SmsAccepted:
        body: dict[str, str] = {"to": to, "from": sender or self.sender, "text": text, "client_ref": client_ref}
        if callback_url:
            body["callback_url"] = callback_url
        try:
            response = await self.client.post("/sms/messages", json=body)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"SMS provider unreachable: {type(exc).__name__}") from exc
        _raise_for(response, "SMS provider")
        data = response.json()
        price = data.get("price_minor")
        return SmsAccepted(
            provider_ref=str(data["id"]),
            segments=int(data.get("segments") or count_segments(text).segments),
            cost_minor=int(price) if price is not None else None,
            cost_currency=data.get("currency"),
        )

    async def close(self) -> None:
        await self.client.aclose()


class TwilioSms:
    """Twilio's Messages API: a form POST to /2010-04-01/Accounts/{sid}/Messages.json with basic
    auth (account SID, auth token). Twilio prices a message only after sending, so the cost is
    our configured price per segment times the segments Twilio reports."""

    name = "twilio"

    def __init__(
        self,
        base_url: str,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        price_per_segment_minor: int,
        currency: str,
        timeout: float = 30.0,
    ) -> None:
        self.account_sid, self.sender = account_sid, sender
        self.price, self.currency = price_per_segment_minor, currency
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, auth=(account_sid, auth_token))

    async def send(
        self, *, to: str, text: str, client_ref: str, callback_url: str | None, sender: str | None = None
    ) -> SmsAccepted:
        form = {"To": to, "From": sender or self.sender, "Body": text}
        if callback_url:
            form["StatusCallback"] = callback_url
        try:
            response = await self.client.post(f"/2010-04-01/Accounts/{self.account_sid}/Messages.json", data=form)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        _raise_for(response, "Twilio")
        data = response.json()
        segments = int(data.get("num_segments") or count_segments(text).segments)
        return SmsAccepted(
            provider_ref=str(data["sid"]),
            segments=segments,
            cost_minor=segments * self.price,
            cost_currency=self.currency,
        )

    async def close(self) -> None:
        await self.client.aclose()


# -- delivery receipts ----------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the full URL followed by every POST parameter's
    name and value, sorted by name (twilio.com/docs/usage/security)."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def generic_signature(secret: str, body: bytes) -> str:
    """X-Krafa-Signature of the generic provider: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(expected: str, received: str | None) -> bool:
    return received is not None and hmac.compare_digest(expected.encode(), received.encode())


@dataclass(frozen=True, slots=True)
class Receipt:
    provider_ref: str
    outcome: Literal["delivered", "failed", "pending"]
    reason: str | None = None


_TWILIO_FINAL: Final[Mapping[str, Literal["delivered", "failed"]]] = {
    "delivered": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


def parse_twilio_receipt(params: Mapping[str, str]) -> Receipt:
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        raise ValueError("no MessageSid")
    code = params.get("ErrorCode")
    return Receipt(sid, _TWILIO_FINAL.get(status, "pending"), f"Twilio error {code}" if code else status or None)


def parse_generic_receipt(data: Mapping[str, object]) -> Receipt:
    ref = data.get("id")
    status = data.get("status")
    if not isinstance(ref, str) or not ref:
        raise ValueError("no message id")
    outcome: Literal["delivered", "failed", "pending"] = (
        "delivered" if status == "delivered" else "failed" if status in {"failed", "undeliverable"} else "pending"
    )
    error = data.get("error")
    return Receipt(ref, outcome, str(error) if error else None)
