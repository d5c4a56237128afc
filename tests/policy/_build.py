"""Evidence and policies built in code for the policy tests."""

from __future__ import annotations

from datetime import date

from hullcheck.match.model import Status
from hullcheck.model import Severity
from hullcheck.policy import (
    BaseEvidence,
    ConfigEvidence,
    Evidence,
    ImageEvidence,
    PackageEvidence,
    Policy,
    SecretEvidence,
    SignatureEvidence,
    VulnEvidence,
    loads,
)

TODAY = date(2025, 6, 1)
IMAGE = ImageEvidence(ref="registry.example/shop/web:1.4", digest="sha256:" + "ab" * 32)


def header(rules: str, waivers: str = "") -> str:
    text = "apiVersion: hullcheck/v1\nkind: Policy\nmetadata:\n  name: test\nrules:\n" + rules
    return text + ("waivers:\n" + waivers if waivers else "")


def policy(rules: str, waivers: str = "") -> Policy:
    return loads(header(rules, waivers), name="test.yaml")


def pkg(name: str, version: str = "1.0", *licenses: str, type: str = "deb") -> PackageEvidence:
    return PackageEvidence(name=name, version=version, type=type,
                           purl=f"pkg:{type}/{name}@{version}", licenses=licenses)


def vuln(vid: str, level: Severity = Severity.HIGH, *, package: str = "openssl", fixed: tuple[str, ...] = (),
         kev: bool = False, status: Status = Status.NOT_FIXED, published: date | None = None,
         aliases: tuple[str, ...] = (), suppressed_by: str = "") -> VulnEvidence:
    return VulnEvidence(id=vid, aliases=aliases, package=package, version="3.0.11",
                        purl=f"pkg:deb/debian/{package}@3.0.11", severity=level,
                        status=Status.FIXED if fixed and status is Status.NOT_FIXED else status,
                        fixed_versions=fixed, kev=kev, published=published,
                        suppressed_by=suppressed_by, suppression_reason="vendor says so"
                        if suppressed_by else "")


def evidence(**kw: object) -> Evidence:
    defaults: dict[str, object] = {
        "image": IMAGE, "packages": (pkg("openssl", "3.0.11", "Apache-2.0"),),
        "vulnerabilities": (), "secrets": (), "config": (), "signatures": (),
        "attestations": (), "base": BaseEvidence(name="debian:12", trusted=True, eol=False,
                                                 days_behind=3),
    }
    defaults.update(kw)
    return Evidence(**defaults)  # type: ignore[arg-type]


__all__ = ["ConfigEvidence", "SecretEvidence", "SignatureEvidence"]
