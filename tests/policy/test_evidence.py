"""Adapters (pipeline.policy): each room's typed result becomes policy's own record; what the
room could not establish stays None (unknown), so a rule over it fails closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hullcheck.base.model import (
    BaseAssessment,
    BaseIdentity,
    EolState,
    EolStatus,
    Freshness,
    IdentifiedBy,
    TrustState,
    TrustVerdict,
)
from hullcheck.match.model import Evidence as MatchEvidence
from hullcheck.match.model import Finding, Status, Suppression
from hullcheck.misconfig import ConfigFinding
from hullcheck.misconfig import Status as CheckStatus
from hullcheck.model import ImageSource, Layer, Location, Package, PackageType, Severity
from hullcheck.pipeline import policy as adapt
from hullcheck.policy import evidence as ev
from hullcheck.secrets import Origin, SecretFinding
from hullcheck.sign.cosign import VerifiedAttestation, VerifiedSignature
from hullcheck.sign.simplesigning import SimpleSigningClaims
from hullcheck.vulndb.severity import UNKNOWN

TODAY = date(2025, 6, 1)
SOURCE = ImageSource(kind="registry", name="registry.example/app:1")


def test_secrets_from_secret_findings() -> None:
    layer = Layer(index=2, digest="", diff_id="sha256:x")
    f = SecretFinding(rule_id="aws-access-key", title="AWS key", severity=Severity.HIGH,
                      origin=Origin.FILE, path="/root/.aws/credentials", line=1, match="AKIA*",
                      layer=layer, deleted_by=Layer(index=3, digest="", diff_id="sha256:y"),
                      visible=False)
    env = SecretFinding(rule_id="github-pat", title="GitHub", severity=Severity.CRITICAL,
                        origin=Origin.ENV, path="config:Env/T", line=1, match="ghp_*")
    assert adapt.secret_evidence([f, env]) == (
        ev.SecretEvidence(rule="aws-access-key", severity=Severity.HIGH,
                          path="/root/.aws/credentials", layer=2, visible=False),
        ev.SecretEvidence(rule="github-pat", severity=Severity.CRITICAL, path="config:Env/T",
                          layer=None, visible=True))


def test_config_and_signatures() -> None:
    check = ConfigFinding(id="HC-C001", title="runs as root", severity=Severity.MEDIUM, cis="4.1",
                          remediation="add USER", status=CheckStatus.FAIL, evidence=("User ''",))
    (c,) = adapt.config_evidence([check])
    assert (c.id, c.severity, c.title) == ("HC-C001", Severity.MEDIUM, "runs as root")
    claims = SimpleSigningClaims(docker_reference="r/app", manifest_digest="sha256:1", type="t")
    sig = VerifiedSignature(image="r/app", digest="sha256:1", key_fingerprint="SHA256:" + "AB" * 32,
                            source="tag", format="simplesigning", claims=claims)
    (s,) = adapt.signature_evidence([sig])
    assert s == ev.SignatureEvidence(key_fingerprint="sha256:" + "ab" * 32, verified=True)
    att = VerifiedAttestation(image="r/app", digest="sha256:1", key_fingerprint="sha256:" + "01" * 32,
                              source="tag", statement_type="https://in-toto.io/Statement/v1",
                              predicate_type="https://cyclonedx.org/bom", predicate={},
                              subjects=())
    (a,) = adapt.attestation_evidence([att])
    assert a == ev.AttestationEvidence(predicate_type="https://cyclonedx.org/bom",
                                       key_fingerprint="sha256:" + "01" * 32, verified=True)


def test_keyless_signatures_and_attestations_carry_their_signer() -> None:
    """A keyless result has no key: the evidence names the certificate's identity and issuer
    (what a signatures rule's ``identities`` and CEL match), not a fingerprint."""
    from hullcheck.sign.keyless import KeylessAttestation, KeylessSignature
    from hullcheck.signers import Signer

    who = Signer(identities=("https://github.com/org/app/.github/workflows/r.yml@refs/tags/v1",
                             "extra@example.com"), issuer="https://token.actions.githubusercontent.com")
    claims = SimpleSigningClaims(docker_reference="r/app", manifest_digest="sha256:1", type="t")
    sig = KeylessSignature(image="r/app", digest="sha256:1", key_fingerprint="", source="tag",
                           format="simplesigning", claims=claims, signer=who, log_index=7,
                           integrated_time=None, trusted_root="root.json")
    assert adapt.signature_evidence([sig]) == (ev.SignatureEvidence(
        key_fingerprint="", verified=True, identity=who.identity, issuer=who.issuer),)
    att = KeylessAttestation(image="r/app", digest="sha256:1", key_fingerprint="", source="tag",
                             statement_type="https://in-toto.io/Statement/v1",
                             predicate_type="https://slsa.dev/provenance/v1", predicate={},
                             subjects=(), signer=who, log_index=8, integrated_time=None,
                             trusted_root="root.json")
    assert adapt.attestation_evidence([att]) == (ev.AttestationEvidence(
        predicate_type="https://slsa.dev/provenance/v1", verified=True, identity=who.identity,
        issuer=who.issuer),)


def _assessment(*, trust: TrustState | None, eol: EolState, days: int | None,
                name: str = "docker.io/library/debian") -> BaseAssessment:
    fresh = None
    if days is not None:
        built = datetime(2024, 1, 1, tzinfo=UTC)
        fresh = Freshness(tag=f"{name}:12", built_digest="sha256:1", built_created=built,
                          current_digest="sha256:2", current_created=built + timedelta(days=days))
    return BaseAssessment(
        image=SOURCE, distro=None,
        identity=BaseIdentity(by=IdentifiedBy.LAYERS if name else IdentifiedBy.NONE, name=name),
        eol=EolStatus(state=eol, reason="", today=TODAY),
        trust=None if trust is None else TrustVerdict(state=trust, reason=""),
        freshness=fresh)


def test_base_from_the_base_rooms_assessment() -> None:
    a = _assessment(trust=TrustState.TRUSTED, eol=EolState.END_OF_LIFE, days=12)
    assert adapt.base_evidence(a) == ev.BaseEvidence(name="docker.io/library/debian",
                                                     trusted=True, eol=True, days_behind=12)
    # Extended (paid) support only counts as end of life, as `hullcheck base --fail-eol`.
    extended = _assessment(trust=TrustState.UNTRUSTED, eol=EolState.EXTENDED, days=None)
    assert adapt.base_evidence(extended) == ev.BaseEvidence(
        name="docker.io/library/debian", trusted=False, eol=True)
    supported = _assessment(trust=None, eol=EolState.SUPPORTED, days=None)
    assert adapt.base_evidence(supported).eol is False


@pytest.mark.parametrize("trust", [None, TrustState.UNKNOWN])
def test_what_the_base_room_could_not_establish_stays_unknown(trust: TrustState | None) -> None:
    # An unknown end-of-life state is not "supported": the notEol rule must not pass on it
    # (the old attribute-guessing adapter read EolStatus.past_security_support, False here).
    unknown = _assessment(trust=trust, eol=EolState.UNKNOWN, days=None, name="")
    assert adapt.base_evidence(unknown) == ev.BaseEvidence()


def test_vulnerability_findings_with_publication_dates() -> None:
    p = Package(type=PackageType.DEB, name="openssl", version="3.0.11", purl="pkg:deb/openssl@3",
                found_by="dpkg-db", locations=(Location(path="/var/lib/dpkg/status", layer=0),))
    f = Finding(package=p, id="CVE-2024-1", aliases=("DSA-1",), severity=Severity.HIGH,
                score=UNKNOWN, status=Status.FIXED, fixed_versions=("3.0.13",),
                evidence=(MatchEvidence(advisory="DSA-1", source="debian", ecosystem="Debian:12",
                                        name="openssl", via="direct", version="3.0.11",
                                        matched="fixed 3.0.13"),),
                suppressed=Suppression(by="vex:x", reason="r"))
    (v,) = adapt.vulnerability_evidence([f], {"DSA-1": date(2024, 1, 2)})
    assert v.published == date(2024, 1, 2) and v.has_fix and v.suppressed_by == "vex:x"
    assert v.severity is Severity.HIGH and v.age_days(date(2024, 1, 12)) == 10


def test_pinned_reference() -> None:
    img = ev.ImageEvidence(ref="127.0.0.1:5000/app:v1", digest="sha256:" + "0" * 64)
    assert img.pinned == "127.0.0.1:5000/app@sha256:" + "0" * 64
