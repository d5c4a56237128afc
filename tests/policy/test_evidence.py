"""Adapters: other rooms' results become policy's own records (unknown stays None)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import SimpleNamespace as NS

from hullcheck.match.model import Level
from hullcheck.policy import evidence as ev


class _Sev(StrEnum):
    HIGH = "high"


def test_secrets_from_secret_findings_shape() -> None:
    layer = NS(index=2, diff_id="sha256:x")
    f = NS(rule_id="aws-access-key", severity=_Sev.HIGH, path="/root/.aws/credentials",
           layer=layer, visible=False)
    (s,) = ev.secrets_from([f])
    assert s == ev.SecretEvidence(rule="aws-access-key", severity=Level.HIGH,
                                  path="/root/.aws/credentials", layer=2, visible=False)


def test_config_and_signatures() -> None:
    (c,) = ev.config_from([NS(check=NS(id="HC-C001", severity="medium", title="runs as root"))])
    assert (c.id, c.severity, c.title) == ("HC-C001", Level.MEDIUM, "runs as root")
    (s,) = ev.signatures_from([NS(key_fingerprint="SHA256:" + "AB" * 32)])
    assert s == ev.SignatureEvidence(key_fingerprint="sha256:" + "ab" * 32, verified=True)
    (a,) = ev.attestations_from([NS(predicate_type="https://cyclonedx.org/bom",
                                    key_fingerprint="sha256:" + "01" * 32)])
    assert a.predicate_type == "https://cyclonedx.org/bom" and a.verified


def test_base_from_the_base_rooms_assessment() -> None:
    from hullcheck.base.model import EolState, TrustState

    @dataclass
    class Fresh:
        days_behind: int | None

    a = NS(identity=NS(name="docker.io/library/debian"), trust=NS(state=TrustState.TRUSTED),
           eol=NS(state=EolState.END_OF_LIFE), freshness=Fresh(days_behind=12))
    assert ev.base_from(a) == ev.BaseEvidence(name="docker.io/library/debian", trusted=True,
                                              eol=True, days_behind=12)
    unknown = NS(identity=NS(name=""), trust=None, eol=NS(state=EolState.UNKNOWN),
                 freshness=None)
    assert ev.base_from(unknown) == ev.BaseEvidence()


def test_vulnerability_findings_with_publication_dates() -> None:
    from hullcheck.match.model import Evidence as MatchEvidence
    from hullcheck.match.model import Finding, Status, Suppression
    from hullcheck.model import Location, Package, PackageType
    from hullcheck.vulndb.severity import UNKNOWN

    p = Package(type=PackageType.DEB, name="openssl", version="3.0.11", purl="pkg:deb/openssl@3",
                found_by="dpkg-db", locations=(Location(path="/var/lib/dpkg/status", layer=0),))
    f = Finding(package=p, id="CVE-2024-1", aliases=("DSA-1",), level=Level.HIGH,
                severity=UNKNOWN, status=Status.FIXED, fixed_versions=("3.0.13",),
                evidence=(MatchEvidence(advisory="DSA-1", source="debian", ecosystem="Debian:12",
                                        name="openssl", via="direct", version="3.0.11",
                                        matched="fixed 3.0.13"),),
                suppressed=Suppression(by="vex:x", reason="r"))
    (v,) = ev.from_findings([f], {"DSA-1": date(2024, 1, 2)})
    assert v.published == date(2024, 1, 2) and v.has_fix and v.suppressed_by == "vex:x"
    assert v.age_days(date(2024, 1, 12)) == 10


def test_pinned_reference() -> None:
    img = ev.ImageEvidence(ref="127.0.0.1:5000/app:v1", digest="sha256:" + "0" * 64)
    assert img.pinned == "127.0.0.1:5000/app@sha256:" + "0" * 64
