"""Over the real PostgreSQL and broker, with a clock the test moves: late interest from the
scheduler is the ledger's interest component (a replay books nothing; a payment of the original
amount leaves the claim open, one of the balance pays it); holds end on their own at `until`,
once, with several replicas; and the SSRF guard refuses internal webhook URLs at registration
and again at delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from krafa_claims_api import lifecycle, webhook_repository, webhooks
from krafa_claims_api.settings import Settings
from krafa_events import ClaimPaid, PaymentReceived
from krafa_events.catalog import ClaimBalanceChanged, ClaimReleased, FeeCharged
from krafa_kit.clock import Clock, ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving

from .conftest import Api, claim_body

pytestmark = [pytest.mark.integration, pytest.mark.consumes]

START = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker) -> Settings:
    # As in production: no private webhook addresses, no http.
    return Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap, hold_expiry_poll_s=0.1)


def fee_charged(creditor_id: uuid.UUID, claim: dict[str, Any], kind: str, amount: int, at: datetime) -> FeeCharged:
    """Step 2's charge of `kind` on the claim (a ClaimOut as JSON), as the scheduler emits it."""
    claim_id = uuid.UUID(claim["id"])
    return FeeCharged(
        creditor_id=creditor_id,
        debtor_id=uuid.UUID(claim["debtor_id"]),
        fee_id=uuid.uuid5(claim_id, f"2:{kind}"),
        claim_id=claim_id,
        step=2,
        kind=kind,
        amount_minor=amount,
        currency="ISK",
        charged_at=at,
    )


def payment_received(
    creditor_id: uuid.UUID, claim: dict[str, Any], amount: int, at: datetime, booked: date | None = None
) -> PaymentReceived:
    """A payment of `amount` on the claim received at `at`, as payments-ingest emits it."""
    return PaymentReceived(
        creditor_id=creditor_id,
        debtor_id=uuid.UUID(claim["debtor_id"]),
        claim_id=uuid.UUID(claim["id"]),
        payment_id=uuid.uuid4(),
        amount_minor=amount,
        currency="ISK",
        reference=claim["reference"],
        booking_date=booked or at.date(),
        value_date=booked or at.date(),
        bank_ref=f"B-{claim['id']}-{amount}",
        source="test",
        received_at=at,
    )


def _balances(reader: TopicReader, claim_id: uuid.UUID) -> list[ClaimBalanceChanged]:
    return sorted(
        (b for b in reader.of_type(ClaimBalanceChanged) if b.claim_id == claim_id), key=lambda b: b.ledger_entries
    )


async def claim_of(client: httpx.AsyncClient, claim_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/claims/{claim_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_late_interest_hold_expiry_and_the_webhook_ssrf_guard(api: Api, clock: ManualClock) -> None:
    # One app, database and broker for the three (each costs seconds to set up and tear down).
    await _webhook_urls_to_internal_addresses_are_refused(api)
    await _late_interest_is_booked_as_interest_and_paid_after_fees(api)
    await _charges_of_a_step_after_the_payment_was_received_are_waived(api)
    await _a_payment_of_the_stated_balance_settles_the_claim(api)
    await _holds_expire_once_on_the_service_clock(api, clock)


async def _late_interest_is_booked_as_interest_and_paid_after_fees(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390)
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    assert claim["balance_minor"] == 10_390
    claim_id, debtor_id = uuid.UUID(claim["id"]), uuid.UUID(claim["debtor_id"])
    now = START + timedelta(days=13)

    def charge(kind: str, amount: int) -> FeeCharged:
        return fee_charged(creditor_id, claim, kind, amount, now)

    def payment(amount: int) -> PaymentReceived:
        return payment_received(creditor_id, claim, amount, now, booked=date(2026, 2, 14))

    # The reminder's fee and its late interest, each published twice (a replay under a new event id).
    interest, fee = charge("late_interest", 123), charge("reminder_fee", 950)
    interest = interest.model_copy(
        update={"rate_pct": Decimal("15.5"), "interest_from": date(2026, 1, 31), "interest_to": date(2026, 2, 2)}
    )
    await publish(broker, interest, fee, interest.model_copy(), fee.model_copy())
    await eventually(lambda: _balance_is(client, claim["id"], 10_390 + 950 + 123), timeout=60)
    booked = await claim_of(client, claim["id"])
    assert (booked["interest_minor"], booked["fees_minor"], booked["status"]) == (123, 1_340, "open")
    ledger = (await client.get(f"/v1/claims/{claim['id']}/ledger")).json()
    assert ledger["interest_minor"] == 123 and ledger["fees_minor"] == 1_340
    assert ledger["outstanding"] == {"principal_minor": 10_000, "fees_minor": 1_340, "interest_minor": 123}
    assert sorted(e["kind"] for e in ledger["entries"]) == ["charge", "fee", "interest"]
    timeline = (await client.get(f"/v1/claims/{claim['id']}/timeline")).json()["items"]
    charged = {i["details"]["kind"]: i["details"] for i in timeline if i["kind"] == "fee"}
    assert set(charged) == {"late_interest", "reminder_fee"}
    assert charged["late_interest"]["component"] == "interest" and charged["late_interest"]["amount_minor"] == 123

    async with TopicReader(broker, "krafa.claims") as reader:
        # What the claim was created for covers fees, then interest, then part of the principal.
        await publish(broker, payment(10_390))
        await eventually(lambda: _balance_is(client, claim["id"], 1_073), timeout=60)
        partly = await claim_of(client, claim["id"])
        assert partly["status"] == "open" and partly["paid_at"] is None
        outstanding = (await client.get(f"/v1/claims/{claim['id']}/ledger")).json()["outstanding"]
        assert outstanding == {"principal_minor": 1_073, "fees_minor": 0, "interest_minor": 0}
        # Every change of the ledger is announced whole, the payment with its allocation: what the
        # notifier states and what the scheduler charges interest on.
        await eventually(lambda: _balances(reader, claim_id) and _balances(reader, claim_id)[-1].ledger_entries == 4)
        changes = _balances(reader, claim_id)
        assert [(c.ledger_entries, c.cause) for c in changes] == [(2, "interest"), (3, "fee"), (4, "payment")]
        latest = changes[-1]
        assert (latest.principal_minor, latest.fees_minor, latest.interest_minor) == (1_073, 0, 0)
        assert (latest.balance_minor, latest.paid_minor, latest.currency) == (1_073, 10_390, "ISK")
        kinds = [(line.kind, line.fee_kind) for line in latest.lines]
        assert kinds == [
            ("charge", "slip_fee"),
            ("interest", "late_interest"),
            ("fee", "reminder_fee"),
            ("payment", None),
        ]
        booked_interest, paid = latest.lines[1], latest.lines[3]
        assert (booked_interest.charge_id, booked_interest.rate_pct) == (interest.fee_id, Decimal("15.5"))
        assert (booked_interest.interest_from, booked_interest.interest_to) == (date(2026, 1, 31), date(2026, 2, 2))
        assert (paid.fees_minor, paid.interest_minor, paid.principal_minor) == (-1_340, -123, -8_927)
        assert paid.value_date == date(2026, 2, 14)

        # The balance pays it.
        await publish(broker, payment(1_073))
        await eventually(lambda: [p for p in reader.of_type(ClaimPaid) if p.claim_id == claim_id], timeout=60)
        paid = [p for p in reader.of_type(ClaimPaid) if p.claim_id == claim_id]
        assert len(paid) == 1 and (paid[0].amount_paid_minor, paid[0].overpaid_minor) == (11_463, 0)
    final = await claim_of(client, claim["id"])
    assert (final["status"], final["balance_minor"], final["interest_minor"]) == ("paid", 0, 123)

    # A late replay of the interest books nothing more.
    (replay,) = await publish(broker, interest.model_copy())
    await eventually(lambda: _handled(api, replay), timeout=60)
    assert (await claim_of(client, claim["id"]))["interest_minor"] == 123
    entries = (await client.get(f"/v1/claims/{claim['id']}/ledger")).json()["entries"]
    assert [e["kind"] for e in entries].count("interest") == 1

    # A step that fired after the claim was paid (before the scheduler heard) charges nothing:
    # the fee and interest are waived, on the timeline once, even when replayed.
    after = FeeCharged(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        fee_id=uuid.uuid5(claim_id, "3:reminder_fee"),
        claim_id=claim_id,
        step=3,
        kind="reminder_fee",
        amount_minor=950,
        currency="ISK",
        charged_at=now + timedelta(minutes=1),  # the payments were received at `now`
    )
    first, again = await publish(broker, after, after.model_copy())
    await eventually(lambda: _handled(api, again), timeout=60)
    await eventually(lambda: _handled(api, first), timeout=60)
    waived = await claim_of(client, claim["id"])
    assert (waived["status"], waived["balance_minor"], waived["fees_minor"]) == ("paid", 0, 1_340)
    timeline = (await client.get(f"/v1/claims/{claim['id']}/timeline")).json()["items"]
    notes = [i["details"] for i in timeline if i["kind"] == "fee" and i["details"].get("waived")]
    assert [n["waived"] for n in notes] == ["claim paid before the step"]


async def _charges_of_a_step_after_the_payment_was_received_are_waived(api: Api) -> None:
    # The bank received the payment at 10:00; the step fired at 10:05, before the news arrived, and
    # its charges were booked first. A payment that covered the claim as it stood at 10:00 settles
    # it and waives them; one that did not leaves them standing.
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Haukar", slip_fee_minor=390)
    received = START + timedelta(days=13, hours=1)
    settled, short = [
        (await client.post("/v1/claims", json=claim_body(f"W-{i}", customer_no=f"W-{i}"))).json() for i in range(2)
    ]

    def charge(claim: dict[str, Any], kind: str, amount: int) -> FeeCharged:
        return fee_charged(creditor_id, claim, kind, amount, received + timedelta(minutes=5))

    def payment(claim: dict[str, Any], amount: int) -> PaymentReceived:
        return payment_received(creditor_id, claim, amount, received)

    for claim in (settled, short):
        await publish(broker, charge(claim, "reminder_fee", 950), charge(claim, "late_interest", 40))
        await eventually(lambda c=claim: _balance_is(client, c["id"], 10_390 + 990), timeout=60)
    await publish(broker, payment(settled, 10_390), payment(short, 10_000))
    await eventually(lambda: _balance_is(client, settled["id"], 0), timeout=60)
    await eventually(lambda: _balance_is(client, short["id"], 1_380), timeout=60)

    paid = await claim_of(client, settled["id"])
    assert (paid["status"], paid["fees_minor"], paid["interest_minor"], paid["paid_minor"]) == ("paid", 390, 0, 10_390)
    ledger = (await client.get(f"/v1/claims/{settled['id']}/ledger")).json()
    assert [e["kind"] for e in ledger["entries"]].count("waiver") == 2
    assert (ledger["fees_minor"], ledger["interest_minor"], ledger["balance_minor"]) == (390, 0, 0)
    assert {e["details"]["waived"] for e in ledger["entries"] if e["kind"] == "waiver"} == {
        "charged after the payment was received"
    }
    still = await claim_of(client, short["id"])
    assert (still["status"], still["fees_minor"], still["interest_minor"]) == ("open", 1_340, 40)


async def _a_payment_of_the_stated_balance_settles_the_claim(api: Api) -> None:
    # The netbank (or a card checkout) showed 10,390: the claim's ledger had one entry. Step 2's fee
    # and interest reached the ledger before the payment did, received after them. Whoever paid all
    # they were shown paid what they were asked: the claim is paid, the charges booked since the
    # statement waived as far as the payment falls short of the balance; a payment short of the
    # statement itself is partial, and the one who paid the charges too has them stand.
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fylkir", slip_fee_minor=390)
    charged = START + timedelta(days=13, hours=1)
    as_shown, short, all_of_it, with_the_fee = [
        (await client.post("/v1/claims", json=claim_body(f"S-{i}", customer_no=f"S-{i}"))).json() for i in range(4)
    ]
    for claim in (as_shown, short, all_of_it, with_the_fee):
        await publish(
            broker,
            fee_charged(creditor_id, claim, "reminder_fee", 950, charged),
            fee_charged(creditor_id, claim, "late_interest", 40, charged),
        )
        await eventually(lambda c=claim: _balance_is(client, c["id"], 10_390 + 990), timeout=60)

    def stated_payment(claim: dict[str, Any], amount: int) -> PaymentReceived:
        paid = payment_received(creditor_id, claim, amount, charged + timedelta(hours=3))
        return paid.model_copy(update={"stated_entries": 1})

    await publish(
        broker,
        stated_payment(as_shown, 10_390),
        stated_payment(short, 10_000),
        stated_payment(all_of_it, 11_380),
        stated_payment(with_the_fee, 11_340),
    )
    for claim, balance in ((as_shown, 0), (short, 1_380), (all_of_it, 0), (with_the_fee, 0)):
        await eventually(lambda c=claim, b=balance: _balance_is(client, c["id"], b), timeout=60)

    def waivers(ledger: dict[str, Any]) -> list[tuple[int, str]]:
        return [(e["amount_minor"], e["details"]["waived"]) for e in ledger["entries"] if e["kind"] == "waiver"]

    stated = "booked after the balance the payer paid in full was stated to them"
    expected = {
        # claim: (status, fees, interest, paid, waivers (newest charge first))
        as_shown["id"]: ("paid", 390, 0, 10_390, [(-40, stated), (-950, stated)]),
        short["id"]: ("open", 1_340, 40, 10_000, []),
        all_of_it["id"]: ("paid", 1_340, 40, 11_380, []),
        with_the_fee["id"]: ("paid", 1_340, 0, 11_340, [(-40, stated)]),
    }
    for claim_id, (status, fees, interest, paid, waived) in expected.items():
        row = await claim_of(client, claim_id)
        assert (row["status"], row["fees_minor"], row["interest_minor"], row["paid_minor"]) == (
            status,
            fees,
            interest,
            paid,
        ), claim_id
        ledger = (await client.get(f"/v1/claims/{claim_id}/ledger")).json()
        assert waivers(ledger) == waived, claim_id
        assert ledger["overpaid_minor"] == 0


async def _holds_expire_once_on_the_service_clock(api: Api, clock: ManualClock) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    _, client = await api.creditor("Valur")
    ids = [
        (await client.post("/v1/claims", json=claim_body(f"H-{i}", customer_no=f"C-{i}"))).json()["id"]
        for i in range(5)
    ]
    soon, later = START + timedelta(hours=1), START + timedelta(days=2)
    for claim_id, until in zip(ids, (soon, soon, soon, later, None), strict=True):
        body = {"reason": "handover notice"} | ({"until": until.isoformat()} if until else {})
        held = await client.post(f"/v1/claims/{claim_id}/hold", json=body)
        assert held.status_code == 200 and held.json()["status"] == "held", held.text

    # Two replicas at once: what one has locked the other skips, and nothing is released twice.
    past_soon = START + timedelta(hours=2)  # the service's own clock has not got there yet
    async with api.db.uow() as first, api.db.uow() as second:
        assert await lifecycle.release_expired_holds(first, past_soon, 1) == 1
        assert await lifecycle.release_expired_holds(second, past_soon, 10) == 2
        await second.commit()
        await first.commit()
    async with api.db.uow() as third:
        assert await lifecycle.release_expired_holds(third, past_soon, 10) == 0

    async with TopicReader(broker, "krafa.claims") as reader:
        # The service's loop, on the service's clock: the later hold ends when the clock passes it.
        clock.set(later + timedelta(minutes=1))
        await eventually(lambda: _status_is(client, ids[3], "open"), timeout=60)

        def released() -> list[uuid.UUID]:
            return [e.claim_id for e in reader.of_type(ClaimReleased)]

        await eventually(lambda: len(released()) == 4, timeout=60)
    assert sorted(released()) == sorted(uuid.UUID(i) for i in ids[:4])
    assert (await claim_of(client, ids[4]))["status"] == "held"  # no `until`: held until released by hand
    for claim_id in ids[:4]:
        claim = await claim_of(client, claim_id)
        assert claim["status"] == "open" and claim["held_until"] is None
        releases = [h for h in claim["history"] if h["event_type"] == ClaimReleased.TYPE]
        assert len(releases) == 1 and releases[0]["details"]["reason"] == "hold expired"
    timeline = (await client.get(f"/v1/claims/{ids[3]}/timeline")).json()["items"]
    assert [i["kind"] for i in timeline][-2:] == ["hold", "release"]
    assert timeline[-1]["details"] == {"reason": "hold expired", "until": later.isoformat()}


async def _webhook_urls_to_internal_addresses_are_refused(api: Api) -> None:
    creditor_id, client = await api.creditor("Víkingur")
    for url, says in [
        ("http://erp.example.is/hooks", "https"),
        ("https://127.0.0.1:8443/hooks", "loopback"),
        ("https://2130706433/hooks", "resolves to 127.0.0.1"),
        ("https://[::ffff:169.254.169.254]/latest", "link-local"),
        ("https://10.0.0.5/hooks", "private"),
        ("https://ops:pw@1.1.1.1/hooks", "credentials"),
    ]:
        refused = await client.post("/v1/webhooks", json={"url": url})
        assert refused.status_code == 422, (url, refused.text)
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["type"].endswith("/unsafe-webhook-url") and says in problem["detail"], problem
        assert problem["errors"][0]["pointer"] == "/url"
    assert (await client.get("/v1/webhooks")).json()["items"] == []

    # An endpoint stored earlier whose host now points inwards (DNS rebinding, or a rule made
    # stricter): the attempt is refused before any connection, and the log says why.
    calls: list[str] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> Response:
        calls.append(request.headers.get("webhook-id", ""))
        return Response(status_code=204)

    api.app.state.webhook_worker.poll_interval_s = 0.1
    # http allowed, so that what refuses the attempt is the address rule (the sink has no TLS).
    api.app.state.webhook_worker.url_policy = webhooks.UrlPolicy(allow_http=True)
    async with serving(receiver) as base:
        async with api.db.uow() as uow:
            endpoint = await webhook_repository.create_endpoint(
                uow.conn, creditor_id, f"{base}/hook", ["claim.disputed"], None, secret=webhooks.new_secret()
            )
            await uow.commit()
        claim = (await client.post("/v1/claims", json=claim_body())).json()
        assert (await client.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "x"})).status_code == 200

        async def attempts() -> list[dict[str, Any]]:
            log = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
            return list(log[0]["attempt_log"]) if log else []

        logged = await eventually(attempts, timeout=60)
    assert logged[0]["status_code"] is None and logged[0]["error"].startswith("refused: ")
    assert "loopback" in logged[0]["error"] and calls == []


async def _balance_is(client: httpx.AsyncClient, claim_id: str, expected: int) -> bool:
    return int((await claim_of(client, claim_id))["balance_minor"]) == expected


async def _status_is(client: httpx.AsyncClient, claim_id: str, expected: str) -> bool:
    return bool((await claim_of(client, claim_id))["status"] == expected)


async def _handled(api: Api, event_id: str) -> bool:
    async with api.db.connection() as conn:
        return bool(await conn.fetchval("SELECT true FROM inbox WHERE event_id::text = $1", event_id))
