"""Whom a creditor's single sign-on signs in (never a person the creditor did not add; the subject
bound on the first sign-in decides after that), which email domains and issuer URLs the settings
page accepts, and client secrets sealed at rest."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from krafa_web.staff import domain
from krafa_web.staff.domain import SsoCandidate, SsoIdentity
from krafa_web.staff.sealing import Sealer, SealError

ISSUER = "https://login.example.com/tenant/v2.0"
ANNA = SsoCandidate(uuid.uuid4(), "Anna@Fram.is", None, None)
BOUND = SsoCandidate(uuid.uuid4(), "bjarni@fram.is", ISSUER, "subject-bjarni")


def who(email: str | None, subject: str = "subject-x", verified: bool | None = True) -> SsoIdentity:
    return SsoIdentity(ISSUER, subject, email, verified)


def test_the_first_sign_in_matches_the_address_whatever_its_case() -> None:
    assert domain.sso_match([ANNA, BOUND], who("anna@fram.is")) == ANNA


def test_a_bound_user_is_found_by_subject_even_after_the_address_changed() -> None:
    assert domain.sso_match([ANNA, BOUND], who("b.palsson@fram.is", "subject-bjarni")) == BOUND


def test_an_address_bound_to_another_subject_does_not_open_the_account() -> None:
    # The provider gave bjarni@ to someone else (another subject): not Bjarni's account.
    assert domain.sso_match([ANNA, BOUND], who("bjarni@fram.is", "subject-new")) == "bound_elsewhere"


def test_the_same_subject_at_another_issuer_is_someone_else() -> None:
    other = SsoIdentity("https://other.example.com", "subject-bjarni", None, None)
    assert domain.sso_match([BOUND], other) == "unknown_user"


def test_single_sign_on_never_creates_a_user() -> None:
    assert domain.sso_match([ANNA, BOUND], who("gunnar@fram.is")) == "unknown_user"
    assert domain.sso_match([], who("anna@fram.is")) == "unknown_user"
    assert domain.sso_match([ANNA], who(None)) == "unknown_user"


def test_an_address_the_provider_calls_unverified_is_refused() -> None:
    assert domain.sso_match([ANNA], who("anna@fram.is", verified=False)) == "email_unverified"
    # A provider that does not say (Entra ID's work accounts) is trusted for its own tenant.
    assert domain.sso_match([ANNA], who("anna@fram.is", verified=None)) == ANNA


def test_a_token_without_a_subject_is_refused() -> None:
    assert domain.sso_match([ANNA], who("anna@fram.is", subject="")) == "no_subject"


def test_the_identity_reads_email_or_the_usual_fallbacks_from_the_claims() -> None:
    assert SsoIdentity.of(ISSUER, {"sub": "s", "email": "a@b.is", "email_verified": True}).email == "a@b.is"
    entra = SsoIdentity.of(ISSUER, {"sub": "s", "preferred_username": "anna@fram.is"})
    assert (entra.email, entra.email_verified) == ("anna@fram.is", None)
    assert SsoIdentity.of(ISSUER, {"sub": "s", "preferred_username": "anna"}).email is None


def test_email_domains_are_cleaned_and_bad_ones_named() -> None:
    assert domain.sso_domains(" Fram.is, @fram.is\nstaff.fram.is ; ") == ("fram.is", "staff.fram.is")
    assert domain.sso_domains("") == ()
    with pytest.raises(ValueError, match="fram"):
        domain.sso_domains("fram")
    with pytest.raises(ValueError):
        domain.sso_domains("fr am.is, -x.is")
    assert domain.email_domain(" Anna@Fram.IS ") == "fram.is"


def test_an_issuer_is_https_except_on_this_machine() -> None:
    assert domain.issuer_problem("https://login.microsoftonline.com/abc/v2.0") is None
    assert domain.issuer_problem("http://127.0.0.1:8092") is None
    assert domain.issuer_problem("http://idp.example.com") is not None
    assert domain.issuer_problem("ftp://idp.example.com") is not None
    assert domain.issuer_problem("https://idp.example.com/?tenant=1") is not None
    assert domain.issuer_problem("idp.example.com") is not None


def test_a_sealed_secret_opens_with_any_configured_key_and_not_without_one() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Sealer(old).seal("client-secret")
    assert "client-secret" not in sealed
    # Rotation: the new key first seals, the old one still opens what it sealed.
    rotated = Sealer(f"{new}, {old}")
    assert rotated.open(sealed) == "client-secret"
    assert Sealer(new).open(rotated.seal("s2")) == "s2"
    with pytest.raises(SealError):
        Sealer(new).open(sealed)
    with pytest.raises(SealError):
        Sealer("not-a-key")
    with pytest.raises(SealError):
        Sealer(" , ")
