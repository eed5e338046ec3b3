import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_claims_api import pagination


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.uuids(),
)
def test_cursor_round_trips(moment: datetime, claim_id: uuid.UUID) -> None:
    cursor = pagination.encode_cursor(moment, claim_id)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert pagination.decode_cursor(cursor) == (moment, claim_id)


def test_cursor_keeps_offset_and_microseconds() -> None:
    moment = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-1)))
    claim_id = uuid.uuid4()
    assert pagination.decode_cursor(pagination.encode_cursor(moment, claim_id)) == (moment, claim_id)


@pytest.mark.parametrize(
    "cursor",
    ["", "not base64!", "bm90IGpzb24", "eyJ0IjoxfQ", "eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCIsImkiOiJ4In0"],
)
def test_garbage_cursor_is_rejected(cursor: str) -> None:
    with pytest.raises(pagination.InvalidCursor):
        pagination.decode_cursor(cursor)


def test_naive_timestamp_cursor_is_rejected() -> None:
    import base64
    import json

    raw = json.dumps({"t": "2026-01-01T00:00:00", "i": str(uuid.uuid4())}).encode()
    with pytest.raises(pagination.InvalidCursor):
        pagination.decode_cursor(base64.urlsafe_b64encode(raw).decode())
