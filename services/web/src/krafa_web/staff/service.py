"""Use cases of the staff side: users (created by an admin or the operator API, each with a TOTP
secret shown once), the two-step login (password, then a TOTP code), sessions, the audit of
every action, and the notes agents keep on a case. Sessions, codes and lockouts run on the people
clock (a session lasts real minutes even while a demo runs days in seconds); what staff did (the
audit, notes, handover decisions) is stamped on the services' clock, as the claims' own history is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_web import domain as portal_domain
from krafa_web.staff import domain, repository
from krafa_web.staff.domain import StaffUser


class StaffRefused(Exception):
    """A refused login step or action, as a key the page explains."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StaffSession:
    id: UUID
    csrf: str
    user: StaffUser
    verified: bool


@dataclass(frozen=True, slots=True)
class NewUser:
    id: UUID
    totp_secret: str
    provisioning_uri: str


def user_of(row: Any) -> StaffUser:
    return StaffUser(
        id=row["user_id"] if "user_id" in row else row["id"],
        creditor_id=row["creditor_id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        departments=tuple(row["departments"] or ()),
        serves=tuple(row["serves"] or ()),
        language=row.get("language"),
    )


class Staff:
    def __init__(
        self,
        db: Database,
        people: Clock,
        *,
        services: Clock | None = None,
        idle: timedelta,
        absolute: timedelta,
        lockout_failures: int,
        lockout: timedelta,
    ) -> None:
        # `people` times sessions, codes and lockouts in real minutes; `services` is the clock the
        # claims live on (simulated in demos and tests): what staff did is stamped on it, so the
        # audit reads in line with the claim timelines it sits beside.
        self.db, self.people, self.services = db, people, services or people
        self.idle, self.absolute = idle, absolute
        self.lockout_failures, self.lockout = lockout_failures, lockout

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[UnitOfWork]:
        """A transaction that commits when the block ends without an exception."""
        async with self.db.uow() as uow:
            yield uow
            await uow.commit()

    # -- users -----------------------------------------------------------------------------------
    async def add_user(
        self,
        *,
        creditor_id: UUID | None,
        email: str,
        name: str,
        role: str,
        password: str,
        departments: tuple[str, ...] = (),
        serves: tuple[UUID, ...] = (),
        by: StaffUser | None = None,
    ) -> NewUser:
        email = email.strip()
        if role not in domain.ROLES:
            raise StaffRefused("bad_role")
        if (creditor_id is None) != (role in domain.AGENCY_ROLES):
            raise StaffRefused("bad_role")
        if by is not None and not (by.can_manage_users and by.creditor_id == creditor_id):
            raise StaffRefused("forbidden")
        if "@" not in email or not name.strip():
            raise StaffRefused("bad_user")
        if domain.password_problem(password, email):
            raise StaffRefused("weak_password")
        secret = domain.new_totp_secret()
        user_id = uuid.uuid4()
        now = self.people.now()
        async with self._tx() as uow:
            if await repository.user_by_email(uow.conn, email) is not None:
                raise StaffRefused("email_taken")
            await repository.add_user(
                uow.conn,
                {
                    "id": user_id,
                    "creditor_id": creditor_id,
                    "email": email,
                    "name": name.strip(),
                    "role": role,
                    "departments": list(departments),
                    "serves": list(serves),
                    "password_hash": domain.hash_password(password),
                    "totp_secret": secret,
                    "created_at": now,
                    "created_by": by.id if by else None,
                },
            )
            await repository.audit(
                uow.conn,
                at=self.services.now(),
                recorded_at=now,
                creditor_id=creditor_id,
                user_id=by.id if by else None,
                email=by.email if by else "operator API",
                action="user.add",
                target=f"user:{email}",
                detail={"role": role, "departments": list(departments), "serves": [str(s) for s in serves]},
            )
        return NewUser(user_id, secret, domain.provisioning_uri(secret, email))

    async def users(self, creditor_id: UUID | None) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(r) for r in await repository.users_of(conn, creditor_id)]

    async def disable_user(self, by: StaffUser, user_id: UUID) -> None:
        async with self._tx() as uow:
            row = await repository.user_by_id(uow.conn, user_id, lock=True)
            if row is None or row["creditor_id"] != by.creditor_id or not by.can_manage_users or row["id"] == by.id:
                raise StaffRefused("forbidden")
            now = self.people.now()
            await repository.disable_user(uow.conn, user_id, now)
            await repository.audit(
                uow.conn,
                at=self.services.now(),
                recorded_at=now,
                creditor_id=by.creditor_id,
                user_id=by.id,
                email=by.email,
                action="user.disable",
                target=f"user:{row['email']}",
            )

    # -- login -----------------------------------------------------------------------------------
    async def login_password(self, email: str, password: str, client: str) -> str:
        """Step one: the password. Returns the cookie of a session that waits for its TOTP code.
        Every refusal looks alike to the person (no hint whether the address exists); each is
        audited (committed before the refusal is raised)."""
        now = self.people.now()
        refusal: str | None = None
        token = portal_domain.new_secret()
        async with self._tx() as uow:
            row = await repository.user_by_email(uow.conn, email.strip())
            if row is None:
                domain.password_matches(_DUMMY_HASH, password)  # the same time as a real check
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=None,
                    user_id=None,
                    email=email.strip()[:254],
                    action="login.password",
                    detail={"client": client},
                    outcome="refused",
                )
                refusal = "bad_login"
            elif domain.locked_out(
                await repository.recent_failures(uow.conn, row["id"], now - self.lockout), self.lockout_failures
            ):
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=row["creditor_id"],
                    user_id=row["id"],
                    email=row["email"],
                    action="login.locked",
                    detail={"client": client},
                    outcome="refused",
                )
                refusal = "locked"
            elif not domain.password_matches(row["password_hash"], password):
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=row["creditor_id"],
                    user_id=row["id"],
                    email=row["email"],
                    action="login.password",
                    detail={"client": client},
                    outcome="refused",
                )
                refusal = "bad_login"
            elif row["role"] != "admin" and await repository.sso_required(uow.conn, row["creditor_id"]):
                # Checked after the password, so it tells nothing to someone who does not know it;
                # the creditor's admins keep this way in to fix a broken provider setup.
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=row["creditor_id"],
                    user_id=row["id"],
                    email=row["email"],
                    action="login.password",
                    detail={"client": client, "why": "sso_required"},
                    outcome="refused",
                )
                refusal = "use_sso"
            else:
                await repository.create_session(
                    uow.conn,
                    session_id=uuid.uuid4(),
                    token_hash=portal_domain.digest(token),
                    csrf=portal_domain.new_secret(),
                    user_id=row["id"],
                    now=now,
                )
        if refusal:
            raise StaffRefused(refusal)
        return token

    async def login_totp(self, token: str | None, code: str, client: str) -> str:
        """Step two: the authenticator app's code. Returns the verified session's new cookie."""
        now = self.people.now()
        refusal: str | None = None
        fresh = portal_domain.new_secret()
        async with self._tx() as uow:
            row = await repository.session_by_token(uow.conn, portal_domain.digest(token or ""))
            if row is None or row["verified_at"] is not None or now - row["created_at"] > timedelta(minutes=10):
                raise StaffRefused("no_login")
            user = await repository.user_by_id(uow.conn, row["user_id"], lock=True)
            assert user is not None
            failures = await repository.recent_failures(uow.conn, user["id"], now - self.lockout)
            step = domain.totp_step(user["totp_secret"], code, now, user["totp_last_step"])
            if domain.locked_out(failures, self.lockout_failures):
                await repository.end_session(uow.conn, row["id"], now)
                refusal = "locked"
            elif step is None or not await repository.use_totp_step(uow.conn, user["id"], step):
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=user["creditor_id"],
                    user_id=user["id"],
                    email=user["email"],
                    action="login.totp",
                    detail={"client": client},
                    outcome="refused",
                )
                refusal = "bad_code"
            else:
                await repository.verify_session(
                    uow.conn, row["id"], portal_domain.digest(fresh), portal_domain.new_secret(), now
                )
                await repository.audit(
                    uow.conn,
                    at=self.services.now(),
                    recorded_at=now,
                    creditor_id=user["creditor_id"],
                    user_id=user["id"],
                    email=user["email"],
                    action="login",
                    detail={"client": client},
                )
        if refusal:
            raise StaffRefused(refusal)
        return fresh

    async def session(self, token: str | None, *, pending: bool = False) -> StaffSession | None:
        """The session of a cookie while it is alive; a half-done login only when `pending`."""
        if not token:
            return None
        now = self.people.now()
        async with self.db.connection() as conn:
            row = await repository.session_by_token(conn, portal_domain.digest(token))
            if row is None or row["disabled_at"] is not None:
                return None
            if row["verified_at"] is None and not pending:
                return None
            times = portal_domain.SessionTimes(row["created_at"], row["last_seen_at"])
            if not portal_domain.session_alive(times, now, idle=self.idle, absolute=self.absolute):
                return None
            if now - row["last_seen_at"] > timedelta(seconds=30):
                await repository.touch_session(conn, row["id"], now)
        return StaffSession(row["id"], row["csrf"], user_of(row), row["verified_at"] is not None)

    async def logout(self, session: StaffSession) -> None:
        now = self.people.now()
        async with self._tx() as uow:
            await repository.end_session(uow.conn, session.id, now)
            user = session.user
            await repository.audit(
                uow.conn,
                at=self.services.now(),
                recorded_at=now,
                creditor_id=user.creditor_id,
                user_id=user.id,
                email=user.email,
                action="logout",
            )

    # -- audit and notes -------------------------------------------------------------------------
    async def record(
        self,
        user: StaffUser,
        action: str,
        *,
        target: str | None = None,
        creditor_id: UUID | None = None,
        detail: dict[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        """One audit row: who, when, what, to what, and whether it was done or refused."""
        async with self.db.connection() as conn:
            await repository.audit(
                conn,
                at=self.services.now(),
                recorded_at=self.people.now(),
                creditor_id=creditor_id or user.creditor_id,
                user_id=user.id,
                email=user.email,
                action=action,
                target=target,
                detail=detail,
                outcome=outcome,
            )

    async def set_language(self, user: StaffUser, language: str) -> None:
        """The user's choice of language for the staff pages, kept with the user."""
        async with self._tx() as uow:
            await repository.set_language(uow.conn, user.id, language)

    async def audit_log(
        self, creditor_id: UUID | None, *, target: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(r) for r in await repository.audit_of(conn, creditor_id, target=target, limit=limit)]

    async def add_note(self, user: StaffUser, creditor_id: UUID, debtor_id: UUID, body: str) -> None:
        now = self.services.now()
        async with self._tx() as uow:
            await repository.add_note(
                uow.conn,
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                at=now,
                user_id=user.id,
                author=user.name,
                body=body.strip()[:4000],
            )
            await repository.audit(
                uow.conn,
                at=now,
                recorded_at=self.people.now(),
                creditor_id=creditor_id,
                user_id=user.id,
                email=user.email,
                action="case.note",
                target=f"debtor:{debtor_id}",
            )

    async def notices(self, creditor_id: UUID, since: Any) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(r) for r in await repository.notices_of(conn, creditor_id, since)]

    async def decide_notice(self, user: StaffUser, claim_id: UUID, decision: str) -> bool:
        assert user.creditor_id is not None
        now = self.services.now()
        async with self._tx() as uow:
            row = await repository.decide_notice(uow.conn, user.creditor_id, claim_id, decision, user.email, now)
            await repository.audit(
                uow.conn,
                at=now,
                recorded_at=self.people.now(),
                creditor_id=user.creditor_id,
                user_id=user.id,
                email=user.email,
                action=f"handover.{decision}",
                target=f"claim:{claim_id}",
                outcome="ok" if row is not None else "refused",
            )
        return row is not None

    async def promises(self, pairs: list[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], str]:
        """The latest promised date per (creditor, debtor), as recorded at the desk."""
        if not pairs:
            return {}
        async with self.db.connection() as conn:
            found = await repository.latest_promises(conn, [c for c, _ in pairs], [f"debtor:{d}" for _, d in pairs])
        return {(c, d): found[f"{c}/debtor:{d}"] for c, d in pairs if f"{c}/debtor:{d}" in found}

    async def notes(self, creditor_id: UUID, debtor_id: UUID) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(r) for r in await repository.notes_of(conn, creditor_id, debtor_id)]


async def record_notice(uow: UnitOfWork, event: Any) -> None:
    """A handover notice (CreditorNoticeDue), one row per claim, for the creditor's notices page."""
    await repository.record_notice(
        uow.conn,
        notice_id=event.notice_id,
        creditor_id=event.creditor_id,
        claim_ids=list(event.claim_ids),
        handover_at=event.handover_at,
        noticed_at=event.noticed_at,
    )


_DUMMY_HASH = domain.hash_password("krafa-timing-equaliser-0000")
