"""The staff side's rules: what each role may do, passwords (argon2id), TOTP codes that work
once and only near their time, the lockout, and which call script an agent reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyotp
from krafa_web.staff import domain
from krafa_web.staff.domain import StaffUser

A, B = uuid.uuid4(), uuid.uuid4()


def user(role: domain.Role, creditor: uuid.UUID | None = A, serves: tuple[uuid.UUID, ...] = ()) -> StaffUser:
    return StaffUser(uuid.uuid4(), creditor, f"{role}@x.is", role.title(), role, serves=serves)


def test_a_viewer_reads_and_a_clerk_or_admin_acts() -> None:
    assert not user("viewer").can_act and user("viewer").scopes() == ("read",)
    assert user("clerk").can_act and "claims:write" in user("clerk").scopes()
    assert user("admin").can_manage_users and not user("clerk").can_manage_users
    # Agents and operators carry no creditor scopes: their screens use their own routes.
    assert user("agent", None).scopes() == () and user("operator", None).scopes() == ()


def test_an_agent_serves_only_the_queues_given() -> None:
    agent = user("agent", None, serves=(A,))
    assert agent.serves_creditor(A) and agent.serves_creditor(str(A))
    assert not agent.serves_creditor(B)
    assert not user("clerk").serves_creditor(A)  # a creditor's clerk is no agent


def test_passwords_are_argon2id_hashes_that_verify_only_the_password() -> None:
    stored = domain.hash_password("a long passphrase here")
    assert stored.startswith("$argon2id$")
    assert domain.password_matches(stored, "a long passphrase here")
    assert not domain.password_matches(stored, "a long passphrase herE")
    assert not domain.password_matches("not a hash", "x")
    assert domain.password_problem("short", "a@b.is")
    assert domain.password_problem("anna.jons-is-my-password", "anna.jons@club.is")
    assert domain.password_problem("twelve chars ok", "a@b.is") is None


def test_a_totp_code_works_near_its_time_and_only_once() -> None:
    secret = domain.new_totp_secret()
    totp = pyotp.TOTP(secret)
    now = datetime(2026, 12, 6, 18, 0, 10, tzinfo=UTC)
    code = totp.at(now)
    step = domain.totp_step(secret, code, now, 0)
    assert step == totp.timecode(now)
    assert domain.totp_step(secret, code, now, step) is None  # replayed
    assert domain.totp_step(secret, code, now + timedelta(seconds=30), 0) == step  # clock drift: one step
    assert domain.totp_step(secret, code, now + timedelta(minutes=2), 0) is None  # too late
    assert domain.totp_step(secret, "12345", now, 0) is None
    assert domain.provisioning_uri(secret, "a@b.is").startswith("otpauth://totp/Krafa:a%40b.is?secret=")


def test_the_lockout_and_the_call_scripts() -> None:
    assert not domain.locked_out(4, 5) and domain.locked_out(5, 5)
    assert domain.call_script(0) == "first" and domain.call_script(1) == "firm"


def test_the_call_queue_puts_a_broken_promise_first_then_the_larger_then_the_older_debt() -> None:
    def key(broken: bool, balance: int, days: int) -> tuple[int, int, int]:
        return domain.call_priority(promise_broken=broken, balance_minor=balance, overdue_days=days)

    queue = sorted(
        [
            ("small old", key(False, 5_000, 90)),
            ("big new", key(False, 500_000, 3)),
            ("broken", key(True, 1_000, 1)),
            ("big older", key(False, 500_400, 30)),
        ],
        key=lambda item: item[1],
        reverse=True,
    )
    assert [name for name, _ in queue] == ["broken", "big older", "big new", "small old"]
