import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_claims_api import domain


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (4000, "90+"),
    ],
)
def test_bucket_edges(days: int, bucket: str) -> None:
    assert domain.aging_bucket(days) == bucket


def test_report_sums_per_currency_with_every_bucket() -> None:
    report = domain.aging_report(
        [("ISK", 0, 2, 200), ("ISK", 10, 1, 50), ("ISK", 15, 3, 30), ("NOK", 120, 1, 7), ("ISK", 95, 1, 1)]
    )
    assert list(report) == ["ISK", "NOK"]
    assert report["ISK"] == {"current": (2, 200), "1-30": (4, 80), "31-60": (0, 0), "61-90": (0, 0), "90+": (1, 1)}
    assert report["NOK"]["90+"] == (1, 7)
    assert list(report["NOK"]) == list(domain.AGING_BUCKETS)


@given(
    st.lists(
        st.tuples(st.sampled_from(["ISK", "EUR"]), st.integers(-400, 400), st.integers(1, 5), st.integers(1, 10**6))
    )
)
def test_report_preserves_totals(rows: list[tuple[str, int, int, int]]) -> None:
    report = domain.aging_report(rows)
    assert sum(n for buckets in report.values() for n, _ in buckets.values()) == sum(r[2] for r in rows)
    assert sum(t for buckets in report.values() for _, t in buckets.values()) == sum(r[3] for r in rows)
