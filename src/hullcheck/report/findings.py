"""Scan results for people and machines: table, JSON, SARIF 2.1.0, CycloneDX with vulnerabilities."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from hullcheck import __version__
from hullcheck.match.model import Finding, Level, Skipped
from hullcheck.model import Inventory, Layer

FORMATS = ("table", "json", "sarif", "cyclonedx-json")
INFO_URI = "https://github.com/hullcheck/hullcheck"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    inventory: Inventory
    findings: tuple[Finding, ...]  # shown findings (after --only-fixed), suppressed ones marked
    skipped: tuple[Skipped, ...]
    database: dict[str, Any]  # built_at, schema_version, path
    notes: tuple[str, ...] = ()

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)


def render(report: ScanReport, fmt: str) -> bytes:
    if fmt == "table":
        return table(report).encode()
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False).encode() + b"\n"
    if fmt == "sarif":
        return json.dumps(sarif(report), indent=2, ensure_ascii=False).encode() + b"\n"
    if fmt == "cyclonedx-json":
        return json.dumps(cyclonedx(report), indent=2, ensure_ascii=False).encode() + b"\n"
    raise ValueError(fmt)


# -- table ------------------------------------------------------------------------------


def table(report: ScanReport, *, width: int | None = None) -> str:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("PACKAGE", "VERSION", "TYPE", "VULNERABILITY", "SEVERITY", "STATUS", "FIXED IN",
                "LAYER"):
        t.add_column(col, overflow="fold")
    for f in report.active:
        sev = f.level.value + (" (KEV)" if f.kev else "")
        t.add_row(f.package.name, f.package.version, f.package.type.value, f.id, sev,
                  f.status.value, ", ".join(f.fixed_versions) or "-",
                  "-" if f.package.layer is None else str(f.package.layer))
    buf = io.StringIO()
    console = Console(file=buf, width=width or 140, color_system=None, highlight=False)
    if report.active:
        console.print(t)
    inv = report.inventory
    counts = Counter(f.level for f in report.active)
    summary = ", ".join(f"{counts[lv]} {lv.value}" for lv in Level if counts[lv])
    console.print(f"\n{inv.source.name}: {len(inv.packages)} packages, "
                  f"{len(report.active)} findings" + (f" ({summary})" if summary else ""),
                  soft_wrap=True)
    suppressed = len(report.findings) - len(report.active)
    if suppressed:
        console.print(f"{suppressed} findings suppressed by VEX or ignore rules (see -o json)",
                      soft_wrap=True)
    if report.skipped:
        console.print(f"{len(report.skipped)} packages or advisories could not be evaluated "
                      "(see -o json 'skipped')", soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", soft_wrap=True)
    return buf.getvalue()


# -- native JSON ------------------------------------------------------------------------


def _layer(inv: Inventory, index: int | None) -> dict[str, Any] | None:
    if index is None or index >= len(inv.layers):
        return None
    la: Layer = inv.layers[index]
    return {"index": la.index, "diffId": la.diff_id, "createdBy": la.created_by}


def finding_json(f: Finding, inv: Inventory) -> dict[str, Any]:
    p = f.package
    return {
        "id": f.id,
        "aliases": list(f.aliases),
        "summary": f.summary or None,
        "severity": f.level.value,
        "cvss": {"score": f.severity.score, "vector": f.severity.vector,
                 "source": f.severity.source} if f.severity.score is not None else None,
        "status": f.status.value,
        "fixedVersions": list(f.fixed_versions),
        "kev": {"dateAdded": f.kev.date_added, "ransomware": f.kev.ransomware}
        if f.kev else None,
        "distroUrgency": f.distro_urgency or None,
        "package": {"name": p.name, "version": p.version, "type": p.type.value, "purl": p.purl,
                    "location": p.locations[0].path if p.locations else "",
                    "layer": _layer(inv, p.layer),
                    "source": {"name": p.source.name, "version": p.source.version}
                    if p.source else None},
        "evidence": [
            {"advisory": e.advisory, "source": e.source, "ecosystem": e.ecosystem,
             "searchedName": e.name, "via": e.via, "comparedVersion": e.version,
             "matched": e.matched}
            for e in f.evidence
        ],
        "suppressed": {"by": f.suppressed.by, "reason": f.suppressed.reason,
                       "expires": f.suppressed.expires or None} if f.suppressed else None,
    }


def to_json(report: ScanReport) -> dict[str, Any]:
    inv = report.inventory
    counts = Counter(f.level.value for f in report.active)
    return {
        "hullcheckScan": 1,
        "source": {"kind": inv.source.kind, "name": inv.source.name,
                   "manifestDigest": inv.source.manifest_digest,
                   "configDigest": inv.source.config_digest},
        "distro": {"id": inv.distro.id, "versionId": inv.distro.version_id,
                   "codename": inv.distro.codename} if inv.distro else None,
        "database": report.database,
        "summary": {"packages": len(inv.packages), "findings": len(report.active),
                    "suppressed": len(report.findings) - len(report.active),
                    "bySeverity": dict(sorted(counts.items()))},
        "findings": [finding_json(f, inv) for f in report.findings],
        "skipped": [{"package": s.package.purl, "advisory": s.advisory or None,
                     "reason": s.reason} for s in report.skipped],
        "notes": list(report.notes),
    }


# -- SARIF 2.1.0 ------------------------------------------------------------------------

_SARIF_LEVEL = {Level.MALICIOUS: "error", Level.CRITICAL: "error", Level.HIGH: "error",
                Level.MEDIUM: "warning", Level.LOW: "note", Level.NEGLIGIBLE: "note",
                Level.UNKNOWN: "warning"}
_SECURITY_SEVERITY = {Level.MALICIOUS: 10.0, Level.CRITICAL: 9.5, Level.HIGH: 8.0,
                      Level.MEDIUM: 5.5, Level.LOW: 2.0, Level.NEGLIGIBLE: 0.5,
                      Level.UNKNOWN: 5.0}


def _security_severity(f: Finding) -> str:
    if f.level is not Level.MALICIOUS and f.severity.score is not None:
        return f"{f.severity.score:.1f}"
    return f"{_SECURITY_SEVERITY[f.level]:.1f}"


def sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0 as GitHub code scanning reads it: one rule per vulnerability id, one
    result per (package, vulnerability), located at the package's evidence file."""
    inv = report.inventory
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results = []
    for f in report.findings:
        if f.id not in rule_index:
            rule_index[f.id] = len(rules)
            text = f"{f.id}: {f.level.value} vulnerability" if f.level is not Level.MALICIOUS \
                else f"{f.id}: malicious package"
            rules.append({
                "id": f.id,
                "name": "MaliciousPackage" if f.level is Level.MALICIOUS else "Vulnerability",
                "shortDescription": {"text": text},
                "fullDescription": {"text": f.summary or text},
                "help": {"text": f"{text}. Aliases: {', '.join(f.aliases) or 'none'}.",
                         "markdown": f"**{f.id}** ({f.level.value})"},
                "properties": {"security-severity": _security_severity(f),
                               "tags": ["security", "vulnerability", f.level.value]},
            })
        p = f.package
        path = (p.locations[0].path if p.locations else "").lstrip("/") or inv.source.name
        fixed = ", ".join(f.fixed_versions)
        message = (f"{p.name} {p.version} ({p.type.value}) is affected by {f.id} "
                   f"[{f.level.value}]" + (f"; fixed in {fixed}" if fixed else "; no fix yet")
                   + (f"; layer {p.layer}" if p.layer is not None else ""))
        result: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": rule_index[f.id],
            "level": _SARIF_LEVEL[f.level],
            "message": {"text": message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": path},
                                                "region": {"startLine": 1}},
                           "message": {"text": f"{inv.source.name}: {path}"}}],
            "partialFingerprints": {"hullcheck/v1": f"{p.purl}|{f.id}"},
        }
        if f.suppressed is not None:
            result["suppressions"] = [{"kind": "external", "justification": f.suppressed.reason}]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "hullcheck", "version": __version__,
                                "informationUri": INFO_URI, "rules": rules}},
            "results": results,
        }],
    }


# -- CycloneDX with vulnerabilities ------------------------------------------------------

_CDX_SEVERITY = {Level.MALICIOUS: "critical", Level.CRITICAL: "critical", Level.HIGH: "high",
                 Level.MEDIUM: "medium", Level.LOW: "low", Level.NEGLIGIBLE: "info",
                 Level.UNKNOWN: "unknown"}
_CDX_METHOD = {"CVSS_V3": "CVSSv31", "CVSS_V4": "CVSSv4", "CVSS_V2": "CVSSv2"}


def cyclonedx(report: ScanReport) -> dict[str, Any]:
    """The SBOM (CycloneDX 1.6) with a ``vulnerabilities`` section.

    Written as JSON on top of the SBOM encoder's document rather than through
    cyclonedx-python-lib's Vulnerability model: the encoder already owns the component
    bom-refs, and this keeps one serialisation of them; the result is checked against
    the official schema in the tests.
    """
    from hullcheck import sbom

    doc: dict[str, Any] = json.loads(sbom.encode(report.inventory, "cyclonedx-json"))
    refs: dict[str, str] = {}
    for comp in doc.get("components", []):
        if comp.get("purl") and comp.get("bom-ref"):
            refs.setdefault(comp["purl"], comp["bom-ref"])
    vulns: dict[str, dict[str, Any]] = {}
    for f in report.findings:
        ref = refs.get(f.package.purl)
        if ref is None:
            continue
        v = vulns.get(f.id)
        if v is None:
            rating: dict[str, Any] = {"severity": _CDX_SEVERITY[f.level]}
            if f.severity.score is not None:
                rating["score"] = f.severity.score
                if f.severity.source in _CDX_METHOD:
                    rating["method"] = _CDX_METHOD[f.severity.source]
                if f.severity.vector:
                    rating["vector"] = f.severity.vector
            v = {
                "bom-ref": f"vuln:{f.id}",
                "id": f.id,
                "ratings": [rating],
                "affects": [],
            }
            if f.aliases:
                v["references"] = [{"id": a, "source": {"name": a.split("-", 1)[0]}}
                                   for a in f.aliases]
            if f.fixed_versions:
                v["recommendation"] = f"Upgrade {f.package.name} to {', '.join(f.fixed_versions)}"
            if f.level is Level.MALICIOUS:
                v["description"] = "Malicious package: remove it and rotate any secrets it saw."
            if f.suppressed is not None:
                v["analysis"] = {"state": "not_affected", "detail": f.suppressed.reason}
            vulns[f.id] = v
        target = {"ref": ref, "versions": [{"version": f.package.version, "status": "affected"}]}
        if target not in v["affects"]:
            v["affects"].append(target)
    doc["vulnerabilities"] = list(vulns.values())
    return doc
