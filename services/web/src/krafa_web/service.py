"""Use cases of the web: personal links learnt from ReminderSent, logins (one-time code to a
contact point the creditor gave, or e-ID), sessions, and verifying a new email or phone before
it is handed to claims-api. Each changes the web's own tables in one transaction."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from krafa_events import ReminderSent
from krafa_events import portal_link as links
from krafa_kit.clock import Clock, WallClock
from krafa_kit.db import Database, UnitOfWork

from krafa_web import domain, repository
from krafa_web.clients import Clients, ServiceError
from krafa_web.domain import Principal
from krafa_web.settings import Settings

log = logging.getLogger(__name__)

CREDITOR_GIVEN = "creditor_upload"
LinkState = Literal["ok", "unknown", "expired", "used", "locked"]
LINK_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class ContactOption:
    id: str
    kind: str
    masked: str


@dataclass(frozen=True, slots=True)
class LinkView:
    state: LinkState
    creditor_name: str = ""
    language: str | None = None
    options: tuple[ContactOption, ...] = ()


@dataclass(frozen=True, slots=True)
class Session:
    id: UUID
    csrf: str
    principals: tuple[Principal, ...]
    via: str


@dataclass(frozen=True, slots=True)
class Challenge:
    id: UUID
    csrf: str
    destination: str
    channel: str
    attempts_left: int
    principal: Principal | None


class LoginRefused(Exception):
    """Why a login step was refused, as a key the page explains in the debtor's language."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Portal:
    def __init__(
        self, db: Database, clock: Clock, clients: Clients, settings: Settings, people: Clock | None = None
    ) -> None:
        # `clock` is the service's (simulated in demos): claims' dates and the links' expiry follow
        # it, as the reminders were sent on it. `people` is the time a person acts in — codes,
        # sessions and lockouts last real minutes even while a demo runs days in seconds.
        self.db, self.clock, self.clients, self.settings = db, clock, clients, settings
        self.people = people or WallClock()
        self.secret = settings.portal_link_secret.get_secret_value().encode()

    # -- links -----------------------------------------------------------------------------------
    async def record_link(self, uow: UnitOfWork, event: ReminderSent) -> None:
        """Every reminder's personal link (the same code the notifier printed in it)."""
        code = links.code(event.delivery_id, self.secret)
        await repository.record_link(
            uow.conn,
            code_hash=links.digest(code),
            delivery_id=event.delivery_id,
            creditor_id=event.creditor_id,
            debtor_id=event.debtor_id,
            claim_ids=list(event.claim_ids),
            channel=event.channel.value,
            sent_at=event.sent_at,
            expires_at=event.sent_at + timedelta(days=self.settings.portal_link_ttl_days),
        )

    async def _link(self, code: str) -> tuple[LinkState, Any]:
        if not links.well_formed(code):
            return "unknown", None
        row = await self._learnt_link(links.digest(code))
        if row is None:
            return "unknown", None
        async with self.db.connection() as conn:
            if row["used_at"] is not None:
                return "used", row
            if row["expires_at"] <= self.clock.now():
                return "expired", row
            if await self._locked(conn, Principal(row["creditor_id"], row["debtor_id"])):
                return "locked", row
        return "ok", row

    async def _learnt_link(self, code_hash: bytes) -> Any:
        """The link's row, waiting a few seconds for one not learnt yet: the message reaches the
        debtor (an SMS in a second) by another path than the ReminderSent that teaches us its link,
        and a debtor who taps at once must not be told the link is unusable."""
        deadline = time.monotonic() + self.settings.link_grace_seconds
        while True:
            async with self.db.connection() as conn:
                row = await repository.get_link(conn, code_hash)
            if row is not None or time.monotonic() >= deadline:
                return row
            await asyncio.sleep(LINK_POLL_S)

    async def _locked(self, conn: Any, principal: Principal) -> bool:
        since = self.people.now() - timedelta(minutes=self.settings.lockout_minutes)
        failures = await repository.recent_failures(conn, principal.creditor_id, principal.debtor_id, since)
        return domain.locked_out(failures, self.settings.lockout_failures)

    async def open_link(self, code: str) -> LinkView:
        """What the link's page may say before anyone has proved who they are: the creditor's
        name and the masked contact points a code can go to — never the debtor's name."""
        state, row = await self._link(code)
        if state != "ok":
            return LinkView(state)
        principal = Principal(row["creditor_id"], row["debtor_id"])
        record = await self.clients.debtor(principal)
        return LinkView(
            "ok",
            creditor_name=record["creditor"]["name"],
            language=record["debtor"]["language"],
            options=tuple(contact_options(record["debtor"])),
        )

    async def send_login_code(self, code: str, contact_id: str) -> tuple[str, Challenge]:
        """A one-time code to the chosen creditor-given contact point; returns the cookie token
        of the challenge. The link stays unspent until a session starts with it."""
        state, row = await self._link(code)
        if state != "ok":
            raise LoginRefused(state)
        principal = Principal(row["creditor_id"], row["debtor_id"])
        record = await self.clients.debtor(principal)
        contact = next(
            (cp for cp in creditor_given(record["debtor"]) if cp["id"] == contact_id),
            None,
        )
        if contact is None:
            raise LoginRefused("no_contact")
        now = self.people.now()
        challenge_id = uuid.uuid4()
        token = domain.new_secret()
        one_time = domain.new_code()
        await self.clients.send_code(
            {
                "channel": "email" if contact["kind"] == "email" else "sms",
                "recipient": contact["value"],
                "code": one_time,
                "purpose": "login",
                "language": record["debtor"]["language"],
                "creditor_name": record["creditor"]["name"],
                "valid_minutes": self.settings.code_ttl_minutes,
                "country": record["debtor"]["country"],
            }
        )
        destination = domain.mask(contact["kind"], contact["value"])
        csrf = domain.new_secret()
        async with self.db.uow() as uow:
            await repository.create_challenge(
                uow.conn,
                {
                    "id": challenge_id,
                    "token_hash": domain.digest(token),
                    "csrf": csrf,
                    "link_hash": row["code_hash"],
                    "creditor_id": principal.creditor_id,
                    "debtor_id": principal.debtor_id,
                    "method": "code",
                    "channel": contact["kind"],
                    "destination": destination,
                    "code_hash": domain.code_digest(challenge_id, one_time),
                    "created_at": now,
                    "expires_at": now + timedelta(minutes=self.settings.code_ttl_minutes),
                },
            )
            await repository.audit(uow.conn, now, "code_sent", principal, f"{contact['kind']} {destination}")
            await uow.commit()
        return token, Challenge(
            challenge_id, csrf, destination, contact["kind"], self.settings.code_attempts, principal
        )

    async def challenge(self, token: str | None) -> Challenge | None:
        if not token:
            return None
        async with self.db.connection() as conn:
            row = await repository.challenge_by_token(conn, domain.digest(token))
        if row is None or row["finished_at"] is not None or row["expires_at"] <= self.people.now():
            return None
        principal = Principal(row["creditor_id"], row["debtor_id"]) if row["creditor_id"] else None
        return Challenge(
            row["id"],
            row["csrf"],
            row["destination"] or "",
            row["channel"] or "",
            self.settings.code_attempts - row["attempts"],
            principal,
        )

    async def verify_login_code(self, token: str, code: str) -> str:
        """The session token when the code is right; LoginRefused otherwise. Wrong codes count
        against the challenge and against the debtor (the lockout)."""
        now = self.people.now()
        async with self.db.uow() as uow:
            row = await repository.challenge_by_token(uow.conn, domain.digest(token), lock=True)
            if row is None or row["finished_at"] is not None or row["method"] != "code":
                raise LoginRefused("no_challenge")
            principal = Principal(row["creditor_id"], row["debtor_id"])
            if row["expires_at"] <= now:
                raise LoginRefused("code_expired")
            if await self._locked(uow.conn, principal):
                await repository.finish_challenge(uow.conn, row["id"], "locked", now)
                await uow.commit()
                raise LoginRefused("locked")
            if not domain.code_matches(row["id"], code, row["code_hash"]):
                attempts = await repository.count_attempt(uow.conn, row["id"])
                await repository.add_failure(uow.conn, principal.creditor_id, principal.debtor_id, now)
                await repository.audit(uow.conn, now, "wrong_code", principal)
                reason = "wrong_code"
                if attempts >= self.settings.code_attempts or await self._locked(uow.conn, principal):
                    await repository.finish_challenge(uow.conn, row["id"], "too_many", now)
                    reason = "locked" if await self._locked(uow.conn, principal) else "too_many"
                await uow.commit()
                raise LoginRefused(reason)
            if row["link_hash"] is not None and not await repository.spend_link(uow.conn, row["link_hash"], now):
                await repository.finish_challenge(uow.conn, row["id"], "link_used", now)
                await uow.commit()
                raise LoginRefused("used")
            await repository.finish_challenge(uow.conn, row["id"], "ok", now)
            session_token = await self._start_session(uow, [principal], "link+code", now)
            await uow.commit()
        return session_token

    async def _start_session(self, uow: UnitOfWork, principals: list[Principal], via: str, now: datetime) -> str:
        token = domain.new_secret()
        await repository.create_session(
            uow.conn,
            session_id=uuid.uuid4(),
            token_hash=domain.digest(token),
            csrf=domain.new_secret(),
            principals=principals,
            via=via,
            now=now,
        )
        for principal in principals:
            await repository.audit(uow.conn, now, "login", principal, via)
        return token

    # -- sessions --------------------------------------------------------------------------------
    async def session(self, token: str | None) -> Session | None:
        """The live session of a cookie, its idle time renewed; None when missing or over."""
        if not token:
            return None
        now = self.people.now()
        async with self.db.connection() as conn:
            row = await repository.session_by_token(conn, domain.digest(token))
            if row is None:
                return None
            times = domain.SessionTimes(row["created_at"], row["last_seen_at"])
            if not domain.session_alive(
                times,
                now,
                idle=timedelta(minutes=self.settings.session_idle_minutes),
                absolute=timedelta(minutes=self.settings.session_max_minutes),
            ):
                await repository.end_session(conn, row["id"], now)
                return None
            await repository.touch_session(conn, row["id"], now)
        return Session(row["id"], row["csrf"], tuple(repository.principals_of(row)), row["via"])

    async def logout(self, session: Session) -> None:
        now = self.people.now()
        async with self.db.uow() as uow:
            await repository.end_session(uow.conn, session.id, now)
            for principal in session.principals:
                await repository.audit(uow.conn, now, "logout", principal)
            await uow.commit()

    # -- e-ID --------------------------------------------------------------------------------------
    async def start_oidc(
        self, *, link_code: str | None, state: str, nonce: str, verifier: str
    ) -> tuple[str, Principal | None]:
        """A challenge for an e-ID login, from a link (the national id must then match that
        debtor's) or without one (every creditor's record of that person)."""
        principal: Principal | None = None
        link_hash: bytes | None = None
        if link_code is not None:
            link_state, row = await self._link(link_code)
            if link_state != "ok":
                raise LoginRefused(link_state)
            principal = Principal(row["creditor_id"], row["debtor_id"])
            link_hash = row["code_hash"]
        now = self.people.now()
        token = domain.new_secret()
        async with self.db.uow() as uow:
            await repository.create_challenge(
                uow.conn,
                {
                    "id": uuid.uuid4(),
                    "token_hash": domain.digest(token),
                    "csrf": domain.new_secret(),
                    "link_hash": link_hash,
                    "creditor_id": principal.creditor_id if principal else None,
                    "debtor_id": principal.debtor_id if principal else None,
                    "method": "oidc",
                    "oidc_state": state,
                    "oidc_nonce": nonce,
                    "oidc_verifier": verifier,
                    "created_at": now,
                    "expires_at": now + timedelta(minutes=self.settings.code_ttl_minutes),
                },
            )
            await uow.commit()
        return token, principal

    async def oidc_challenge(self, token: str | None, state: str) -> dict[str, Any] | None:
        if not token:
            return None
        async with self.db.connection() as conn:
            row = await repository.challenge_by_token(conn, domain.digest(token))
        if row is None or row["oidc_state"] != state or row["finished_at"] is not None:
            return None
        if row["expires_at"] <= self.people.now():
            return None
        return dict(row)

    async def finish_oidc(self, challenge: dict[str, Any], national_id: str) -> str:
        """A session for the person the provider vouched for: the link's debtor (whose national id
        must be this one), or every creditor's record of the id."""
        now = self.people.now()
        matches = await self.clients.identities(national_id)
        found = [Principal(UUID(m["creditor_id"]), UUID(m["debtor_id"])) for m in matches]
        async with self.db.uow() as uow:
            if challenge["creditor_id"] is not None:
                wanted = Principal(challenge["creditor_id"], challenge["debtor_id"])
                if wanted not in found:
                    await repository.finish_challenge(uow.conn, challenge["id"], "other_person", now)
                    await repository.audit(uow.conn, now, "eid_mismatch", wanted)
                    await uow.commit()
                    raise LoginRefused("eid_mismatch")
                if challenge["link_hash"] is not None and not await repository.spend_link(
                    uow.conn, challenge["link_hash"], now
                ):
                    await uow.commit()
                    raise LoginRefused("used")
                found = [wanted, *[p for p in found if p != wanted]]
            if not found:
                await repository.finish_challenge(uow.conn, challenge["id"], "no_claims", now)
                await uow.commit()
                raise LoginRefused("no_claims")
            await repository.finish_challenge(uow.conn, challenge["id"], "ok", now)
            token = await self._start_session(uow, found, "eid", now)
            await uow.commit()
        return token

    # -- a new email or phone, verified before use ---------------------------------------------------
    async def start_verification(
        self, session: Session, principal: Principal, kind: str, value: str, record: dict[str, Any]
    ) -> str:
        now = self.people.now()
        verification_id = uuid.uuid4()
        one_time = domain.new_code()
        await self.clients.send_code(
            {
                "channel": "email" if kind == "email" else "sms",
                "recipient": value,
                "code": one_time,
                "purpose": "verify",
                "language": record["debtor"]["language"],
                "creditor_name": record["creditor"]["name"],
                "valid_minutes": self.settings.code_ttl_minutes,
                "country": record["debtor"]["country"],
            }
        )
        async with self.db.uow() as uow:
            await repository.create_verification(
                uow.conn,
                {
                    "id": verification_id,
                    "session_id": session.id,
                    "creditor_id": principal.creditor_id,
                    "debtor_id": principal.debtor_id,
                    "kind": kind,
                    "value": value,
                    "code_hash": domain.code_digest(verification_id, one_time),
                    "created_at": now,
                    "expires_at": now + timedelta(minutes=self.settings.code_ttl_minutes),
                },
            )
            await uow.commit()
        return domain.mask(kind, value)

    async def pending_verification(self, session: Session) -> dict[str, Any] | None:
        async with self.db.uow() as uow:
            row = await repository.open_verification(uow.conn, session.id, self.people.now())
            await uow.commit()
        return dict(row) if row else None

    async def finish_verification(self, session: Session, code: str, terms_version: str) -> dict[str, Any]:
        """The verified address to claims-api (debtor's own, consent recorded); LoginRefused for
        a wrong or expired code."""
        now = self.people.now()
        async with self.db.uow() as uow:
            row = await repository.open_verification(uow.conn, session.id, now)
            if row is None:
                raise LoginRefused("code_expired")
            principal = Principal(row["creditor_id"], row["debtor_id"])
            if not domain.code_matches(row["id"], code, row["code_hash"]):
                attempts = await repository.count_verification_attempt(uow.conn, row["id"])
                if attempts >= self.settings.code_attempts:
                    await repository.finish_verification(uow.conn, row["id"], now)
                await uow.commit()
                raise LoginRefused("wrong_code" if attempts < self.settings.code_attempts else "too_many")
            try:
                await self.clients.add_contact(
                    principal,
                    {
                        "kind": row["kind"],
                        "value": row["value"],
                        "consent_source": "debtor portal: verified by a one-time code",
                        "terms_version": terms_version,
                    },
                )
            except ServiceError as exc:
                raise LoginRefused("invalid_contact") from exc
            await repository.finish_verification(uow.conn, row["id"], now)
            await repository.audit(uow.conn, now, "contact_verified", principal, row["kind"])
            await uow.commit()
        return dict(row)

    async def audit_for(self, principal: Principal) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(r) for r in await repository.audit_for(conn, principal)]


def creditor_given(debtor: dict[str, Any]) -> list[dict[str, Any]]:
    """The contact points the creditor gave (never one the debtor added here): where a login
    code may go."""
    return [
        cp
        for cp in debtor.get("contact_points", [])
        if cp["origin"] == CREDITOR_GIVEN and cp["state"] == "active" and cp["kind"] in ("email", "phone")
    ]


def contact_options(debtor: dict[str, Any]) -> list[ContactOption]:
    return [
        ContactOption(str(cp["id"]), cp["kind"], domain.mask(cp["kind"], cp["value"])) for cp in creditor_given(debtor)
    ]
