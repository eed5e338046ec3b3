"""How debtors pay, decided when a claim is registered: the claim in the payer's netbank for an
Icelandic creditor with a claim bank, a KID by the creditor's Nets scheme in Norway, the 7-3-1
reference number with the IBAN in Estonia; and ClaimBalanceChanged whenever the ledger moves."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from krafa_claims_api.api.schemas import CreditorIn
from krafa_claims_api.settings import Settings
from krafa_events import ClaimCreated, PaymentReceived
from krafa_events.catalog import ClaimBalanceChanged, FeeCharged
from krafa_kit.clock import Clock, ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish
from pydantic import ValidationError

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
CLUB_KENNITALA = "4101692079"  # a company kennitala (first digit 4), valid check digit
PAYER_KENNITALA = "1201743399"
BANK = {"claim_bank": "0133", "template_code": "001"}


@pytest.fixture
def clock() -> Clock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker) -> Settings:
    return Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap)


def _debtor(claim: dict[str, Any], **fields: Any) -> dict[str, Any]:
    claim["debtor"] = {**claim["debtor"], **fields}
    return claim


async def test_payment_identities_and_balance_events(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    async with TopicReader(broker, "krafa.claims") as reader:
        await _icelandic_claims_go_to_the_netbank(api, reader, broker)
        await _norway_kid_by_the_creditors_scheme_and_estonia_reference_number(api, reader)


async def _icelandic_claims_go_to_the_netbank(api: Api, reader: TopicReader, broker: str) -> None:
    creditor_id, client = await api.creditor(
        "Fram",
        slip_fee_minor=390,
        registration_no="410169-2079",
        bank_claims={"claim_bank": "0133", "template_code": "001", "secondary_template_code": "MI1"},
    )
    with_kt = _debtor(claim_body("INV-1", customer_no="C-1"), national_id="120174-3399")
    without_kt = claim_body("INV-2", customer_no="C-2")
    foreign = _debtor(claim_body("INV-3", customer_no="C-3"), country="NO", national_id=None)
    created = (await client.post("/v1/claims/bulk", json={"claims": [with_kt, without_kt, foreign]})).json()
    netbank, by_reference, abroad = created["claims"]

    payment = netbank["payment"]
    assert payment["kind"] == "bank_claim"
    assert (payment["claimant_id"], payment["claim_bank"]) == (CLUB_KENNITALA, "0133")
    assert len(payment["claim_number"]) == 6 and payment["claim_number"].isdigit()
    # The reference is the banks' claim id without its "+": kennitala, bank, ledger 66, number, due date.
    assert netbank["reference"] == f"{CLUB_KENNITALA}013366{payment['claim_number']}20260201"
    # A debtor without a kennitala, or abroad, has no Icelandic netbank: an RF reference to the account.
    assert by_reference["payment"]["kind"] == "rf" and by_reference["reference"].startswith("RF")
    assert abroad["payment"]["kind"] == "rf"

    claim_id = uuid.UUID(netbank["id"])
    await eventually(lambda: [e for e in reader.of_type(ClaimCreated) if e.claim_id == claim_id], timeout=60)
    (event,) = [e for e in reader.of_type(ClaimCreated) if e.claim_id == claim_id]
    assert event.payment is not None and event.payment.kind == "bank_claim"
    assert event.payment.payor_id == PAYER_KENNITALA and event.payment.template_code == "001"
    assert event.payment.secondary_template_code == "MI1"
    assert event.creditor.registration_no == CLUB_KENNITALA

    # Every booking that changes what is owed announces the balance as the ledger holds it.
    debtor_id = uuid.UUID(netbank["debtor_id"])
    fee = FeeCharged(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        fee_id=uuid.uuid5(claim_id, "2:reminder_fee"),
        claim_id=claim_id,
        step=2,
        kind="reminder_fee",
        amount_minor=950,
        currency="ISK",
        charged_at=START + timedelta(days=20),
    )
    interest = fee.model_copy(update={"fee_id": uuid.uuid5(claim_id, "2:late_interest"), "kind": "late_interest"})
    interest = interest.model_copy(update={"amount_minor": 123})
    await publish(broker, fee, interest, fee.model_copy())  # the replay books (and announces) nothing

    def changes() -> list[ClaimBalanceChanged]:
        return [e for e in reader.of_type(ClaimBalanceChanged) if e.claim_id == claim_id]

    await eventually(lambda: len(changes()) >= 2, timeout=60)
    fee_change, interest_change = changes()[:2]
    assert (fee_change.cause, fee_change.fees_minor, fee_change.balance_minor) == ("fee", 390 + 950, 10_000 + 1_340)
    assert (interest_change.cause, interest_change.interest_minor, interest_change.balance_minor) == (
        "interest",
        123,
        11_463,
    )
    assert interest_change.ledger_entries > fee_change.ledger_entries

    paid = PaymentReceived(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        payment_id=uuid.uuid4(),
        claim_id=claim_id,
        amount_minor=2_000,
        currency="ISK",
        reference=netbank["reference"],
        booking_date=date(2026, 2, 10),
        value_date=date(2026, 2, 10),
        bank_ref="T-1",
        source="api",
        received_at=START + timedelta(days=21),
    )
    await publish(broker, paid)
    await eventually(lambda: len(changes()) >= 3, timeout=60)
    after = changes()[2]
    # Fees first, then interest, then principal.
    assert (after.cause, after.fees_minor, after.interest_minor, after.principal_minor) == ("payment", 0, 0, 9_463)
    assert (after.paid_minor, after.balance_minor) == (2_000, 9_463)
    assert len(changes()) == 3


async def _norway_kid_by_the_creditors_scheme_and_estonia_reference_number(api: Api, reader: TopicReader) -> None:
    _, oslo = await api.creditor(
        "Oslo Fjernvarme",
        country="NO",
        currency="NOK",
        payment_account="1503.12.34567",
        registration_no="923 609 016",
        kid_scheme="mod11",
    )
    body = _debtor(claim_body("NO-1", customer_no="N-1"), country="NO")
    claim = (await oslo.post("/v1/claims", json={**body, "currency": "NOK"})).json()
    kid = claim["reference"]
    assert claim["payment"] == {
        "kind": "kid",
        "reference": kid,
        "account": "1503.12.34567",
        "kid_scheme": "mod11",
        "claimant_id": None,
        "claim_bank": None,
        "claim_number": None,
    }
    weights = [2, 3, 4, 5, 6, 7]
    check = 11 - sum(int(d) * weights[i % 6] for i, d in enumerate(reversed(kid[:-1]))) % 11
    assert check != 10 and str(check % 11) == kid[-1]

    _, tallinn = await api.creditor(
        "Tallinna Vesi",
        country="EE",
        currency="EUR",
        payment_account="EE382200221020145685",
        registration_no="10257326",
    )
    body = _debtor(claim_body("EE-1", customer_no="E-1"), country="EE")
    claim = (await tallinn.post("/v1/claims", json={**body, "currency": "EUR"})).json()
    assert claim["payment"]["kind"] == "reference_number"
    assert claim["payment"]["account"] == "EE382200221020145685"
    ref = claim["reference"]
    total = sum(int(d) * (7, 3, 1)[i % 3] for i, d in enumerate(reversed(ref[:-1])))
    assert ref[-1] == str((10 - total % 10) % 10)

    # A registry id that fails its check digit, or bank claims outside Iceland or without one, are refused.
    with pytest.raises(ValidationError, match="valid registry id"):
        CreditorIn(name="X", registration_no="410169-2078")
    with pytest.raises(ValidationError, match="Icelandic"):
        CreditorIn(name="X", country="NO", registration_no="923609016", bank_claims=BANK)
    with pytest.raises(ValidationError, match="kennitala"):
        CreditorIn(name="X", bank_claims=BANK)
