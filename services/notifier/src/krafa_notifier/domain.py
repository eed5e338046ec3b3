"""The notifier's pure rules: which deliveries a reminder makes and what replaces a failed one,
their deterministic ids, when a planned delivery has gone stale, and what a reminder says (the
content every channel renders). No I/O: the use cases (service.py) read and write the rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from krafa_events import Channel, ReminderDue

from krafa_notifier import balance, content

DELIVERY_NAMESPACE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
MAX_ATTEMPTS = 8
# The language of a creditor's claims when its debtor's language is one we do not write.
JURISDICTION_LANGUAGE = {"IS": "is", "NO": "nb", "EE": "et", "EU": "en"}
# Fallback kinds: one per replacement, so a bounce and an SMTP refusal of the same email plan
# one paper reminder between them, never two.
FALLBACK_EMAIL = "fallback:email"  # after an SMS that could not be delivered
# Letter or netbank document, as the creditor chose (docs/domain.md: digital letters); the kind
# soft_retry looks for.
FALLBACK_PAPER = "fallback"
FALLBACK_LETTER = "fallback:letter"  # a letter after a netbank document was refused


def delivery_id(reminder_id: uuid.UUID, kind: str) -> uuid.UUID:
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{reminder_id}:{kind}")


def call_task_id(reminder_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{reminder_id}:call")


def fallback_after(channel: Channel) -> tuple[str, list[str]] | None:
    """What replaces a delivery that failed for good on `channel`: SMS → email → letter; a
    refused netbank document → a letter."""
    if channel == Channel.SMS:
        return FALLBACK_EMAIL, [Channel.EMAIL.value, Channel.LETTER.value]
    if channel == Channel.EMAIL:
        return FALLBACK_PAPER, [Channel.LETTER.value]
    if channel == Channel.NETBANK:
        return FALLBACK_LETTER, [Channel.LETTER.value]
    return None


def delivery_plans(event: ReminderDue) -> list[tuple[str, list[str]]]:
    """(delivery kind, channels in order of preference) for each message of a reminder. The first
    keeps the kind "primary" (its id is the one a single-channel reminder always had); another is
    "primary:<channel>". A fallback that is itself a planned delivery of this reminder is left out,
    so a failed SMS never sends the debtor a second copy of the email."""
    if not event.deliveries:
        channels = [c.value for c in event.channels if c != Channel.CALL]
        return [("primary", channels)] if channels else []
    planned = [p for p in event.deliveries if p.channel != Channel.CALL]
    primaries = {p.channel for p in planned}
    out: list[tuple[str, list[str]]] = []
    for i, plan in enumerate(planned):
        channels = [plan.channel.value] + [
            c.value for c in plan.fallbacks if c not in primaries and c != Channel.CALL and c != plan.channel
        ]
        out.append(("primary" if i == 0 else f"primary:{plan.channel.value}", channels))
    return out


def is_stale(row: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """A delivery planned before its claim was re-planned (amended, deferred): the reminder no
    longer says what the timeline says, so it is dropped."""
    replanned = claim["replanned_at"]
    return replanned is not None and row["due_at"] < replanned


def reminder_content(
    claims: Sequence[Mapping[str, Any]],
    creditor: dict[str, Any],
    debtor: dict[str, Any],
    *,
    step: int,
    tone: Any,
    fee_minor: int,
    interest_minor: int,
    pay_by: date | None,
    sent_on: date,
    language: str | None = None,
    portal_link: str | None = None,
    notice: Mapping[str, Any] | None = None,
) -> content.ReminderContent:
    """What a reminder says: every claim with its ledger as booked (principal, each fee and
    interest line, each payment), the legal notice it is (`notice`: a delivery row with its
    notice_kind, jurisdiction and rate), who sends it, and how a local payer pays. `fee_minor` and
    `interest_minor` are a preview's hypothetical charges of a step not yet fired, added on the
    first claim; a real send passes 0 (the ledger holds them)."""
    lines = []
    for i, c in enumerate(claims):
        money = balance.money_of(c)
        extra_fee = fee_minor if i == 0 else 0
        extra_interest = interest_minor if i == 0 else 0
        entries = list(money.entries)
        if extra_fee:
            entries.append(balance.Entry("fee", "reminder_fee", sent_on, extra_fee))
        if extra_interest:
            entries.append(balance.Entry("interest", "late_interest", sent_on, extra_interest))
        lines.append(
            content.ClaimLine(
                invoice_no=c["invoice_no"],
                description=c["description"],
                due_date=c["due_date"],
                amount_minor=money.principal_minor,
                currency=c["currency"],
                fees_minor=money.fees_minor + extra_fee,
                interest_minor=money.interest_minor + extra_interest,
                reference=c["reference"],
                paid_minor=money.paid_minor,
                written_off_minor=money.written_off_minor,
                entries=tuple(entries),
                payment=_payment(c.get("payment")),
            )
        )
    link_template = creditor.get("payment_link_template")
    link = None
    if link_template:
        link = link_template.replace("{reference}", claims[0]["reference"]).replace(
            "{amount_minor}", str(sum(line.total_minor for line in lines))
        )
    address = debtor.get("address")
    jurisdiction = (notice or {}).get("jurisdiction") or str(claims[0].get("jurisdiction") or "").strip() or None
    rate = (notice or {}).get("interest_rate_pct")
    return content.ReminderContent(
        creditor_name=creditor["name"],
        creditor_contact_phone=creditor.get("contact_phone", ""),
        creditor_account=creditor.get("payment_account", ""),
        payment_link=link,
        debtor_name=debtor["name"],
        language=language or debtor.get("language") or "",
        step=step,
        tone=tone,
        claims=tuple(lines),
        address=_postal(address),
        sent_on=sent_on,
        pay_by=pay_by,
        portal_link=portal_link,
        default_language=JURISDICTION_LANGUAGE.get(str(jurisdiction or "").upper(), "en"),
        notice_kind=(notice or {}).get("notice_kind"),
        jurisdiction=jurisdiction,
        creditor_registration_no=creditor.get("registration_no") or "",
        creditor_address=_postal(creditor.get("address")),
        agency=_agency(creditor.get("agency")),
        interest_rate_pct=Decimal(str(rate)) if rate else None,
        creditor_sender_name=creditor.get("sender_name") or "",
    )


# What a creditor changes of how its messages name it (CreditorUpdated): the newest wins over the
# snapshot a claim was registered with.
SENDER_FIELDS = ("sender_name", "sender_email", "reply_to", "sms_sender_id", "contact_phone")


def with_sender(creditor: Mapping[str, Any], latest: Mapping[str, Any] | None) -> dict[str, Any]:
    """A claim's creditor snapshot with the creditor's sender identity as it last changed."""
    merged = dict(creditor)
    if latest:
        merged.update({name: latest.get(name, "") or "" for name in SENDER_FIELDS})
    return merged


def sent_by(reminder: content.ReminderContent, creditor: Mapping[str, Any]) -> content.ReminderContent:
    """A reminder (a sample's) as this creditor would send it: its name, phone, account, registry
    id and sender address from its snapshot (krafa_events CreditorSnapshot), as `reminder_content`
    reads them; what the snapshot leaves empty keeps the reminder's."""
    return replace(
        reminder,
        creditor_name=creditor.get("name") or reminder.creditor_name,
        creditor_contact_phone=creditor.get("contact_phone") or reminder.creditor_contact_phone,
        creditor_account=creditor.get("payment_account") or reminder.creditor_account,
        creditor_registration_no=creditor.get("registration_no") or reminder.creditor_registration_no,
        creditor_address=_postal(creditor.get("address")) or reminder.creditor_address,
        creditor_sender_name=creditor.get("sender_name") or reminder.creditor_sender_name,
    )


def _postal(address: Mapping[str, Any] | None) -> content.PostalAddress | None:
    if not address:
        return None
    return content.PostalAddress(
        name=address.get("name", ""),
        lines=tuple(address.get("lines", ())),
        postcode=address.get("postcode", ""),
        city=address.get("city", ""),
        country=address.get("country", ""),
    )


def _agency(agency: Mapping[str, Any] | None) -> content.Agency | None:
    if not agency:
        return None
    return content.Agency(
        name=agency["name"],
        registration_no=agency.get("org_id") or agency.get("registration_no") or "",
        address=_postal(agency.get("address")),
        phone=agency.get("phone", ""),
    )


def _payment(stored: Any) -> content.Payment | None:
    """The claim's payment identity as ClaimCreated carried it (None for claims from before it)."""
    if not stored:
        return None
    data = json.loads(stored) if isinstance(stored, str) else stored
    return content.Payment(
        kind=data["kind"],
        reference=data["reference"],
        account=data.get("account") or "",
        claimant_id=data.get("claimant_id"),
        claim_bank=data.get("claim_bank"),
        claim_number=data.get("claim_number"),
    )


def claim_view_values(event: Any) -> tuple[Any, ...]:
    return (
        event.claim_id,
        event.creditor_id,
        event.debtor_id,
        event.invoice_no,
        event.description,
        event.amount_minor,
        event.fees_minor,
        event.currency,
        event.due_date,
        event.reference,
        json.loads(event.creditor.model_dump_json()),
        json.loads(event.debtor.model_dump_json()),
        event.jurisdiction,
        json.loads(event.payment.model_dump_json()) if getattr(event, "payment", None) is not None else None,
    )
