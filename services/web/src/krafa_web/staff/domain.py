"""Rules of the staff side that need no I/O: roles and what each may do, passwords and TOTP,
the lockout, which call script an agent reads, the dates a call outcome may carry, and whom a
creditor's single sign-on signs in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import urlsplit
from uuid import UUID

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["viewer", "clerk", "admin", "agent", "operator"]
CREDITOR_ROLES: Final = ("viewer", "clerk", "admin")
AGENCY_ROLES: Final = ("agent", "operator")
ROLES: Final = CREDITOR_ROLES + AGENCY_ROLES
# The scopes a role's requests carry to claims-api (the web acts with the user's rights only).
SCOPES: Final[dict[str, tuple[str, ...]]] = {
    "viewer": ("read",),
    "clerk": ("read", "claims:write", "contacts:write"),
    "admin": ("read", "claims:write", "contacts:write"),
}
ISSUER: Final = "Krafa"
MIN_PASSWORD: Final = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: UUID
    creditor_id: UUID | None
    email: str
    name: str
    role: Role
    departments: tuple[str, ...] = ()
    serves: tuple[UUID, ...] = ()
    # The language the user chose for the staff pages (None: the browser's).
    language: str | None = None

    @property
    def is_creditor_staff(self) -> bool:
        return self.role in CREDITOR_ROLES

    @property
    def can_act(self) -> bool:
        """Change a claim: a viewer only looks."""
        return self.role in ("clerk", "admin")

    @property
    def can_manage_users(self) -> bool:
        return self.role == "admin"

    @property
    def is_agent(self) -> bool:
        return self.role == "agent"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def scopes(self) -> tuple[str, ...]:
        return SCOPES.get(self.role, ())

    def serves_creditor(self, creditor_id: UUID | str) -> bool:
        """An agent sees only the cases of the creditors whose queues they serve."""
        return self.is_agent and UUID(str(creditor_id)) in self.serves

    def home(self) -> str:
        if self.is_agent:
            return "/agent"
        if self.is_operator:
            return "/ops"
        return "/creditor"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused (length over composition rules, as NIST SP 800-63B asks)."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    local = email.split("@")[0].lower()
    if password.lower() == email.lower() or (len(local) >= 3 and local in password.lower()):
        return "not your email address"
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def totp_step(secret: str, code: str, at: datetime, last_step: int) -> int | None:
    """The 30-second step a code belongs to (this one or either neighbour, for clock drift), or
    None. A step at or before `last_step` was used already: a code works once."""
    cleaned = "".join(ch for ch in code if ch.isdigit())
    if len(cleaned) != 6:
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = datetime.fromtimestamp(at.timestamp() + offset * totp.interval, tz=at.tzinfo)
        if totp.verify(cleaned, for_time=moment, valid_window=0):
            step = totp.timecode(moment)
            return step if step > last_step else None
    return None


def locked_out(recent_failures: int, allowed: int) -> bool:
    return recent_failures >= allowed


Script = Literal["first", "firm"]


def call_script(previous_calls: int) -> Script:
    """The first call of a claim is a friendly reminder that does not mention fees; every later
    one is firmer about what follows when the claim stays unpaid."""
    return "first" if previous_calls == 0 else "firm"


def call_priority(*, promise_broken: bool, balance_minor: int, overdue_days: int) -> tuple[int, int, int]:
    """Who is called first: a debtor who broke a promise made on the phone, then the larger amount
    owed (by the thousand, so near-equal amounts fall back to age), then the older debt. Higher
    sorts first."""
    return (1 if promise_broken else 0, balance_minor // 1000, overdue_days)


# -- single sign-on with a creditor's own OpenID Connect provider ---------------------------------

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def email_domain(email: str) -> str:
    return email.strip().rpartition("@")[2].lower()


def sso_domains(text: str) -> tuple[str, ...]:
    """The email domains typed on the settings page (commas, spaces or lines between them),
    lower-cased and deduplicated in their order; ValueError names the first that is not one."""
    found: list[str] = []
    for part in re.split(r"[\s,;]+", text.strip().lower()):
        name = part.lstrip("@").rstrip(".")
        if not name:
            continue
        if not _DOMAIN.match(name):
            raise ValueError(part)
        if name not in found:
            found.append(name)
    return tuple(found)


def issuer_problem(issuer: str) -> str | None:
    """Why an issuer URL is refused: OpenID Connect asks for https (plain http only on this
    machine's loopback, where the test provider runs), no query or fragment."""
    parts = urlsplit(issuer.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an https:// URL"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return "https (plain http only for a provider on this machine)"
    if parts.query or parts.fragment:
        return "no query or fragment"
    return None


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    """Who the creditor's provider says signed in, from the verified ID token."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None

    @classmethod
    def of(cls, issuer: str, claims: Mapping[str, object]) -> SsoIdentity:
        email = claims.get("email") or claims.get("preferred_username") or claims.get("upn")
        verified = claims.get("email_verified")
        return cls(
            issuer=issuer,
            subject=str(claims.get("sub") or ""),
            email=str(email).strip() if isinstance(email, str) and "@" in email else None,
            email_verified=verified if isinstance(verified, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class SsoCandidate:
    """An active user of the creditor, as single sign-on sees them."""

    id: UUID
    email: str
    sso_issuer: str | None
    sso_subject: str | None


SsoRefusal = Literal["no_subject", "email_unverified", "unknown_user", "bound_elsewhere"]


def sso_match(candidates: Sequence[SsoCandidate], who: SsoIdentity) -> SsoCandidate | SsoRefusal:
    """The creditor's user an identity signs in as. The subject a user signed in with before
    decides; otherwise the email address, if the provider did not say it is unverified, names a
    user not yet bound to another subject (binding happens on this first sign-in). A person the
    creditor has not added is refused: single sign-on never creates users."""
    if not who.subject:
        return "no_subject"
    for user in candidates:
        if (user.sso_issuer, user.sso_subject) == (who.issuer, who.subject):
            return user
    if who.email is None:
        return "unknown_user"
    if who.email_verified is False:
        return "email_unverified"
    for user in candidates:
        if user.email.lower() == who.email.lower():
            if user.sso_subject is not None:
                return "bound_elsewhere"
            return user
    return "unknown_user"
