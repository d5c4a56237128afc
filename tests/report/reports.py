"""Report values built in code, one of each kind with every case its renderers branch on: the
golden files of tests/golden/report are these, rendered in every format."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hullcheck.base.model import (
    BaseAssessment,
    BaseIdentity,
    CatalogEntry,
    Deadline,
    EolRelease,
    EolState,
    EolStatus,
    Freshness,
    IdentifiedBy,
    RebuildAdvice,
    TrustState,
    TrustVerdict,
)
from hullcheck.match.model import Evidence, Finding, Skipped, Status, Suppression
from hullcheck.misconfig import ConfigFinding, ConfigReport
from hullcheck.misconfig import Status as CheckStatus
from hullcheck.model import Severity
from hullcheck.policy import evaluate
from hullcheck.report import BaseCatalog, BaseReport, PolicyReport, ScanReport
from hullcheck.secrets import Origin, SecretFinding, SecretReport
from hullcheck.secrets import Skipped as SecretsSkipped
from hullcheck.secrets.model import Confidence
from hullcheck.vulndb.model import KevEntry
from hullcheck.vulndb.severity import UNKNOWN, Rating, Score
from tests.policy._build import TODAY, evidence, pkg, policy, vuln
from tests.sbom.inventories import LAYERS, debian_inventory

INVENTORY = debian_inventory("squashed")
P = {p.name: p for p in INVENTORY.packages}


def _finding(name: str, fid: str, severity: Severity, score: Score = UNKNOWN, **kw: object) -> Finding:
    return Finding(package=P[name], id=fid, aliases=kw.pop("aliases", ()),  # type: ignore[arg-type]
                   severity=severity, score=score, status=kw.pop("status", Status.FIXED),  # type: ignore[arg-type]
                   fixed_versions=kw.pop("fixed", ()), **kw)  # type: ignore[arg-type]


FINDINGS = (
    _finding("libssl3", "CVE-2024-0001", Severity.CRITICAL,
             Score(rating=Rating.CRITICAL, score=9.8, source="CVSS_V3",
                   vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
             aliases=("DSA-5000-1",), fixed=("3.0.13-1~deb12u1",), summary="heap overflow",
             kev=KevEntry(cve="CVE-2024-0001", date_added="2024-02-01", known_ransomware="Known"),
             distro_urgency="high",
             evidence=(Evidence(advisory="DSA-5000-1", source="debian", ecosystem="Debian:12",
                                name="openssl", via="source-package", version="3.0.11-1~deb12u2",
                                matched="fixed 3.0.13-1~deb12u1"),)),
    _finding("openssl", "CVE-2024-0001", Severity.CRITICAL,
             Score(rating=Rating.CRITICAL, score=9.8, source="CVSS_V3",
                   vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
             aliases=("DSA-5000-1",), fixed=("3.0.13-1~deb12u1",)),
    _finding("requests", "MAL-2024-7", Severity.MALICIOUS, status=Status.MALICIOUS,
             summary="Malicious code in requests"),
    _finding("requests", "GHSA-aaaa-bbbb-cccc", Severity.MEDIUM,
             Score(rating=Rating.MEDIUM, score=5.6, source="CVSS_V4", vector="CVSS:4.0/AV:N"),
             aliases=("CVE-2024-35195",), fixed=("2.32.0",)),
    _finding("base-files", "CVE-2023-9999", Severity.LOW, status=Status.WONT_FIX),
    _finding("@types/node", "CVE-2022-1111", Severity.NEGLIGIBLE,
             Score(rating=Rating.LOW, score=2.1, source="CVSS_V2", vector="AV:N/AC:H"),
             status=Status.NOT_FIXED),
    _finding("openssl", "CVE-2021-0002", Severity.UNKNOWN, status=Status.DEFERRED),
    _finding("openssl", "CVE-2020-0003", Severity.HIGH, fixed=("3.0.12",),
             suppressed=Suppression(by="vex:vex.json", reason="component_not_present",
                                    expires="2026-01-01")),
)
SKIPPED = (Skipped(package=P["curl"], reason="version cannot be compared", advisory="CVE-1"),)
DATABASE = {"path": "/db/hullcheck.db", "builtAt": "2025-05-01T00:00:00Z", "schemaVersion": 3,
            "advisories": 1234}

SECRETS = SecretReport(
    source=INVENTORY.source, layers=LAYERS,
    findings=(
        SecretFinding(rule_id="aws-access-key-id", title="AWS access key ID",
                      severity=Severity.CRITICAL, origin=Origin.FILE, path="/root/.aws/credentials",
                      line=3, match="AKIA*****", layer=LAYERS[1], deleted_by=LAYERS[2],
                      visible=False),
        SecretFinding(rule_id="github-pat", title="GitHub personal access token",
                      severity=Severity.HIGH, origin=Origin.ENV, path="config:Env/GH_TOKEN", line=1,
                      match="GH_TOKEN=ghp_*****"),
        SecretFinding(rule_id="private-key", title="Private key", severity=Severity.MEDIUM,
                      origin=Origin.FILE, path="/app/key.pem", line=1,
                      match="-----BEGIN RSA PRIVATE KEY-----*****", layer=LAYERS[2]),
        SecretFinding(rule_id="jwt", title="JSON Web Token", severity=Severity.MEDIUM,
                      origin=Origin.FILE,
                      path="/usr/lib/python3/dist-packages/jose/README.md", line=40,
                      match="token = eyJh*****", layer=LAYERS[2], confidence=Confidence.LOW,
                      why_low="in a language package's documentation or type declarations"),
    ),
    skipped=SecretsSkipped(binary=4, too_large=1, allowlisted=2, package_files=9,
                           package_matches=12),
    files_scanned=120, bytes_scanned=345_678, engine="re",
)

CONFIG = ConfigReport(source=INVENTORY.source, results=(
    ConfigFinding(id="HC-C001", title="Image runs as root", severity=Severity.HIGH, cis="4.1",
                  remediation="add USER", status=CheckStatus.FAIL,
                  evidence=("no User set: the container runs as root",)),
    ConfigFinding(id="HC-C002", title="No HEALTHCHECK", severity=Severity.LOW, cis="4.6",
                  remediation="add HEALTHCHECK", status=CheckStatus.PASS),
    ConfigFinding(id="HC-C006", title="Set-id files", severity=Severity.MEDIUM, cis="4.8",
                  remediation="remove the bits", status=CheckStatus.FAIL,
                  evidence=tuple(f"/usr/bin/tool{i} (setuid, mode 4755)" for i in range(7))),
    ConfigFinding(id="HC-C008", title="Base image by latest", severity=Severity.LOW, cis="",
                  remediation="pin it", status=CheckStatus.NOT_APPLICABLE),
))


def scan_report(*, scanners: tuple[str, ...] = ("vuln", "secret", "config")) -> ScanReport:
    """A scan with the results of ``scanners``."""
    return ScanReport(inventory=INVENTORY, findings=FINDINGS, skipped=SKIPPED, database=DATABASE,
                      notes=("a VEX statement names no product here",),
                      secrets=SECRETS if "secret" in scanners else None,
                      config=CONFIG if "config" in scanners else None, scanners=scanners)


ALL_LAYERS = debian_inventory("all-layers")
_A = {p.name: p for p in ALL_LAYERS.packages}


def all_layers_report() -> ScanReport:
    """``--scope all-layers``: a finding on the package a later layer hid (marked in every
    format), and one whose severity an alias advisory gives."""
    curl = Finding(package=_A["curl"], id="CVE-2023-38545", aliases=("DEBIAN-CVE-2023-38545",),
                   severity=Severity.CRITICAL, score=Score(rating=Rating.CRITICAL, score=9.8,
                                                            source="CVSS_V3"),
                   status=Status.FIXED, fixed_versions=("7.88.1-10+deb12u4",))
    requests = Finding(package=_A["requests"], id="PYSEC-2023-74",
                       aliases=("CVE-2023-32681", "GHSA-j8r2-6x86-q33q"),
                       severity=Severity.MEDIUM,
                       score=Score(rating=Rating.MEDIUM, score=6.1, source="CVSS_V3",
                                   vector="CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"),
                       status=Status.FIXED, fixed_versions=("2.31.0",),
                       severity_from="GHSA-j8r2-6x86-q33q")
    return ScanReport(inventory=ALL_LAYERS, findings=(curl, requests), skipped=(),
                      database=DATABASE, hidden_findings=1)


POLICY_TEXT = """\
  - id: no-critical
    type: vulnerabilities
    severity: critical
    description: nothing critical ships
  - id: secrets
    type: secrets
  - id: config
    type: config
    ids: [HC-C001]
    action: warn
  - id: banned
    type: sbom
    banned: [{name: "lib*", reason: replaced by libfoo}]
  - id: signed
    type: signatures
    keys: ["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
  - id: fresh
    type: base
    maxDaysBehind: 1
  - id: tagged
    type: cel
    expression: "image.ref.endsWith(':2')"
    message: images are tagged 2
"""
WAIVERS = """\
  - vulnerability: CVE-2024-0002
    reason: not reachable
    expires: 2025-12-31
  - rule: fresh
    reason: rebuilding next week
    expires: 2025-01-01
"""


def decision() -> PolicyReport:
    """A decision with failed and warned rules, a waived item and an expired waiver."""
    from hullcheck.policy import ConfigEvidence, SecretEvidence, SignatureEvidence

    pol = policy(POLICY_TEXT, WAIVERS)
    ev = evidence(
        packages=(pkg("libssl3", "3.0.11"), pkg("zlib1g", "1.2")),
        vulnerabilities=tuple(vuln(f"CVE-2024-000{i}", Severity.CRITICAL, fixed=("9",))
                              for i in range(1, 8)),
        secrets=(SecretEvidence(rule="aws-access-key-id", severity=Severity.CRITICAL,
                                path="/root/.aws/credentials", layer=1, visible=False),),
        config=(ConfigEvidence(id="HC-C001", severity=Severity.HIGH, title="Image runs as root"),),
        signatures=(SignatureEvidence(key_fingerprint="sha256:" + "ff" * 32, verified=True),),
        notes=("signatures: one key file could not be read",),
    )
    return PolicyReport(decision=evaluate(ev, pol, now=TODAY), policy=pol)


def _deadline(on: str | None = None, passed: bool = False) -> Deadline:
    return Deadline(on=date.fromisoformat(on) if on else None, passed=passed)


ENTRY = CatalogEntry(name="docker.io/library/debian", tag="12", digest="sha256:" + "b" * 64,
                     manifest_digest="sha256:" + "9" * 64, platform="linux/amd64",
                     created="2024-01-01T00:00:00Z", distro=INVENTORY.distro,
                     diff_ids=(LAYERS[0].diff_id,), added="2024-02-01T00:00:00Z")
ENTRY_BARE = CatalogEntry(name="example.org/ünïcode/scratch", tag="", digest="sha256:" + "c" * 64,
                          manifest_digest="sha256:" + "c" * 64)


def base(*, found: bool = True, failures: tuple[str, ...] = ()) -> BaseReport:
    return BaseReport(assessment=assessment(found=found), failures=failures)


CATALOG = BaseCatalog(entries=(ENTRY, ENTRY_BARE))


def assessment(*, found: bool = True) -> BaseAssessment:
    eol = EolStatus(
        state=EolState.EXTENDED, reason="Debian 12 is past its security support", today=TODAY,
        release=EolRelease(distro_id="debian", title="Debian", cycle="12", codename="bookworm",
                           released=date(2023, 6, 10),
                           active_support_end=_deadline("2026-06-10"),
                           security_support_end=_deadline(passed=True),
                           extended_support_end=_deadline(), latest="12.5"))
    if not found:
        return BaseAssessment(image=INVENTORY.source, distro=None,
                              identity=BaseIdentity(by=IdentifiedBy.NONE),
                              eol=EolStatus(state=EolState.UNKNOWN, reason="no distro",
                                            today=TODAY),
                              notes=("no base catalog",))
    identity = BaseIdentity(by=IdentifiedBy.LABEL, name=ENTRY.name, tag="12", digest=ENTRY.digest,
                            layers=1, layers_match=False, entry=ENTRY,
                            also=("docker.io/library/debian:bookworm",))
    fresh = Freshness(tag="docker.io/library/debian:12", built_digest=ENTRY.digest,
                      built_created=datetime(2024, 1, 1, tzinfo=UTC),
                      current_digest="sha256:" + "e" * 64,
                      current_created=datetime(2024, 3, 1, tzinfo=UTC))
    advice = RebuildAdvice(base=identity.reference, candidate=f"{fresh.tag}@{fresh.current_digest}",
                           fixed=FINDINGS[:2] + FINDINGS[4:5], remaining=FINDINGS[5:6],
                           introduced=FINDINGS[6:7])
    return BaseAssessment(
        image=INVENTORY.source, distro=INVENTORY.distro, identity=identity, eol=eol,
        trust=TrustVerdict(state=TrustState.UNTRUSTED, reason="not in the trust file",
                           rule="trust.yaml:3", signers=("sha256:ab",)),
        freshness=fresh, advice=advice, notes=("advice from the local database",))


__all__ = ["CATALOG", "CONFIG", "INVENTORY", "SECRETS", "base", "decision", "scan_report"]
