"""The API's JSON shapes, from the fleet store's records (camelCase keys, RFC 3339 times).

The shapes the issue fixes (clients rely on them; more fields are welcome):
- an image in a listing: ``{"digest", "repository", "tags", "status", "findings": {severity: n}}``;
- one image: the same with ``"findings": [...]``, each the object ``scan -o json`` writes,
  plus its history (``state``, ``firstSeen``, ``fixedAt``, ``history``);
- a search hit: ``{"digest", "repository", "tags", "deployments", "owners"}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hullcheck.fleet.model import (
    AuditEntry,
    Delivery,
    Deployment,
    FindingRow,
    ImageDetail,
    ImageHit,
    ImageSummary,
    Job,
    PackageRow,
    StoredFinding,
    TokenInfo,
    TriageDecision,
)
from hullcheck.model import Severity

JSON = dict[str, Any]
SEVERITIES = tuple(s.value for s in Severity)  # malicious, critical, ..., unknown


def when(at: dt.datetime | dt.date | None) -> str | None:
    """RFC 3339 in UTC (``Z``); the store's SQLite times are naive UTC."""
    if at is None:
        return None
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return at.isoformat()


def counts(by_severity: dict[str, int]) -> dict[str, int]:
    """Every severity word, zero included, so clients need not guess which keys exist."""
    out = {s: by_severity.get(s, 0) for s in SEVERITIES}
    out.update({k: v for k, v in by_severity.items() if k not in out})
    return out


def summary(image: ImageSummary) -> JSON:
    return {"digest": image.digest, "repository": image.repository, "tags": list(image.tags),
            "status": image.status.value, "findings": counts(image.findings),
            "lastScanned": when(image.last_scanned)}


def deployment(d: Deployment) -> JSON:
    return {"cluster": d.cluster, "namespace": d.namespace, "workload": d.workload,
            "container": d.container, "imageDigest": d.image_digest}


def finding(f: FindingRow) -> JSON:
    """The ``scan -o json`` object as the scan wrote it; the store's columns fill in what a
    finding recorded without it (an SBOM's) lacks."""
    out: JSON = dict(f.data)
    out.setdefault("id", f.advisory_id)
    out.setdefault("aliases", list(f.aliases))
    out.setdefault("severity", f.severity)
    out.setdefault("status", f.status)
    out.setdefault("fixedVersions", list(f.fixed_versions))
    out.setdefault("package", {"purl": f.package_purl})
    if "suppressed" not in out:
        out["suppressed"] = ({"by": "", "reason": f.suppressed_reason, "expires": None}
                             if f.suppressed else None)
    return out


def stored_finding(s: StoredFinding) -> JSON:
    out = finding(s.finding)
    out.update({
        "state": s.state.value, "firstSeen": when(s.first_seen), "fixedAt": when(s.fixed_at),
        "history": [{"at": when(h.at), "change": h.change, "reason": h.reason,
                     "details": h.details} for h in s.history],
    })
    return out


def image(detail: ImageDetail, decisions: tuple[TriageDecision, ...] = ()) -> JSON:
    current = [t.tag if t.repository == detail.repository else f"{t.repository}:{t.tag}"
               for t in detail.tags if t.current]
    open_counts: dict[str, int] = {}
    for s in detail.findings:
        if s.state.value == "open" and not s.finding.suppressed:
            open_counts[s.finding.severity] = open_counts.get(s.finding.severity, 0) + 1
    queued = detail.rematch_queued
    return {
        "digest": detail.digest, "repository": detail.repository, "tags": current,
        "status": detail.status.value, "error": detail.error or None,
        "mediaType": detail.media_type, "created": when(detail.created),
        "labels": detail.labels, "owners": list(detail.owners),
        "deployments": [deployment(d) for d in detail.deployments],
        "layers": [{"digest": la.digest, "diffId": la.diff_id, "size": la.size,
                    "createdBy": la.created_by} for la in detail.layers],
        "base": detail.base, "policy": detail.policy, "signatures": list(detail.signatures),
        "firstScanned": when(detail.first_scanned), "lastScanned": when(detail.last_scanned),
        # a marker of a queued re-match is not a build: the build it waits for instead
        "matchedBuild": None if queued is not None else detail.matched_build or None,
        "rematchQueued": queued,
        "tagHistory": [{"repository": t.repository, "tag": t.tag, "current": t.current,
                        "firstSeen": when(t.first_seen), "lastSeen": when(t.last_seen)}
                       for t in detail.tags],
        "summary": counts(open_counts),
        "findings": [stored_finding(s) for s in detail.findings],
        "triage": [decision(d) for d in decisions],
    }


def package(p: PackageRow) -> JSON:
    return {"purl": p.purl, "type": p.type, "ecosystem": p.ecosystem, "name": p.name,
            "version": p.version, "source": {"name": p.source_name, "version": p.source_version}
            if p.source_name else None, "licence": p.licence or None, "layer": p.layer,
            "visible": p.visible}


def hit(h: ImageHit) -> JSON:
    out: JSON = {"digest": h.digest, "repository": h.repository, "tags": list(h.tags),
                 "deployments": [deployment(d) for d in h.deployments],
                 "owners": list(h.owners)}
    if h.packages:
        out["packages"] = [package(p) for p in h.packages]
        out["visible"] = any(p.visible for p in h.packages)
    if h.findings:
        out["findings"] = [finding(f) for f in h.findings]
    return out


def job(j: Job) -> JSON:
    return {"id": j.id, "kind": j.kind, "status": j.status.value, "attempts": j.attempts,
            "error": j.last_error or None, "createdAt": when(j.created_at),
            "finishedAt": when(j.finished_at), "args": j.args}


def decision(d: TriageDecision) -> JSON:
    return {"scope": d.scope.value if hasattr(d.scope, "value") else str(d.scope),
            "target": d.target, "advisory": d.advisory_id, "package": d.package_purl or None,
            "action": d.action.value if hasattr(d.action, "value") else str(d.action),
            "assignee": d.assignee or None, "vexStatus": d.vex_status or None,
            "vexJustification": d.vex_justification or None, "reason": d.reason,
            "expires": d.expires.isoformat() if d.expires else None}


def audit(e: AuditEntry) -> JSON:
    return {"id": e.id, "at": when(e.at), "actor": e.actor, "action": e.action,
            "target": e.target, "reason": e.reason, "details": e.details}


def delivery(d: Delivery) -> JSON:
    return {"id": d.id, "channel": d.channel, "status": d.status.value, "attempts": d.attempts,
            "nextAttemptAt": when(d.next_attempt_at), "lastError": d.last_error or None,
            "deliveredAt": when(d.delivered_at),
            "event": {"id": d.event.id, "uid": d.event.uid, "type": d.event.type,
                      "imageDigest": d.event.image_digest, "createdAt": when(d.event.created_at)}}


def token(t: TokenInfo) -> JSON:
    return {"name": t.name, "scope": t.scope.value, "createdAt": when(t.created_at),
            "lastUsedAt": when(t.last_used_at), "revokedAt": when(t.revoked_at)}
