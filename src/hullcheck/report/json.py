"""hullcheck's own JSON documents, one function per report type. Scripts read these: a key
renamed or dropped breaks them (tests/golden/report holds each shape)."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from hullcheck.model import Visibility

if TYPE_CHECKING:
    from hullcheck.base.model import Deadline
    from hullcheck.match.model import Finding
    from hullcheck.misconfig import ConfigFinding, ConfigReport
    from hullcheck.model import Inventory, Layer
    from hullcheck.policy import Item
    from hullcheck.report.model import BaseCatalog, BaseReport, PolicyReport, ScanReport
    from hullcheck.secrets.model import SecretFinding, SecretReport


def dump(doc: Any) -> bytes:
    """Indented, UTF-8, one final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


# -- scans -------------------------------------------------------------------------------


def _scan_layer(inv: Inventory, index: int | None) -> dict[str, Any] | None:
    if index is None or index >= len(inv.layers):
        return None
    la = inv.layers[index]
    return {"index": la.index, "diffId": la.diff_id, "createdBy": la.created_by}


def finding(f: Finding, inv: Inventory) -> dict[str, Any]:
    p = f.package
    return {
        "id": f.id,
        "aliases": list(f.aliases),
        "summary": f.summary or None,
        "severity": f.severity.value,
        "cvss": {"score": f.score.score, "vector": f.score.vector,
                 "source": f.score.source} if f.score.score is not None else None,
        "severityFrom": f.severity_from or None,
        "status": f.status.value,
        "fixedVersions": list(f.fixed_versions),
        "kev": {"dateAdded": f.kev.date_added, "ransomware": f.kev.ransomware}
        if f.kev else None,
        "distroUrgency": f.distro_urgency or None,
        "package": {"name": p.name, "version": p.version, "type": p.type.value, "purl": p.purl,
                    "location": p.locations[0].path if p.locations else "",
                    "layer": _scan_layer(inv, p.layer),
                    "visible": p.visibility is Visibility.VISIBLE,
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


def scan(report: ScanReport) -> dict[str, Any]:
    inv = report.inventory
    counts = Counter(f.severity.value for f in report.active)
    return {
        "hullcheckScan": 1,
        "scanners": list(report.scanners),
        "source": {"kind": inv.source.kind, "name": inv.source.name,
                   "manifestDigest": inv.source.manifest_digest,
                   "configDigest": inv.source.config_digest},
        "distro": {"id": inv.distro.id, "versionId": inv.distro.version_id,
                   "codename": inv.distro.codename} if inv.distro else None,
        "database": report.database,
        "summary": {"scope": inv.scope, "packages": len(report.packages),
                    "hiddenPackages": len(inv.hidden), "hiddenFindings": report.hidden_findings,
                    "findings": len(report.active),
                    "suppressed": len(report.findings) - len(report.active),
                    "bySeverity": dict(sorted(counts.items())),
                    "secrets": None if report.secrets is None else len(report.secret_findings),
                    "configFailed": None if report.config is None
                    else len(report.config_findings)},
        "findings": [finding(f, inv) for f in report.findings],
        "skipped": [{"package": s.package.purl, "advisory": s.advisory or None,
                     "reason": s.reason} for s in report.skipped],
        # The secrets and config documents without their ``source``: the scan has one.
        "secrets": None if report.secrets is None else _without_source(secrets(report.secrets)),
        "config": None if report.config is None else _without_source(config(report.config)),
        "notes": list(report.notes),
    }


def _without_source(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "source"}


def _secret_layer(layer: Layer | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {"index": layer.index, "digest": layer.digest, "diffId": layer.diff_id,
            "createdBy": layer.created_by}


def _secret(f: SecretFinding) -> dict[str, Any]:
    return {
        "ruleId": f.rule_id,
        "title": f.title,
        "severity": f.severity.value,
        "origin": f.origin.value,
        "path": f.path,
        "line": f.line,
        "visible": f.visible,
        "layer": _secret_layer(f.layer),
        "deletedBy": _secret_layer(f.deleted_by),
        "confidence": f.confidence.value,
        "lowConfidenceReason": f.why_low or None,
        "match": f.match,
    }


def secrets(report: SecretReport) -> dict[str, Any]:
    src = report.source
    return {
        "source": {"name": src.name, "kind": src.kind, "manifestDigest": src.manifest_digest,
                   "configDigest": src.config_digest},
        "findings": [_secret(f) for f in report.findings],
        "skipped": {"binary": report.skipped.binary, "tooLarge": report.skipped.too_large,
                    "allowlisted": report.skipped.allowlisted,
                    "packageFiles": report.skipped.package_files,
                    "packageFileMatches": report.skipped.package_matches},
        "scanned": {"files": report.files_scanned, "bytes": report.bytes_scanned},
    }


def _check(r: ConfigFinding) -> dict[str, Any]:
    return {"id": r.id, "title": r.title, "severity": r.severity.value, "cis": r.cis or None,
            "status": r.status.value, "remediation": r.remediation,
            "evidence": list(r.evidence)}


def config(report: ConfigReport) -> dict[str, Any]:
    return {"source": {"name": report.source.name,
                       "manifestDigest": report.source.manifest_digest},
            "findings": [_check(r) for r in report.findings],
            "checks": [{"id": r.id, "status": r.status.value} for r in report.results]}


# -- policy decisions --------------------------------------------------------------------


def _item(i: Item) -> dict[str, Any]:
    return {"kind": i.kind, "id": i.id, "detail": i.detail, "ids": list(i.ids),
            "package": i.package or None, "purl": i.purl or None}


def decision(report: PolicyReport) -> dict[str, Any]:
    d = report.decision
    return {
        "hullcheckDecision": 1,
        "image": {"ref": d.image.ref, "digest": d.image.digest or None},
        "policy": d.policy,
        "outcome": d.outcome.value,
        "evaluatedOn": d.evaluated_on.isoformat() if d.evaluated_on else None,
        "violations": [{"rule": v.rule, "action": v.action.value, "message": v.message,
                        "description": v.description, "items": [_item(i) for i in v.items]}
                       for v in d.violations],
        "waived": [{"rule": w.rule, "item": _item(w.item) if w.item else None, "by": w.by,
                    "reason": w.reason, "expires": w.expires.isoformat() if w.expires else None}
                   for w in d.waived],
        "expiredWaivers": [{"waiver": e.waiver.describe(), "at": str(e.waiver.where),
                            "reason": e.waiver.reason, "expired": e.waiver.expires.isoformat(),
                            "wouldWaive": list(e.would_waive)} for e in d.expired_waivers],
        "notes": list(d.notes),
    }


# -- base images -------------------------------------------------------------------------


def _deadline(d: Deadline) -> str | bool | None:
    return d.on.isoformat() if d.on else (True if d.passed else None)


def _base_finding(f: Finding) -> dict[str, Any]:
    return {"id": f.id, "aliases": list(f.aliases), "severity": f.severity.value,
            "status": f.status.value, "fixedVersions": list(f.fixed_versions),
            "package": {"name": f.package.name, "version": f.package.version,
                        "type": f.package.type.value, "purl": f.package.purl,
                        "layer": f.package.layer}}


def base(report: BaseReport) -> dict[str, Any]:
    from hullcheck.base.catalog import distro_to_json

    a = report.assessment
    ident = a.identity
    fresh = a.freshness
    rel = a.eol.release
    advice = a.advice
    return {
        "image": {"name": a.image.name, "manifestDigest": a.image.manifest_digest or None,
                  "created": a.image.created or None},
        "distro": distro_to_json(a.distro),
        "base": {
            "identifiedBy": ident.by.value, "reference": ident.reference or None,
            "name": ident.name or None, "tag": ident.tag or None, "digest": ident.digest or None,
            "layers": ident.layers, "layersMatch": ident.layers_match, "also": list(ident.also),
        },
        "trust": None if a.trust is None else {
            "state": a.trust.state.value, "reason": a.trust.reason, "rule": a.trust.rule or None,
            "signers": list(a.trust.signers)},
        "freshness": None if fresh is None else {
            "tag": fresh.tag, "builtDigest": fresh.built_digest,
            "builtCreated": fresh.built_created.isoformat() if fresh.built_created else None,
            "currentDigest": fresh.current_digest,
            "currentCreated": fresh.current_created.isoformat() if fresh.current_created else None,
            "upToDate": fresh.up_to_date, "daysBehind": fresh.days_behind,
            "summary": fresh.sentence()},
        "eol": {
            "state": a.eol.state.value, "reason": a.eol.reason, "checkedOn": a.eol.today.isoformat(),
            "release": None if rel is None else {
                "distro": rel.distro_id, "title": rel.title, "cycle": rel.cycle,
                "codename": rel.codename or None,
                "released": rel.released.isoformat() if rel.released else None,
                "activeSupportEnd": _deadline(rel.active_support_end),
                "securitySupportEnd": _deadline(rel.security_support_end),
                "extendedSupportEnd": _deadline(rel.extended_support_end),
                "latest": rel.latest or None}},
        "advice": None if advice is None else {
            "summary": advice.summary(), "base": advice.base, "candidate": advice.candidate,
            "fixedBySeverity": {s.value: n for s, n in advice.fixed_by_severity.items()},
            "fixed": [_base_finding(f) for f in advice.fixed],
            "remaining": [_base_finding(f) for f in advice.remaining],
            "introduced": [_base_finding(f) for f in advice.introduced]},
        "notes": list(a.notes),
        "failures": list(report.failures),
    }


def catalog(report: BaseCatalog) -> dict[str, Any]:
    from hullcheck.base.catalog import entry_to_json

    return {"bases": [entry_to_json(e) for e in report.entries]}
