r"""A claim bank on loopback: the part of the Icelandic banks' claims interface (IOBWS 3.2 Claims)
Krafa uses, an OAuth2 token endpoint, and the payer's netbank where the claims show up and are paid.

CLI::

    python -m krafa.sinks.bank_sink --host 127.0.0.1 --port 0 --spool DIR [--token-ttl 300]
        [--rate-limit 50 --burst 100] [--fail-rate 0.0 --fail-seed 0]

Once listening it prints ``READY http <host>:<port>``. SIGTERM/SIGINT stop it (exit 0).

The claimant's side (what Krafa calls), checked message by message against Krafa's description of
the standard (``krafa_iobws.contract``): a request it does not allow is answered 400 FORMAT_ERROR
with the reasons, and every answer is checked before it leaves (a violation is a sink bug: 500, and
``response_violations`` in the stats).

``POST /oauth2/token``
    RFC 6749 client credentials: ``grant_type=client_credentials``, the client's id and secret by
    HTTP Basic (or form fields) -> ``{"access_token", "token_type": "Bearer", "expires_in"}``.
    Tokens expire after ``--token-ttl`` seconds; a claims call with an expired one gets 401
    ``TOKEN_EXPIRED``, an unknown one 401 ``TOKEN_INVALID``.
``POST /v1/claims`` (createClaim)
    201 ``{"success": {claimKey, claimId, directPaymentClaim, print}}``. ``X-Idempotency-Key``: the
    same key with the same body answers the first answer again; with another body 400
    PARAMETER_NOT_CONSISTENT. A claim key that exists already: 201 ``{"error": {"resultCode":
    "CLAIM_EXISTS"}}`` (a cancelled one is recreated by PATCH, as the standard says).
``GET /v1/claims/{claimId}`` (getClaim): the claim with what is due now.
``PATCH /v1/claims/{claimId}`` (patchClaim, merge patch): amounts, dates, rules; ``claimStatus``
    ``Cancelled`` cancels, ``Unpaid`` recreates a cancelled claim; ``collectionStatus``
    ``SecondaryCollection`` hands it to collection. A paid claim answers ``CLAIM_IS_PAID``.
``GET /v1/claims/{claimId}/transactions``, ``GET /v1/claims/transactions?claimantId&dateFrom&dateTo``
    the payments (by booking date), paged by ``page``/``itemsPerPage`` with ``X-Paging-*`` headers.

Every claims call needs a valid token, is counted against the client's token bucket
(``--rate-limit`` per second, ``--burst``; over it: 429 with ``Retry-After``) and may be failed on
purpose: ``--fail-rate`` answers that fraction 503 (seeded by ``--fail-seed``), and
``POST /_sink/faults {"status": 500|503, "count": n}`` fails the next n claims calls;
``POST /_sink/revoke-tokens`` ends every token at once (the next call gets 401 TOKEN_INVALID).

The payer's side (the netbank, not part of the standard):

``GET /netbank/{kennitala}`` an HTML page of the payer's unpaid claims with a pay button each;
``GET /netbank/{kennitala}/claims`` the same as JSON;
``POST /netbank/{kennitala}/claims/{claimId}/pay`` JSON ``{"amount"?}`` (or the page's form): pays
    what is due (or part of it, where the claim allows partial payment) -> the transaction.
``GET /_sink/statement.camt054?claimantId=&date=`` the claim payments booked that day to the
    claimant's account as a camt.054 notification (reference: the claim id; bank reference: the
    transaction's batch id), as the bank file path sees them.
``GET /_sink/stats``, ``GET /healthz``.

Amounts are krónur (ISK has no minor unit). Dates follow the simulated clock when ``KRAFA_CLOCK``
is ``simulated`` (with ``KRAFA_SIM_START``, ``KRAFA_SIM_EPOCH``, ``KRAFA_SIM_SPEED``, as the
services read them). The state is journalled to ``DIR/bank.jsonl`` and rebuilt on start.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import html
import json
import logging
import os
import random
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from krafa_iobws import contract
from krafa_kit.clock import Clock, SimulatedClock, WallClock
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt054

from krafa.sinks.provider_sink import _AnnouncingServer, _format_hostport, _ignore_signal, _log_config

log = logging.getLogger("krafa.sinks.bank_sink")

ERROR_TYPE = "urn:krafa:bank:error"
# How the bank applies a payment: costs first, then default charges and interest, the principal last.
PAYMENT_ORDER = ("otherCosts", "otherDefaultCosts", "noticeCharge", "defaultCharge", "defaultInterest", "principal")
PAYER_BANK = "0133"


def clock_from_env() -> Clock:
    if os.environ.get("KRAFA_CLOCK") == "simulated":
        start = datetime.fromisoformat(os.environ.get("KRAFA_SIM_START", "2026-01-01T00:00:00+00:00"))
        epoch = float(os.environ.get("KRAFA_SIM_EPOCH") or time.time())
        return SimulatedClock(start, epoch, float(os.environ.get("KRAFA_SIM_SPEED", "1.0")))
    return WallClock()


# -- the claims -------------------------------------------------------------------------------


@dataclass
class Paid:
    """What payments covered so far, by component (krónur)."""

    principal: int = 0
    other_costs: int = 0
    other_default_costs: int = 0
    notice: int = 0
    default_charge: int = 0
    default_interest: int = 0

    @property
    def total(self) -> int:
        return (
            self.principal
            + self.other_costs
            + self.other_default_costs
            + self.notice
            + self.default_charge
            + self.default_interest
        )


@dataclass
class Claim:
    claim_id: str
    key: dict[str, str]
    details: dict[str, Any]  # the claim's fields as created and patched (createClaimDetails names)
    status: str = "Unpaid"
    collection_status: str = "PrimaryCollection"
    secondary_template: str | None = None
    created: str = ""
    changed: str = ""
    closing: str | None = None
    paid: Paid = field(default_factory=Paid)

    @property
    def claimant(self) -> str:
        return self.key["claimantId"]

    @property
    def payor(self) -> str:
        return str(self.details["payorId"])

    def due(self, today: date) -> dict[str, int]:
        """What is due now, by component, after what was paid."""
        d = self.details
        amount = int(d.get("amount") or 0)
        fee = d.get("paymentFee") or {}
        charge = _default_charge(d.get("defaultCharge"), amount, self.key, d, today)
        interest = _default_interest(d.get("defaultInterest"), amount + charge, amount, self.key, d, today)
        due = {
            "otherCosts": int(d.get("otherCostsAmount") or 0) - self.paid.other_costs,
            "otherDefaultCosts": int(d.get("otherDefaultCostsAmount") or 0) - self.paid.other_default_costs,
            "noticeCharge": int(fee.get("paperlessFee") or 0) - self.paid.notice,
            "defaultCharge": charge - self.paid.default_charge,
            "defaultInterest": interest - self.paid.default_interest,
            "principal": amount - self.paid.principal,
        }
        return {k: max(v, 0) for k, v in due.items()}

    def visible_to_payer(self, today: date) -> bool:
        expires = self.details.get("expirationDate")
        return self.status == "Unpaid" and not (expires and date.fromisoformat(expires) < today)

    def as_details(self, today: date) -> dict[str, Any]:
        d = self.details
        due = self.due(today)
        out: dict[str, Any] = {
            "claimKey": self.key,
            "payorId": self.payor,
            "claimStatus": self.status,
            "collectionStatus": self.collection_status,
            "expirationDate": d["expirationDate"],
            "templateCode": d["templateCode"],
            "amount": d["amount"],
            "defaultChargeAmountDue": due["defaultCharge"],
            "defaultInterestAmountDue": due["defaultInterest"],
            "noticeChargeAmountDue": due["noticeCharge"],
            "otherCostsAmountDue": due["otherCosts"],
            "otherDefaultCostsAmountDue": due["otherDefaultCosts"],
            "totalAmountDue": sum(due.values()) if self.status == "Unpaid" else 0,
            "finalDueDate": d["finalDueDate"],
            "otherCostsAmount": d.get("otherCostsAmount") or 0,
            "otherDefaultCostsAmount": d.get("otherDefaultCostsAmount") or 0,
            "isPartialPaymentAllowed": bool(d.get("isPartialPaymentAllowed", False)),
            "isPartiallyPaid": self.paid.total > 0 and self.status == "Unpaid",
            "currency": d.get("currency") or "ISK",
            "directPaymentClaim": False,
            "print": False,
            "lastChangeDate": self.changed,
            "createdDate": self.created,
            "claimType": d.get("claimType") or "NormalClaim",
        }
        for name in ("reference", "additionalInformation", "paymentFee", "defaultCharge", "defaultInterest"):
            if d.get(name) is not None:
                out[name] = d[name]
        if self.closing:
            out["closingDate"] = self.closing
        if self.secondary_template:
            out["secondaryCollectionTemplateCode"] = self.secondary_template
        return out


def _reference_date(rule: dict[str, Any], key: dict[str, str], details: dict[str, Any]) -> date:
    return date.fromisoformat(key["dueDate"] if rule.get("referenceDate") == "DueDate" else details["finalDueDate"])


def _default_charge(
    rule: dict[str, Any] | None, amount: int, key: dict[str, str], details: dict[str, Any], today: date
) -> int:
    """The default charge (vanskilagjald) reached by today: the later of `first`/`second` whose day
    after the reference date has passed, a fixed amount or a percentage of the claim amount."""
    if not rule:
        return 0
    days = (today - _reference_date(rule, key, details)).days
    charge = 0
    for step in (rule.get("first"), rule.get("second")):
        if step and days > int(step.get("day") or 0):
            value = float(step.get("value") or 0)
            charge = round(amount * value / 100) if step.get("chargeType") == "Percentage" else round(value)
    return charge


def _default_interest(
    rule: dict[str, Any] | None,
    with_charge: int,
    amount: int,
    key: dict[str, str],
    details: dict[str, Any],
    today: date,
) -> int:
    """Default interest (dráttarvextir) from the reference date once the final due date has passed,
    simple interest at `percentage` a year (the Central Bank's rate is not known here: 0 without one)."""
    if not rule or today <= date.fromisoformat(details["finalDueDate"]):
        return 0
    days = (today - _reference_date(rule, key, details)).days
    base = with_charge if rule.get("baseAmountType") == "AmountAndDefaultCharge" else amount
    pct = float(rule.get("percentage") or 0)
    match rule.get("baseTimeType"):
        case "Daily":
            return round(base * pct / 100 * days)
        case "360":
            return round(base * pct / 100 * days / 360)
        case _:
            year = 366 if today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0) else 365
            return round(base * pct / 100 * days / year)


def claim_id_of(key: dict[str, str]) -> str:
    return f"{key['claimantId']}{key['account']}+{key['dueDate'].replace('-', '')}"


class Bank:
    """The bank's state, journalled line by line so a restart keeps it."""

    def __init__(self, spool: Path, clock: Clock) -> None:
        self.clock = clock
        self.claims: dict[str, Claim] = {}
        self.transactions: list[dict[str, Any]] = []
        self.idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.lock = threading.Lock()
        spool.mkdir(parents=True, exist_ok=True)
        self.journal_path = spool / "bank.jsonl"
        self._load()
        self.journal = self.journal_path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.journal_path.exists():
            return
        for line in self.journal_path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            match entry["op"]:
                case "claim":
                    c = entry["claim"]
                    self.claims[c["claim_id"]] = Claim(**{**c, "paid": Paid(**c["paid"])})
                case "transaction":
                    self.transactions.append(entry["transaction"])
                case "idempotency":
                    self.idempotency[entry["key"]] = (entry["fingerprint"], entry["status"], entry["body"])

    def _write(self, entry: dict[str, Any]) -> None:
        self.journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.journal.flush()

    def save(self, claim: Claim) -> None:
        claim.changed = self.now().isoformat().replace("+00:00", "Z")
        record = {**claim.__dict__, "paid": claim.paid.__dict__}
        self._write({"op": "claim", "claim": record})

    def remember(self, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        self.idempotency[key] = (fingerprint, status, body)
        self._write({"op": "idempotency", "key": key, "fingerprint": fingerprint, "status": status, "body": body})

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC).replace(microsecond=0)

    def today(self) -> date:
        return self.now().date()

    def pay(self, claim: Claim, amount: int | None) -> dict[str, Any]:
        """The payer pays `amount` (default: all that is due) in the netbank."""
        today = self.today()
        due = claim.due(today)
        total = sum(due.values())
        if claim.status != "Unpaid" or not claim.visible_to_payer(today):
            raise PayError("this claim is not open for payment")
        amount = total if amount is None else amount
        if amount <= 0:
            raise PayError("pay a positive amount")
        if amount > total:
            raise PayError(f"at most {total} kr. are due")
        if amount < total and not claim.details.get("isPartialPaymentAllowed"):
            raise PayError("this claim must be paid in full")
        left = amount
        parts: dict[str, int] = {}
        # Costs first, then default charges and interest, the principal last.
        for name in (
            "otherCosts",
            "otherDefaultCosts",
            "noticeCharge",
            "defaultCharge",
            "defaultInterest",
            "principal",
        ):
            take = min(left, due[name])
            parts[name] = take
            left -= take
        paid = claim.paid
        paid.other_costs += parts["otherCosts"]
        paid.other_default_costs += parts["otherDefaultCosts"]
        paid.notice += parts["noticeCharge"]
        paid.default_charge += parts["defaultCharge"]
        paid.default_interest += parts["defaultInterest"]
        paid.principal += parts["principal"]
        complete = amount == total
        if complete:
            claim.status = "Paid"
            claim.closing = today.isoformat()
        now = self.now()
        transaction = {
            "claimKey": claim.key,
            "payorId": claim.payor,
            "amount": parts["principal"],
            "finalDueDate": claim.details["finalDueDate"],
            "templateCode": claim.details["templateCode"],
            "transactionBank": PAYER_BANK,
            "transactionTimestamp": now.isoformat().replace("+00:00", "Z"),
            "bookingDate": today.isoformat(),
            "valueDate": today.isoformat(),
            "paymentType": "Complete" if complete else "Partial",
            "depositedAmount": amount,
            "totalAmountPaid": amount,
            "capitalGainsTax": 0,
            "noticeChargeAmountPaid": parts["noticeCharge"],
            "defaultChargeAmountPaid": parts["defaultCharge"],
            "otherCostsAmountPaid": parts["otherCosts"],
            "otherDefaultCostsAmountPaid": parts["otherDefaultCosts"],
            "defaultInterestAmountPaid": parts["defaultInterest"],
            "discountAmountGiven": 0,
            "currency": claim.details.get("currency") or "ISK",
            # ISO 20022 references (AcctSvcrRef) hold 35 characters: the bank file carries this one too.
            "transactionBatchId": uuid.uuid4().hex,
        }
        if claim.details.get("reference"):
            transaction["reference"] = claim.details["reference"]
        if claim.secondary_template:
            transaction["secondaryCollectionTemplateCode"] = claim.secondary_template
        self.transactions.append(transaction)
        self._write({"op": "transaction", "transaction": transaction})
        self.save(claim)
        return transaction


class PayError(Exception):
    pass


# -- the gateway: tokens, rate limits, injected faults -----------------------------------------------


@dataclass
class Gateway:
    client_id: str
    client_secret: str
    token_ttl_s: float
    rate_per_s: float
    burst: float
    fail_rate: float
    rng: random.Random
    monotonic: Callable[[], float] = time.monotonic
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    forced_faults: list[int] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def issue(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (self.client_id, self.monotonic() + self.token_ttl_s)
        self.count("tokens_issued")
        return token, round(self.token_ttl_s)

    def who(self, authorization: str | None) -> tuple[str | None, str | None]:
        """(client, None) for a good bearer token, else (None, the 401 code)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, "TOKEN_UNKNOWN"
        found = self.tokens.get(authorization[7:].strip())
        if found is None:
            return None, "TOKEN_INVALID"
        client, expires = found
        if self.monotonic() >= expires:
            return None, "TOKEN_EXPIRED"
        return client, None

    def admit(self, client: str) -> float:
        """0 when the client's bucket has a token for this call, else the seconds until it has."""
        if self.rate_per_s <= 0:
            return 0.0
        now = self.monotonic()
        level, at = self.buckets.get(client, (self.burst, now))
        level = min(self.burst, level + (now - at) * self.rate_per_s)
        if level >= 1:
            self.buckets[client] = (level - 1, now)
            return 0.0
        self.buckets[client] = (level, now)
        return (1 - level) / self.rate_per_s

    def fault(self) -> int | None:
        if self.forced_faults:
            return self.forced_faults.pop(0)
        if self.fail_rate > 0 and self.rng.random() < self.fail_rate:
            return 503
        return None


# -- the app -----------------------------------------------------------------------------------------


def _error(code: str, title: str, detail: str = "") -> dict[str, Any]:
    body = {"type": ERROR_TYPE, "code": code, "title": title[:70]}
    if detail:
        body["detail"] = detail[:500]
    return body


def _not_found(path: str, text: str) -> dict[str, Any]:
    return {"messages": [{"category": "ERROR", "code": "RESOURCE_UNKNOWN", "path": path, "text": text[:500]}]}


def _operation(method: str, rest: str) -> str:
    """The standard's operation id of a claims call (for the stats)."""
    parts = rest.split("/")
    if rest == "claims":
        return "createClaim" if method == "POST" else "getClaims"
    if rest == "claims/transactions":
        return "getClaimsTransactions"
    if len(parts) == 3:
        return "getClaimTransactions"
    return "patchClaim" if method == "PATCH" else "getClaim"


def _fingerprint(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except ValueError:
        return body.decode("utf-8", "replace")


def create_app(
    spool: Path,
    *,
    clock: Clock | None = None,
    client_id: str = "krafa",
    client_secret: str = "krafa-bank-secret",  # noqa: S107 - the loopback sink's default client
    token_ttl_s: float = 300.0,
    rate_per_s: float = 50.0,
    burst: float = 100.0,
    fail_rate: float = 0.0,
    fail_seed: int = 0,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The bank; `clock` dates claims and payments (the services' simulated clock), `monotonic`
    times tokens and rate limits (wall time; a test may drive it)."""
    bank = Bank(spool, clock or clock_from_env())
    gateway = Gateway(
        client_id, client_secret, token_ttl_s, rate_per_s, burst, fail_rate, random.Random(fail_seed), monotonic
    )
    app = FastAPI(title="Krafa bank sink (IOBWS 3.2 Claims)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bank, app.state.gateway = bank, gateway

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sink/stats")
    def stats() -> dict[str, Any]:
        with bank.lock:
            by_status: dict[str, int] = {}
            for claim in bank.claims.values():
                by_status[claim.status] = by_status.get(claim.status, 0) + 1
            return {**gateway.stats, "claims": by_status, "transactions": len(bank.transactions)}

    @app.post("/_sink/faults")
    async def faults(request: Request) -> Response:
        body = await request.json()
        status, count = int(body.get("status", 503)), int(body.get("count", 1))
        if status not in (500, 503) or not 0 < count <= 1000:
            return JSONResponse({"detail": "status 500 or 503, count 1-1000"}, status_code=422)
        gateway.forced_faults.extend([status] * count)
        return JSONResponse({"pending": len(gateway.forced_faults)})

    @app.post("/_sink/revoke-tokens")
    def revoke_tokens() -> dict[str, int]:
        """End every token now, as a bank may (a key rotation): the next call gets 401 TOKEN_INVALID."""
        revoked = len(gateway.tokens)
        gateway.tokens.clear()
        return {"revoked": revoked}

    @app.post("/oauth2/token")
    async def token(request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client = secret = None
        headers = {"Cache-Control": "no-store"}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400, headers=headers)
        if not (
            client
            and secret
            and secrets.compare_digest(client, gateway.client_id)
            and secrets.compare_digest(secret, gateway.client_secret)
        ):
            gateway.count("token_refused")
            return JSONResponse({"error": "invalid_client"}, status_code=401, headers=headers)
        access, expires_in = gateway.issue()
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": expires_in}, headers=headers)

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    async def claims_api(request: Request, rest: str) -> Response:
        body = await request.body()
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        status, payload, extra = _answer(request, rest, body)
        headers = {"X-Request-ID": request_id, **extra}
        content = b"" if payload is None else contract.json_body(payload)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            contract.check_response(
                request.method, str(request.url), dict(request.headers), body, status, headers, content
            )
        except contract.ContractViolation as exc:
            gateway.count("response_violations")
            log.error("the bank sink's own answer breaks the contract: %s", exc)
            return Response(status_code=500, headers={"X-Request-ID": request_id})
        return Response(content, status_code=status, headers=headers)

    def _answer(
        request: Request, rest: str, body: bytes
    ) -> tuple[int, dict[str, Any] | list[Any] | None, dict[str, str]]:
        path = "/v1/" + rest
        client, refused = gateway.who(request.headers.get("authorization"))
        if client is None:
            gateway.count("unauthorized")
            assert refused is not None
            return 401, _error(refused, "Unauthorized", "a valid bearer token from /oauth2/token is needed"), {}
        wait = gateway.admit(client)
        if wait > 0:
            gateway.count("rate_limited")
            return 429, None, {"Retry-After": str(max(1, round(wait + 0.5)))}
        if (status := gateway.fault()) is not None:
            gateway.count("injected_faults")
            return status, None, {}
        try:
            contract.check_request(request.method, str(request.url), dict(request.headers), body)
        except contract.ContractViolation as exc:
            gateway.count("request_violations")
            return (
                400,
                _error("FORMAT_ERROR", "The request does not follow IOBWS Claims 3.2", "; ".join(exc.errors)),
                {},
            )
        gateway.count(_operation(request.method, rest))
        with bank.lock:
            if request.method == "POST" and path == "/v1/claims":
                return _create(request, body)
            if request.method == "GET" and path == "/v1/claims/transactions":
                return _transactions(request, None)
            parts = rest.split("/")
            claim_id = parts[1] if len(parts) >= 2 else ""
            claim = bank.claims.get(claim_id)
            if claim is None:
                return 404, _not_found(path, f"no claim {claim_id}"), {}
            if len(parts) == 3 and parts[2] == "transactions":
                return _transactions(request, claim)
            if request.method == "GET":
                return 200, claim.as_details(bank.today()), {}
            return _patch(claim, json.loads(body))

    def _create(request: Request, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        data = json.loads(body)
        key = request.headers.get("x-idempotency-key")
        fingerprint = _fingerprint(body)
        if key and key in bank.idempotency:
            seen, status, first = bank.idempotency[key]
            if seen != fingerprint:
                return 400, _error("PARAMETER_NOT_CONSISTENT", "Idempotency key reused", f"{key} had another body"), {}
            gateway.count("idempotent_replays")
            return status, first, {}
        claim_key = data["claimKey"]
        claim_id = claim_id_of(claim_key)
        if claim_id in bank.claims:
            answer = {
                "error": {
                    "claimKey": claim_key,
                    "claimId": claim_id,
                    "resultCode": "CLAIM_EXISTS",
                    "resultMessage": "a claim with this key exists",
                }
            }
        else:
            now = bank.now().isoformat().replace("+00:00", "Z")
            claim = Claim(claim_id=claim_id, key=claim_key, details=data, created=now)
            bank.claims[claim_id] = claim
            bank.save(claim)
            answer = {
                "success": {"claimKey": claim_key, "claimId": claim_id, "directPaymentClaim": False, "print": False}
            }
        if key:
            bank.remember(key, fingerprint, 201, answer)
        return 201, answer, {}

    def _patch(claim: Claim, data: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        def error(code: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
            failure = {"claimKey": claim.key, "claimId": claim.claim_id, "resultCode": code, "resultMessage": message}
            return 200, {"error": failure}, {}

        if claim.status == "Paid":
            return error("CLAIM_IS_PAID", "a paid claim cannot be changed")
        status = data.pop("claimStatus", None)
        collection = data.pop("collectionStatus", None)
        if claim.status == "Cancelled" and status != "Unpaid":
            return error("CLAIM_IS_CANCELLED", "recreate it (claimStatus Unpaid) before changing it")
        if status == "Paid":
            return error("CLAIM_OTHERS", "a claim is paid by its payer, not by its claimant")
        for name, value in data.items():
            if value is None:
                claim.details.pop(name, None)
            else:
                claim.details[name] = value
        if status == "Cancelled":
            claim.status, claim.closing = "Cancelled", bank.today().isoformat()
        elif status == "Unpaid":
            claim.status, claim.closing = "Unpaid", None
        if collection == "SecondaryCollection":
            claim.collection_status = collection
            claim.secondary_template = claim.secondary_template or "MI1"
        elif collection == "PrimaryCollection":
            if claim.collection_status != "SecondaryCollection":
                return error("CLAIM_NOT_IN_SECONDARY_STATE", "the claim is not in secondary collection")
            claim.collection_status = collection
        elif collection == "LegalCollection":
            claim.collection_status = collection
        bank.save(claim)
        return 200, {"success": {"claimKey": claim.key, "claimId": claim.claim_id}}, {}

    def _transactions(request: Request, claim: Claim | None) -> tuple[int, list[Any], dict[str, str]]:
        q = request.query_params
        if claim is not None:
            found = [t for t in bank.transactions if claim_id_of(t["claimKey"]) == claim.claim_id]
        else:
            since, until = date.fromisoformat(q["dateFrom"]), date.fromisoformat(q["dateTo"])
            claimant = q.get("claimantId")
            found = [
                t
                for t in bank.transactions
                if since <= date.fromisoformat(t["bookingDate"]) <= until
                and (claimant is None or t["claimKey"]["claimantId"] == claimant)
            ]
        per_page = max(1, min(int(q.get("itemsPerPage") or 100), 1000))
        page = max(1, int(q.get("page") or 1))
        pages = max(1, -(-len(found) // per_page))
        headers = {
            "X-Paging-CurrentPage": str(page),
            "X-Paging-TotalPages": str(pages),
            "X-Paging-TotalItems": str(len(found)),
            "X-Paging-PerPage": str(per_page),
        }
        return 200, found[(page - 1) * per_page : page * per_page], headers

    # -- the payer's netbank ------------------------------------------------------------------------

    def _payers_claims(kennitala: str) -> list[dict[str, Any]]:
        today = bank.today()
        rows = []
        for claim in bank.claims.values():
            if claim.payor != kennitala or not claim.visible_to_payer(today):
                continue
            due = claim.due(today)
            account = claim.key["account"]
            rows.append(
                {
                    "claimId": claim.claim_id,
                    "claimantId": claim.claimant,
                    "claimBank": account[:4],
                    "ledger": account[4:6],
                    "claimNumber": account[6:],
                    "dueDate": claim.key["dueDate"],
                    "finalDueDate": claim.details["finalDueDate"],
                    "amount": claim.details["amount"],
                    "due": due,
                    "totalAmountDue": sum(due.values()),
                    "isPartialPaymentAllowed": bool(claim.details.get("isPartialPaymentAllowed")),
                    "isPartiallyPaid": claim.paid.total > 0,
                    "collectionStatus": claim.collection_status,
                }
            )
        return sorted(rows, key=lambda r: (r["dueDate"], r["claimId"]))

    @app.get("/netbank/{kennitala}/claims")
    def netbank_claims(kennitala: str) -> dict[str, Any]:
        with bank.lock:
            return {"payorId": kennitala, "claims": _payers_claims(kennitala), "date": bank.today().isoformat()}

    @app.post("/netbank/{kennitala}/claims/{claim_id}/pay")
    async def netbank_pay(kennitala: str, claim_id: str, request: Request) -> Response:
        raw = await request.body()
        form = "form" in (request.headers.get("content-type") or "")
        try:
            if form:
                given = parse_qs(raw.decode()).get("amount", [""])[-1].strip()
                amount = int(given) if given else None
            else:
                data = json.loads(raw) if raw.strip() else {}
                amount = None if data.get("amount") is None else int(data["amount"])
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"detail": "amount is a whole number of krónur"}, status_code=422)
        with bank.lock:
            claim = bank.claims.get(claim_id)
            if claim is None or claim.payor != kennitala:
                return JSONResponse({"detail": "no such claim in this netbank"}, status_code=404)
            try:
                transaction = bank.pay(claim, amount)
            except PayError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=409)
        gateway.count("netbank_payments")
        if form:
            return RedirectResponse(f"/netbank/{quote(kennitala)}", status_code=303)
        return JSONResponse(transaction, status_code=201)

    @app.get("/netbank/{kennitala}", response_class=HTMLResponse)
    def netbank_page(kennitala: str) -> str:
        with bank.lock:
            rows = _payers_claims(kennitala)
            today = bank.today()
        lines = []
        for r in rows:
            kt = r["claimantId"]
            lines.append(
                "<tr>"
                f"<td>{html.escape(kt[:6])}-{html.escape(kt[6:])}</td>"
                f"<td>{html.escape(r['claimBank'])}-{r['ledger']}-{html.escape(r['claimNumber'])}</td>"
                f"<td>{html.escape(r['dueDate'])}</td><td>{html.escape(r['finalDueDate'])}</td>"
                f"<td class='n'>{r['totalAmountDue']:,} kr.</td>"
                f"<td><form method='post' action='/netbank/{quote(kennitala)}/claims/{quote(r['claimId'])}/pay'>"
                + ("<input name='amount' size='8' placeholder='upphæð'>" if r["isPartialPaymentAllowed"] else "")
                + "<button>Greiða</button></form></td></tr>"
            )
        body = "".join(lines) or "<tr><td colspan='6'>Engar ógreiddar kröfur.</td></tr>"
        return (
            "<!doctype html><html lang='is'><head><meta charset='utf-8'><title>Netbanki: ógreiddir reikningar</title>"
            "<style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}"
            "td,th{padding:.4rem .8rem;border-bottom:1px solid #ccc;text-align:left}.n{text-align:right}</style>"
            f"</head><body><h1>Ógreiddir reikningar</h1><p>Kennitala {html.escape(kennitala)} · {today}</p>"
            "<table><tr><th>Kröfuhafi (kt.)</th><th>Krafa (banki-hb-númer)</th><th>Gjalddagi</th><th>Eindagi</th>"
            f"<th>Upphæð</th><th></th></tr>{body}</table></body></html>"
        )

    @app.get("/_sink/statement.camt054")
    def statement(request: Request) -> Response:
        claimant = request.query_params.get("claimantId", "")
        day = date.fromisoformat(request.query_params.get("date") or bank.today().isoformat())
        with bank.lock:
            credits = [
                GeneratedCredit(
                    amount_minor=int(t["depositedAmount"]),
                    currency=t["currency"],
                    reference=claim_id_of(t["claimKey"]).replace("+", ""),
                    booking_date=day,
                    bank_ref=t["transactionBatchId"],
                )
                for t in bank.transactions
                if t["claimKey"]["claimantId"] == claimant and t["bookingDate"] == day.isoformat()
            ]
        document = camt054(
            credits,
            account_iban="IS140159260076545510730339",
            msg_id=f"CLAIMS-{claimant}-{day:%Y%m%d}",
            created=datetime.now(UTC),
        )
        return Response(document, media_type="application/xml")

    return app


# -- the process ---------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m krafa.sinks.bank_sink", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see READY line)")
    p.add_argument("--spool", type=Path, required=True)
    p.add_argument("--client-id", default=os.environ.get("KRAFA_BANK_SINK_CLIENT_ID", "krafa"))
    p.add_argument("--client-secret", default=os.environ.get("KRAFA_BANK_SINK_CLIENT_SECRET", "krafa-bank-secret"))
    p.add_argument("--token-ttl", type=float, default=float(os.environ.get("KRAFA_BANK_SINK_TOKEN_TTL_S", "300")))
    p.add_argument("--rate-limit", type=float, default=float(os.environ.get("KRAFA_BANK_SINK_RATE_LIMIT", "50")))
    p.add_argument("--burst", type=float, default=float(os.environ.get("KRAFA_BANK_SINK_BURST", "100")))
    p.add_argument("--fail-rate", type=float, default=float(os.environ.get("KRAFA_BANK_SINK_FAIL_RATE", "0")))
    p.add_argument("--fail-seed", type=int, default=int(os.environ.get("KRAFA_BANK_SINK_FAIL_SEED", "0")))
    p.add_argument("--log-level", default=os.environ.get("KRAFA_LOG_LEVEL", "INFO"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    level = str(args.log_level).upper()
    app = create_app(
        args.spool,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl_s=args.token_ttl,
        rate_per_s=args.rate_limit,
        burst=args.burst,
        fail_rate=args.fail_rate,
        fail_seed=args.fail_seed,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    config = uvicorn.Config(
        app, log_config=_log_config(level), log_level=level.lower(), lifespan="off", timeout_graceful_shutdown=5
    )
    server = _AnnouncingServer(config, f"READY http {_format_hostport(args.host, sock.getsockname()[1])}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
