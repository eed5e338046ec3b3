"""Secrets the web must use again later (a creditor's OpenID Connect client secret) are kept
sealed: Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under keys from the
environment (KRAFA_STAFF_OIDC_KEYS), never in the clear in the database or its backups. The
first key seals; every key opens, so a key is rotated by putting the new one first and re-saving
the settings before the old one is dropped."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealError(Exception):
    pass


class Sealer:
    def __init__(self, keys: str) -> None:
        try:
            fernets = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        except ValueError as exc:
            raise SealError("a key is not 32 url-safe base64-encoded bytes (Fernet.generate_key())") from exc
        if not fernets:
            raise SealError("no key")
        self._fernet = MultiFernet(fernets)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise SealError("sealed under a key that is no longer configured") from exc
