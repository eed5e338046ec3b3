"""Bounces as values: which failure of a report belongs to our delivery. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from krafa_bounce_handler.dsn import REASON_MAX, BouncedRecipient, BounceReport

Kind = Literal["hard", "soft"]

# The reason a report gets when its recipient names none (dsn never leaves one empty).
DEFAULT_REASON = "delivery failed"


class Verdict(StrEnum):
    """What one inbound message says about one of our return paths."""

    BOUNCE = "bounce"
    NOT_BOUNCE = "not_bounce"
    BAD_SIGNATURE = "bad_signature"


class BounceState(StrEnum):
    EMITTED = "emitted"  # EmailBounced is in the outbox
    AWAITING_DELIVERY = "awaiting_delivery"  # the DSN beat the ReminderSent of its delivery
    DUPLICATE = "duplicate"  # the delivery already has this report, or a hard bounce


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One SMTP transaction: the raw bytes and the envelope."""

    raw: bytes
    mail_from: str  # "" for the null reverse path of a DSN
    rcpt_tos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BounceVerdict:
    kind: Kind
    status: str | None
    reason: str
    reported_address: str  # the address the report names; another one when mail was forwarded
    matched: bool  # the report names the delivery's own address


def normalise_address(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def verdict_for(report: BounceReport, delivery_recipient: str) -> BounceVerdict | None:
    """The failure a report states for the address we sent to; None when it is no bounce.

    A report about several addresses (a relay batching, a mixed report) counts only for the
    address we sent to. When it names other addresses only, our mail was forwarded or rewritten
    and the failure of the final address is the failure of ours, so the report's overall verdict
    holds; a mixed one counts as soft, since a hard bounce makes the address unusable for good
    and some of its targets still take mail.
    """
    if not report.is_bounce or not report.recipients:
        return None
    wanted = normalise_address(delivery_recipient)
    for recipient in report.recipients:
        if recipient.address == wanted:
            return _verdict(recipient, matched=True)
    kind: Kind = "hard" if report.kind == "hard" else "soft"
    chosen = next((r for r in report.recipients if r.kind == kind), report.recipients[0])
    return BounceVerdict(
        kind=kind,
        status=chosen.status,
        reason=chosen.reason or DEFAULT_REASON,
        reported_address=chosen.address,
        matched=False,
    )


def _verdict(recipient: BouncedRecipient, *, matched: bool) -> BounceVerdict:
    return BounceVerdict(
        kind=recipient.kind,
        status=recipient.status,
        reason=recipient.reason or DEFAULT_REASON,
        reported_address=recipient.address,
        matched=matched,
    )


def report_from_json(data: Mapping[str, Any]) -> BounceReport:
    """Rebuild a report stored with `BounceReport.to_json_dict()` (a bounce awaiting its delivery)."""
    recipients = tuple(
        BouncedRecipient(
            address=str(r["address"]),
            kind="hard" if r["kind"] == "hard" else "soft",
            status=r.get("status"),
            reason=str(r.get("reason") or ""),
        )
        for r in data.get("recipients", ())
    )
    return BounceReport(
        is_bounce=bool(data.get("is_bounce")),
        recipients=recipients,
        kind=data.get("kind", "none"),
        not_bounce_reason=data.get("not_bounce_reason"),
    )


def received_kind(report: BounceReport) -> str:
    """The `kind` label of a report before its delivery is known (the overall verdict)."""
    verdict = verdict_for(report, "")
    return verdict.kind if verdict else Verdict.NOT_BOUNCE.value


def is_duplicate(
    verdict_kind: Kind,
    raw_sha256: bytes,
    emitted: list[tuple[str, bytes]],
) -> bool:
    """Whether a bounce adds nothing to the bounces already emitted for its delivery, given as
    (kind, raw sha256) pairs: the same report received again (an MTA retrying after a lost
    250), or a hard bounce when one was already emitted (the address is already marked)."""
    return any(sha == raw_sha256 or (kind == "hard" and verdict_kind == "hard") for kind, sha in emitted)


@dataclass(frozen=True, slots=True)
class SoftBouncePolicy:
    """The `max_soft`-th soft bounce for one (creditor, recipient address) within `window` counts
    as hard: an address that keeps failing temporarily is not worth more reminders."""

    max_soft: int = 3
    window: timedelta = timedelta(hours=72)

    def __post_init__(self) -> None:
        if self.max_soft < 1:
            raise ValueError("max_soft must be at least 1")


def apply_soft_policy(verdict: BounceVerdict, earlier_soft: int, policy: SoftBouncePolicy) -> BounceVerdict | None:
    """The hard verdict a soft one escalates to, given how many soft bounces (escalated ones
    included) the same creditor and address had within the policy's window before it; None when
    the verdict stands."""
    if verdict.kind != "soft":
        return None
    nth = earlier_soft + 1
    if nth < policy.max_soft:
        return None
    hours = policy.window.total_seconds() / 3600
    reason = f"escalated: soft bounce {nth} within {hours:g}h (limit {policy.max_soft}): {verdict.reason}"
    return replace(verdict, kind="hard", reason=reason[:REASON_MAX])
