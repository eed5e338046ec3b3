"""The event contract: envelope round trip, key rule, dead-letter reasons, committed schemas."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from krafa_events import REGISTRY, ClaimCreated, Topic, UndecodableMessage, decode, dlq_topic, encode, references
from krafa_events.schema_export import render_all
from krafa_events.testing import a_claim_created, a_payment_received, a_reminder_due

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def test_envelope_round_trip_keeps_id_type_subject_and_payload() -> None:
    event = a_claim_created()
    encoded = encode(event, source="/krafa/claims-api")
    headers = dict(encoded.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"krafa.claim.created.v1"
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"].startswith(b"00-")
    decoded = decode(list(encoded.headers), encoded.value)
    assert decoded.id == encoded.event_id
    assert decoded.subject == str(event.claim_id)
    assert decoded.event == event


def test_every_event_about_a_debtor_shares_one_key() -> None:
    claim = a_claim_created()
    keys = {encode(e, source="/t").key for e in (claim, a_reminder_due(claim), a_payment_received(claim))}
    assert keys == {f"{claim.creditor_id}:{claim.debtor_id}".encode()}


def test_topics_are_per_aggregate_and_dlq_named_after_them() -> None:
    assert {spec.topic for spec in REGISTRY} == set(Topic)
    assert dlq_topic("krafa.claims") == "krafa.claims.dlq"


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "missing CloudEvents headers"),
        ([("ce_type", b"krafa.nope.v1"), ("ce_id", b"1")], b"{}", "unknown event type"),
        (
            [
                ("ce_type", ClaimCreated.TYPE.encode()),
                ("ce_id", b"1"),
                ("ce_source", b"/x"),
                ("ce_specversion", b"1.0"),
            ],
            b'{"claim_id": "not a uuid"}',
            "payload does not match",
        ),
        (
            [
                ("ce_type", ClaimCreated.TYPE.encode()),
                ("ce_id", b"1"),
                ("ce_source", b"/x"),
                ("ce_specversion", b"1.0"),
            ],
            b"\xff\xfe",
            "payload does not match",
        ),
    ],
)
def test_undecodable_messages_say_why(headers: list[tuple[str, bytes]], value: bytes, reason: str) -> None:
    with pytest.raises(UndecodableMessage, match=reason):
        decode(headers, value)


@given(st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=6), st.binary(max_size=200))
def test_decode_never_crashes_on_garbage(headers: list[tuple[str, bytes]], value: bytes) -> None:
    with contextlib.suppress(UndecodableMessage):
        decode(headers, value)


def test_old_consumer_ignores_new_fields() -> None:
    event = a_claim_created()
    payload = json.loads(event.model_dump_json())
    payload["a_field_added_later"] = 1
    assert ClaimCreated.model_validate_json(json.dumps(payload)) == event


def test_committed_schemas_match_the_models() -> None:
    rendered = render_all()
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
    assert committed == rendered, "run `make schemas` and commit libs/events/schemas"


def test_no_committed_field_was_removed_or_retyped() -> None:
    # Additive change keeps the version; removing or retyping a field needs a new event version.
    for path in SCHEMAS.glob("*.json"):
        committed = json.loads(path.read_text())
        current = json.loads(render_all()[path.name])
        for name, spec in committed.get("properties", {}).items():
            assert name in current["properties"], f"{path.name}: field {name} removed"
            assert current["properties"][name] == spec, f"{path.name}: field {name} changed"
        assert set(current.get("required", [])) <= set(committed.get("required", [])) | set(), path.name


@pytest.mark.parametrize("number", [1, 7, 1234, 100045, 99999999])
def test_generated_references_validate(number: int) -> None:
    for country in ("NO", "EE", "IS", "DE"):
        ref = references.generate(country, number)
        assert references.validate(country, ref) == ref


def test_random_references_validate_and_do_not_follow_each_other() -> None:
    for country in ("NO", "EE", "FI", "IS", "DE"):
        drawn = [references.random_reference(country) for _ in range(200)]
        for ref in drawn:
            assert references.validate(country, ref) == ref
            assert ref.startswith("RF") == (country not in ("NO", "EE", "FI"))
        assert len(set(drawn)) == len(drawn)
        # No counter behind them: consecutive draws are far apart.
        bodies = sorted(int(ref.removeprefix("RF")[2:] if ref.startswith("RF") else ref[:-1]) for ref in drawn)
        assert min(b - a for a, b in itertools.pairwise(bodies)) > 1000


def test_reference_with_wrong_check_digit_is_refused() -> None:
    good = references.kid_from(1234567)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(references.InvalidReference):
        references.validate("NO", bad)


def test_return_path_round_trip_and_forgery() -> None:
    from krafa_events import return_path

    delivery = uuid.uuid4()
    address = return_path.encode(delivery, "returns.example", b"secret")
    assert return_path.decode(address.upper(), b"secret") == delivery
    with pytest.raises(return_path.InvalidReturnPath):
        return_path.decode(address, b"other secret")
    forged = return_path.encode(uuid.uuid4(), "returns.example", b"guess")
    with pytest.raises(return_path.InvalidReturnPath):
        return_path.decode(forged, b"secret")


_TIMES = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])).map(
        lambda t: t.isoformat()
    ),
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2026-03-10T10:00:00Z", "2026-03-10 10:00:00Z", "2026-03-10T10:00:00", "20260310T100000Z", ""]),
)


@given(
    time=st.one_of(st.none(), _TIMES),
    subject=st.one_of(st.none(), st.text(max_size=8)),
    source=st.text(max_size=8),
    specversion=st.sampled_from(["1.0", "0.3", ""]),
    extra=st.sampled_from([(), (("ce_partitionkey", b"k"),), (("x-other", b"1"),)]),
)
# No time: the SDK supplies the moment of reading (the fast reading must leave that to it).
@example(time=None, subject=None, source="0", specversion="1.0", extra=())
def test_records_read_without_the_sdk_read_as_the_sdk_reads_them(
    time: str | None, subject: str | None, source: str, specversion: str, extra: tuple[tuple[str, bytes], ...]
) -> None:
    """The fast reading of a record's attributes accepts only what the CloudEvents SDK accepts,
    with the same values; anything else is left to the SDK."""
    from cloudevents.core.bindings import kafka as ce_kafka
    from krafa_events.envelope import _FORMAT, _plain_attributes

    headers = {"ce_id": b"1", "ce_type": ClaimCreated.TYPE.encode(), "ce_specversion": specversion.encode()}
    headers |= {"ce_source": source.encode(), "content-type": b"application/json", **dict(extra)}
    if time is not None:
        headers["ce_time"] = time.encode()
    if subject is not None:
        headers["ce_subject"] = subject.encode()
    fast = _plain_attributes(headers)
    if fast is None:
        return
    event = ce_kafka.from_binary(ce_kafka.KafkaMessage(headers=headers, key=None, value=b"{}"), _FORMAT)
    assert fast == (event.get_id(), event.get_source(), event.get_time(), event.get_subject())
