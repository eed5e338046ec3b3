"""Claim watch's split of recoveries is the collection agency's contract term, not law: every
shipped policy that ends in claim watch states the creditor's share and where that share comes
from, and says it is a contract term."""

from __future__ import annotations

from krafa_scheduler.policy import shipped_policy_versions


def test_every_shipped_claim_watch_states_its_share_and_whose_terms_they_are() -> None:
    watched = {ref: p.steps[-1] for ref, p in shipped_policy_versions().items() if p.steps[-1].kind == "claim_watch"}
    assert watched, "no shipped policy ends in claim watch"
    for ref, step in watched.items():
        assert 0 <= step.creditor_share_pct <= 100, ref
        assert "not law" in step.share_terms and "contract term" in step.share_terms, ref
        assert f"{step.creditor_share_pct} % to the creditor" in step.share_terms, ref
