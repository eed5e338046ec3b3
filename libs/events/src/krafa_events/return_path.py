"""The VERP return path of a reminder email: the contract between the notifier, which sends
with it as the SMTP envelope sender, and the bounce-handler, which receives the DSN at it.

`bounce+<delivery token>.<signature>@<return domain>`: the token is the delivery id (base32,
lower case), the signature an HMAC-SHA256 over it with a secret both services share, truncated
to 80 bits. A forged or altered bounce address fails the check, so nobody can mark an arbitrary
delivery as bounced by mailing us.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

LOCAL_PREFIX = "bounce+"
SIGNATURE_CHARS = 16  # 80 bits of base32


class InvalidReturnPath(ValueError):
    pass


def _sign(token: str, secret: bytes) -> str:
    digest = hmac.new(secret, token.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:SIGNATURE_CHARS]


def encode(delivery_id: uuid.UUID, domain: str, secret: bytes) -> str:
    token = base64.b32encode(delivery_id.bytes).decode().lower().rstrip("=")
    return f"{LOCAL_PREFIX}{token}.{_sign(token, secret)}@{domain}"


def decode(address: str, secret: bytes) -> uuid.UUID:
    """The delivery id of a return path, or InvalidReturnPath if it is not one of ours."""
    local, _, _domain = address.strip().strip("<>").rpartition("@")
    if not local.lower().startswith(LOCAL_PREFIX):
        raise InvalidReturnPath("not a Krafa return path")
    token, _, signature = local[len(LOCAL_PREFIX) :].lower().partition(".")
    if not token or not signature or not hmac.compare_digest(signature, _sign(token, secret)):
        raise InvalidReturnPath("bad signature")
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError) as exc:
        raise InvalidReturnPath("malformed token") from exc
