"""The vocabulary of what a legal notice must say. A jurisdiction pack lists, per notice kind, the
elements a message of that kind must render (`NoticeKind.required`); the scheduler names the kind
on ReminderDue (`notice_kind`) and the notifier renders every required element, in every language
and channel that may carry the kind. A test on each side holds them to this one list.

An element is a key, not a text: the wording is the template's, per language. What each element
means is below; a template that cannot render an element it is required to must fail loudly."""

from __future__ import annotations

from enum import StrEnum


class Element(StrEnum):
    # Who
    NOTICE_TITLE = "notice_title"
    """The notice names itself by its legal name ("Innheimtuviðvörun", "Inkassovarsel")."""
    CREDITOR_NAME = "creditor_name"
    CREDITOR_ID = "creditor_id"
    """The creditor's registry id: kennitala (IS), organisasjonsnummer (NO), registrikood (EE)."""
    SENDER_ADDRESS = "sender_address"
    """The postal address of whoever sends the notice (creditor, or the agency after handover)."""
    AGENCY_NAME = "agency_name"
    """After handover: the collection agency that sends the notice, besides the creditor."""
    AGENCY_ID = "agency_id"
    DEBTOR_NAME = "debtor_name"
    # What
    CLAIM_REFERENCE = "claim_reference"
    """Invoice or claim number, so the debtor recognises the claim."""
    CLAIM_BASIS = "claim_basis"
    """What the claim is for (the invoice's description)."""
    DUE_DATE = "due_date"
    PRINCIPAL = "principal"
    FEES_ITEMISED = "fees_itemised"
    """Every fee booked on the claim so far, one line each, as booked."""
    INTEREST_AMOUNT = "interest_amount"
    INTEREST_RATE = "interest_rate"
    """The annual late-interest rate applied (ReminderDue.interest_rate_pct)."""
    INTEREST_FROM = "interest_from"
    """The date late interest runs from."""
    PAYMENTS_RECEIVED = "payments_received"
    TOTAL_DUE = "total_due"
    """The balance as booked at the moment the notice is rendered."""
    # How and by when
    PAY_BY = "pay_by"
    """The deadline (ReminderDue.pay_by): always a business day of the jurisdiction."""
    PAYMENT_DETAILS = "payment_details"
    """What a local payer expects: IS the claim in the netbank (creditor kennitala + claim
    number); NO account + KID; EE IBAN (in groups of four) + reference number."""
    CONTACT = "contact"
    """A phone number or link where the debtor can pay, ask or object."""
    # What happens otherwise
    CONSEQUENCE_COLLECTION = "consequence_collection"
    """That the claim goes to collection (or further collection steps follow) if not paid by
    `pay_by`, and that this adds costs."""
    CONSEQUENCE_LEGAL = "consequence_legal"
    """That legal collection (court, enforcement) may follow, with its costs."""
    NOTICE_FEE = "notice_fee"
    """The fee this very notice adds, if any, and that it is within the legal cap."""
    OBJECTION_RIGHT = "objection_right"
    """That the debtor may object to the claim, and how (NO inkassoloven §§ 9, 10)."""
    TRIBUNAL = "tribunal"
    """Where a consumer may complain (NO: Finansklagenemnda / the relevant nemnd)."""
    LEGAL_BASIS = "legal_basis"
    """The provision the notice is sent under (e.g. 7. gr. innheimtulaga nr. 95/2008)."""
    CLAIM_WATCH_TERMS = "claim_watch_terms"
    """Claim watch: that the claim is kept under watch and how to settle it."""


ELEMENTS: frozenset[str] = frozenset(e.value for e in Element)
