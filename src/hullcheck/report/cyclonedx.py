"""A scan as CycloneDX 1.6: the SBOM with a ``vulnerabilities`` section.

Secret and configuration findings have no place in it (the CLI says so when those scanners
ran). Written as JSON on top of the SBOM encoder's document rather than through
cyclonedx-python-lib's Vulnerability model: the encoder already owns the component bom-refs,
and this keeps one serialisation of them; the tests check the result against the official
schema.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hullcheck.model import Severity

if TYPE_CHECKING:
    from hullcheck.match.model import Finding
    from hullcheck.model import Package
    from hullcheck.report.model import ScanReport

_SEVERITY = {Severity.MALICIOUS: "critical", Severity.CRITICAL: "critical",
             Severity.HIGH: "high", Severity.MEDIUM: "medium", Severity.LOW: "low",
             Severity.NEGLIGIBLE: "info", Severity.UNKNOWN: "unknown"}
_METHOD = {"CVSS_V3": "CVSSv31", "CVSS_V4": "CVSSv4", "CVSS_V2": "CVSSv2"}


def scan(report: ScanReport) -> dict[str, Any]:
    """The SBOM of the report's scope and one vulnerability per id, affecting the component
    of each package it was found in: the same findings the other formats list."""
    from hullcheck import sbom
    from hullcheck.sbom._common import refs as component_refs
    from hullcheck.sbom._common import shown

    # A vulnerability report names packages; the files each owns (tens of thousands on a
    # large image, 10+ MB) belong in the SBOM, not here.
    doc: dict[str, Any] = json.loads(sbom.encode(report.inventory, "cyclonedx-json",
                                                 files=False))
    # Each package's own bom-ref, as the encoder gives it (two copies of one purl at two
    # paths are two components): by identity, with equality for a copy of the package.
    listed = shown(report.inventory)
    names = component_refs(listed)
    refs = dict(zip(map(id, listed), names, strict=True))
    by_value: dict[Package, str] = {}
    vulns: dict[str, dict[str, Any]] = {}
    for f in report.findings:
        ref = refs.get(id(f.package))
        if ref is None:
            by_value = by_value or dict(zip(listed, names, strict=True))
            ref = by_value.get(f.package)
        if ref is None:
            continue  # not in the scope's SBOM (the pipeline listed none such)
        v = vulns.get(f.id)
        if v is None:
            v = vulns[f.id] = _vulnerability(f)
        target = {"ref": ref, "versions": [{"version": f.package.version, "status": "affected"}]}
        if target not in v["affects"]:
            v["affects"].append(target)
    doc["vulnerabilities"] = list(vulns.values())
    return doc


def _vulnerability(f: Finding) -> dict[str, Any]:
    """The entry for ``f.id`` as its first finding states it; ``affects`` gathers the rest."""
    rating: dict[str, Any] = {"severity": _SEVERITY[f.severity]}
    if f.severity_from:
        rating["source"] = {"name": f.severity_from}
    if f.score.score is not None:
        rating["score"] = f.score.score
        if f.score.source in _METHOD:
            rating["method"] = _METHOD[f.score.source]
        if f.score.vector:
            rating["vector"] = f.score.vector
    v: dict[str, Any] = {"bom-ref": f"vuln:{f.id}", "id": f.id, "ratings": [rating], "affects": []}
    if f.aliases:
        v["references"] = [{"id": a, "source": {"name": a.split("-", 1)[0]}} for a in f.aliases]
    if f.fixed_versions:
        v["recommendation"] = f"Upgrade {f.package.name} to {', '.join(f.fixed_versions)}"
    if f.severity is Severity.MALICIOUS:
        v["description"] = "Malicious package: remove it and rotate any secrets it saw."
    if f.suppressed is not None:
        v["analysis"] = {"state": "not_affected", "detail": f.suppressed.reason}
    return v
