"""What makes a new claim unique: its invoice number per creditor, its payment reference across
all creditors.

A payment reference names one claim across all creditors (the unique index `claims_reference`
holds it), so a bank payment carrying it can only settle that claim. Generated references (and
Icelandic bank claims' numbers) are drawn at random (krafa_events.references.random_number); a
draw that hits a reference already held, or one drawn twice in the same request, is drawn again. A
reference the creditor supplies (its own KID, RF or Icelandic claim number) that a claim already
holds is refused: naming the claim when it is the creditor's own, and only saying that it is in
use when another creditor holds it (who, and for what, is not this creditor's business). An
invoice number already registered by the creditor is refused naming the claim it belongs to.
Every conflict of a request is reported at once, each with its JSON pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events.catalog import PaymentIdentity
from krafa_kit import errors

from krafa_claims_api import repository

# Enough redraws that only a broken random source runs out (each draw collides with a chance
# below 1e-7).
MAX_DRAWS = 20


@dataclass(frozen=True, slots=True)
class Conflict:
    index: int
    field: str  # invoice_no or reference
    code: str  # duplicate-invoice or reference-in-use
    detail: str
    existing_claim_id: UUID | None = None


def _pointer(prefix: str, index: int, field: str) -> str:
    return f"{prefix.format(index)}/{field}"


def conflict_refusal(conflicts: Sequence[Conflict], prefix: str) -> errors.Conflict:
    """A Conflict naming every conflict; with one, its detail and the existing claim at the top level."""
    kinds = {"duplicate-invoice": "duplicate-claim", "reference-in-use": "reference-in-use"}
    codes = {c.code for c in conflicts}
    kind = kinds[next(iter(codes))] if len(codes) == 1 else "conflict"
    found: list[dict[str, Any]] = []
    for c in conflicts:
        error: dict[str, Any] = {"pointer": _pointer(prefix, c.index, c.field), "code": c.code, "detail": c.detail}
        if c.existing_claim_id is not None:
            error["existing_claim_id"] = str(c.existing_claim_id)
        found.append(error)
    extra: dict[str, Any] = {"errors": found}
    first = conflicts[0]
    if len(conflicts) == 1 and first.existing_claim_id is not None:
        extra["existing_claim_id"] = str(first.existing_claim_id)
    detail = first.detail if len(conflicts) == 1 else f"{len(conflicts)} claims conflict with existing ones: see errors"
    return errors.Conflict(detail, kind=kind, facts=extra)


def _in_request(invoice_nos: Sequence[str], refs: Sequence[str], generated: set[int]) -> list[Conflict]:
    """Rows of one request that repeat an earlier row's invoice number or supplied reference."""
    conflicts = []
    first_invoice: dict[str, int] = {}
    first_reference: dict[str, int] = {}
    for index, (invoice, ref) in enumerate(zip(invoice_nos, refs, strict=True)):
        if invoice in first_invoice:
            conflicts.append(
                Conflict(
                    index,
                    "invoice_no",
                    "duplicate-invoice",
                    f"invoice {invoice!r} is also claim {first_invoice[invoice]} of this request",
                )
            )
        else:
            first_invoice[invoice] = index
        if index not in generated:
            if ref in first_reference:
                conflicts.append(
                    Conflict(
                        index,
                        "reference",
                        "reference-in-use",
                        f"payment reference {ref} is also claim {first_reference[ref]} of this request",
                    )
                )
            else:
                first_reference[ref] = index
    return conflicts


async def settle(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    invoice_nos: Sequence[str],
    refs: list[str],
    generated: set[int],
    *,
    redraw: Callable[[int], str],
    prefix: str,
) -> None:
    """Check the new claims' invoice numbers and references against every claim, redrawing the
    generated references (`redraw(index)` draws the claim's anew and returns its reference; `refs`
    is updated in place) until all are free; raise a Conflict naming every conflict. `prefix`
    is the JSON pointer of a claim with `{}` for its index."""
    conflicts = _in_request(invoice_nos, refs, generated)
    given = {ref: i for i, ref in enumerate(refs) if i not in generated}
    held = await repository.holders(conn, creditor_id, list(invoice_nos), refs)
    by_invoice = {r["invoice_no"]: r["id"] for r in held if r["creditor_id"] == creditor_id}
    taken = {r["reference"]: r for r in held}
    for index, invoice in enumerate(invoice_nos):
        if invoice in by_invoice:
            claim_id = by_invoice[invoice]
            conflicts.append(
                Conflict(
                    index,
                    "invoice_no",
                    "duplicate-invoice",
                    f"invoice {invoice!r} is already registered as claim {claim_id}",
                    claim_id,
                )
            )
    for ref, index in given.items():
        holder = taken.get(ref)
        if holder is None:
            continue
        if holder["creditor_id"] == creditor_id:
            conflicts.append(
                Conflict(
                    index,
                    "reference",
                    "reference-in-use",
                    f"payment reference {ref} already belongs to claim {holder['id']}",
                    holder["id"],
                )
            )
        else:
            conflicts.append(
                Conflict(
                    index,
                    "reference",
                    "reference-in-use",
                    f"payment reference {ref} is already in use: a payment with it could not be told apart; "
                    "send the claim without a reference to get a new one, or use another",
                )
            )
    if conflicts:
        raise conflict_refusal(sorted(conflicts, key=lambda c: (c.index, c.field)), prefix)
    await _redraw(conn, creditor_id, refs, generated, set(taken), redraw)


async def _redraw(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    refs: list[str],
    generated: set[int],
    taken: set[str],
    redraw: Callable[[int], str],
) -> None:
    for _ in range(MAX_DRAWS):
        seen: set[str] = {ref for i, ref in enumerate(refs) if i not in generated}
        again = []
        for index in sorted(generated):
            if refs[index] in taken or refs[index] in seen:
                again.append(index)
            seen.add(refs[index])
        if not again:
            return
        for index in again:
            refs[index] = redraw(index)
        fresh = [refs[i] for i in again]
        taken |= {r["reference"] for r in await repository.holders(conn, creditor_id, [], fresh)}
    raise RuntimeError("could not draw a free payment reference")


async def free_payment(
    conn: asyncpg.Connection, creditor_id: UUID, draw: Callable[[], PaymentIdentity]
) -> PaymentIdentity:
    """How the debtor of a claim the system creates itself (a card instalment's slip) pays: a
    fresh draw whose reference no claim holds."""
    drawn = [draw()]

    def again(_: int) -> str:
        drawn[0] = draw()
        return drawn[0].reference

    refs = [drawn[0].reference]
    taken = {r["reference"] for r in await repository.holders(conn, creditor_id, [], refs)}
    await _redraw(conn, creditor_id, refs, {0}, taken, again)
    return drawn[0]
