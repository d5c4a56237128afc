"""Scan results for people and machines: table, JSON, SARIF 2.1.0, CycloneDX with vulnerabilities.

A scan report holds what each scanner found: vulnerability findings, secret findings (always
redacted: the secrets room never hands out the secret itself) and failed image configuration
checks. Table, JSON and SARIF show all three; CycloneDX holds vulnerabilities only.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from hullcheck import __version__
from hullcheck.match.model import Finding, Level, Skipped
from hullcheck.model import Inventory, Layer

if TYPE_CHECKING:  # rendered only when those scanners ran: imported then
    from hullcheck.misconfig import ConfigFinding, ConfigReport
    from hullcheck.secrets import SecretFinding, SecretReport

FORMATS = ("table", "json", "sarif", "cyclonedx-json")
INFO_URI = "https://github.com/hullcheck/hullcheck"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    inventory: Inventory
    findings: tuple[Finding, ...]  # shown findings (after --only-fixed), suppressed ones marked
    skipped: tuple[Skipped, ...]
    database: dict[str, Any] | None  # built_at, schema_version, path; None: no vuln scanner
    notes: tuple[str, ...] = ()
    secrets: SecretReport | None = None  # None: the secret scanner did not run
    config: ConfigReport | None = None  # None: the config checks did not run
    scanners: tuple[str, ...] = ("vuln",)

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def secret_findings(self) -> tuple[SecretFinding, ...]:
        return self.secrets.findings if self.secrets is not None else ()

    @property
    def config_findings(self) -> tuple[ConfigFinding, ...]:
        """The failed checks."""
        return self.config.findings if self.config is not None else ()

    def fails(self, threshold: Level) -> bool:
        """Whether an active finding of any scanner is at or over ``threshold``: secret and
        config severities use the same words and ranks as vulnerability levels."""
        ranks = [f.level.rank for f in self.active]
        ranks += [f.severity.rank for f in self.secret_findings]
        ranks += [f.severity.rank for f in self.config_findings]
        return any(rank >= threshold.rank for rank in ranks)


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
    """One section per scanner that ran; the vulnerability section alone is untitled."""
    width = width or 140
    sections: list[tuple[str, str]] = []
    if "vuln" in report.scanners:
        sections.append(("Vulnerabilities", _vuln_table(report, width)))
    if report.secrets is not None:
        from hullcheck.secrets.render import table as secrets_table

        sections.append(("Secrets (redacted)", secrets_table(report.secrets, width=width)))
    if report.config is not None:
        from hullcheck import misconfig

        sections.append(("Image configuration", misconfig.table(report.config, width=width)))
    if len(sections) == 1:
        text = sections[0][1]
    else:
        text = "\n".join(f"== {title} ==\n{body.lstrip(chr(10))}" for title, body in sections)
    return text


def _vuln_table(report: ScanReport, width: int) -> str:
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
    console = Console(file=buf, width=width, color_system=None, highlight=False)
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
        "scanners": list(report.scanners),
        "source": {"kind": inv.source.kind, "name": inv.source.name,
                   "manifestDigest": inv.source.manifest_digest,
                   "configDigest": inv.source.config_digest},
        "distro": {"id": inv.distro.id, "versionId": inv.distro.version_id,
                   "codename": inv.distro.codename} if inv.distro else None,
        "database": report.database,
        "summary": {"packages": len(inv.packages), "findings": len(report.active),
                    "suppressed": len(report.findings) - len(report.active),
                    "bySeverity": dict(sorted(counts.items())),
                    "secrets": None if report.secrets is None else len(report.secret_findings),
                    "configFailed": None if report.config is None
                    else len(report.config_findings)},
        "findings": [finding_json(f, inv) for f in report.findings],
        "skipped": [{"package": s.package.purl, "advisory": s.advisory or None,
                     "reason": s.reason} for s in report.skipped],
        "secrets": _secrets_json(report.secrets),
        "config": _config_json(report.config),
        "notes": list(report.notes),
    }


def _secrets_json(report: SecretReport | None) -> dict[str, Any] | None:
    """The ``hullcheck secrets -o json`` object without its ``source`` (the scan has one)."""
    if report is None:
        return None
    from hullcheck.secrets import to_json as secrets_to_json

    doc = secrets_to_json(report)
    doc.pop("source", None)
    return doc


def _config_json(report: ConfigReport | None) -> dict[str, Any] | None:
    """The ``hullcheck config -o json`` object without its ``source``."""
    if report is None:
        return None
    from hullcheck import misconfig

    doc = misconfig.to_json(report)
    doc.pop("source", None)
    return doc


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
    result per (package, vulnerability), located at the package's evidence file; one rule per
    secret rule id (a result per secret, at its file and line, with its layer) and per
    configuration check id (a result per failed check, with its CIS section)."""
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
    for rule, result in _secret_sarif(report) + _config_sarif(report):
        if rule["id"] not in rule_index:
            rule_index[rule["id"]] = len(rules)
            rules.append(rule)
        result["ruleIndex"] = rule_index[rule["id"]]
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


def _sarif_rule(rule_id: str, name: str, level: Level, *, short: str, full: str, help_text: str,
                tags: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": f"**{rule_id}** ({level.value}): {help_text}"},
        "properties": {"security-severity": f"{_SECURITY_SEVERITY[level]:.1f}",
                       "tags": ["security", *tags, level.value], **extra},
    }


def _layer_text(layer: Layer | None) -> str:
    if layer is None:
        return ""
    return f"layer {layer.index}" + (f" ({layer.created_by})" if layer.created_by else "")


def _secret_sarif(report: ScanReport) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from hullcheck.secrets import Origin

    name = report.inventory.source.name
    out = []
    for f in report.secret_findings:
        level = Level(f.severity.value)  # same words, same ranks
        rule = _sarif_rule(
            f.rule_id, "Secret", level, short=f.title,
            full=f"{f.title}: a secret stored in the image, readable by anyone who can pull it",
            help_text="Remove it from every layer (deleting it in a later layer does not remove "
                      "it from the image), rebuild, and rotate the secret.", tags=["secret"])
        where = _layer_text(f.layer)
        message = (f"{f.title} in {f.path} line {f.line}" + (f", {where}" if where else "")
                   + ("" if f.visible else
                      f"; deleted or replaced in {_layer_text(f.deleted_by) or 'a later layer'} "
                      "but still shipped in the image")
                   + f": {f.match}")
        uri = f.path.lstrip("/") if f.origin is Origin.FILE else f.path
        layer = f.layer
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "level": _SARIF_LEVEL[level],
            "message": {"text": message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                                "region": {"startLine": max(f.line, 1)}},
                           "message": {"text": f"{name}: {f.path}"
                                       + (f" ({where})" if where else "")}}],
            "partialFingerprints": {"hullcheck/v1": "|".join(
                (f.rule_id, f.path, str(f.line), str(layer.index) if layer else ""))},
            "properties": {
                "origin": f.origin.value,
                "visible": f.visible,
                "layer": {"index": layer.index, "diffId": layer.diff_id,
                          "createdBy": layer.created_by} if layer else None,
                "deletedBy": f.deleted_by.index if f.deleted_by else None,
            },
        }
        out.append((rule, result))
    return out


def _config_sarif(report: ScanReport) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    name = report.inventory.source.name
    out = []
    for c in report.config_findings:
        level = Level(c.severity.value)
        cis: dict[str, Any] = {"cis": c.cis} if c.cis else {}
        rule = _sarif_rule(
            c.id, "ImageConfiguration", level, short=c.title,
            full=c.title + (f" (CIS Docker Benchmark {c.cis})" if c.cis else ""),
            help_text=f"Fix: {c.remediation}", tags=["misconfiguration"], **cis)
        # Evidence naming a file ("/usr/bin/x (setuid, mode 4755)") locates the result there;
        # the others (config, history) point at the image.
        paths = list(dict.fromkeys(e.split(" (", 1)[0] for e in c.evidence if e.startswith("/")))
        locations = [{"physicalLocation": {"artifactLocation": {"uri": p.lstrip("/")}},
                      "message": {"text": f"{name}: {p}"}} for p in paths] or [
            {"physicalLocation": {"artifactLocation": {"uri": name}},
             "message": {"text": f"{name}: image configuration"}}]
        shown = "; ".join(c.evidence[:5]) + (f"; and {len(c.evidence) - 5} more"
                                             if len(c.evidence) > 5 else "")
        out.append((rule, {
            "ruleId": c.id,
            "level": _SARIF_LEVEL[level],
            "message": {"text": f"{c.title}" + (f": {shown}" if shown else "")
                        + f". Fix: {c.remediation}"},
            "locations": locations,
            "partialFingerprints": {"hullcheck/v1": c.id},
            "properties": {"cis": c.cis or None, "evidence": list(c.evidence)},
        }))
    return out


# -- CycloneDX with vulnerabilities ------------------------------------------------------

_CDX_SEVERITY = {Level.MALICIOUS: "critical", Level.CRITICAL: "critical", Level.HIGH: "high",
                 Level.MEDIUM: "medium", Level.LOW: "low", Level.NEGLIGIBLE: "info",
                 Level.UNKNOWN: "unknown"}
_CDX_METHOD = {"CVSS_V3": "CVSSv31", "CVSS_V4": "CVSSv4", "CVSS_V2": "CVSSv2"}


def cyclonedx(report: ScanReport) -> dict[str, Any]:
    """The SBOM (CycloneDX 1.6) with a ``vulnerabilities`` section; secret and configuration
    findings have no place in it (the CLI says so when those scanners ran).

    Written as JSON on top of the SBOM encoder's document rather than through
    cyclonedx-python-lib's Vulnerability model: the encoder already owns the component
    bom-refs, and this keeps one serialisation of them; the result is checked against
    the official schema in the tests.
    """
    from hullcheck import sbom

    # A vulnerability report names packages; the files each owns (tens of thousands on a
    # large image, 10+ MB) belong in the SBOM, not here.
    doc: dict[str, Any] = json.loads(sbom.encode(report.inventory, "cyclonedx-json",
                                                 files=False))
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
