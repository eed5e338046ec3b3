"""The erasure helpers every service uses: which strings count as the debtor's, and scrubbing them."""

from __future__ import annotations

from krafa_kit import privacy


def test_needles_cover_the_ways_a_value_is_written() -> None:
    found = privacy.needles(["+3545551234", "1201743399", "Jón Jónsson", "jon@example.is", None, "", "ab"])
    assert {"+3545551234", "3545551234", "5551234", "555 1234"} <= set(found)
    assert {"1201743399", "120174-3399"} <= set(found)
    assert {"Jón Jónsson", "jon@example.is"} <= set(found)
    assert "ab" not in found  # too short to look for
    assert found == sorted(found, key=lambda n: (-len(n), n))  # longest first


def test_scrub_is_case_insensitive_and_reaches_nested_json() -> None:
    patterns = privacy.needles(["Jón Jónsson", "jon@example.is"])
    text = "550 5.1.1 <JON@Example.IS>: no such user (Jón Jónsson)"
    assert privacy.scrub(text, patterns) == "550 5.1.1 <[erased]>: no such user ([erased])"
    value = {"to": ["jon@example.is"], "n": 3, "note": {"who": "Jón Jónsson"}}
    assert privacy.scrub_json(value, patterns) == {"to": ["[erased]"], "n": 3, "note": {"who": "[erased]"}}
    assert privacy.scrub(None, patterns) is None and privacy.scrub("x", []) == "x"


def test_a_suppressed_address_hashes_the_same_whatever_its_case() -> None:
    assert privacy.address_hash(" Jon@Example.is ") == privacy.address_hash("jon@example.is")
    assert privacy.address_hash("jon@example.is").startswith("sha256:")
    assert privacy.pseudonym_email("erased-1").endswith("@erased.invalid")
