"""What each page shows, gathered from the store (and the advisory database) in one worker
thread: plain values for the templates, never a live connection or a raw row.

The stored JSON of an image (its base assessment, policy decision, signatures, finding
objects) is read defensively here (``_text``, ``_dict``): a field of the wrong type shows
as absent rather than breaking the page, and templates see only strings, numbers and
these dataclasses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hullcheck.errors import HullcheckError
from hullcheck.fleet import overview
from hullcheck.fleet.model import (
    JSON,
    AuditEntry,
    Delivery,
    FindingRow,
    FindingState,
    ImageDetail,
    ImageHit,
    PackageRow,
    StoredFinding,
    TokenInfo,
    TriageDecision,
)
from hullcheck.model import Severity
from hullcheck.report.fleet import ImageRisk, TrendPoint, trend

if TYPE_CHECKING:
    from hullcheck.monitor.service import Service

PAGE = 50  # images at risk per page
PACKAGES_PAGE = 200
TREND_DAYS = 30
MAX_HITS = 200  # images a search or an advisory page lists (the first ones, said so)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# An advisory id as databases write them: CVE-2024-3094 (any case), GHSA-xxxx-xxxx-xxxx,
# or an upper-case prefix and a number (PYSEC-2019-133, MAL-2023-1, DSA-5649-1, RUSTSEC-...).
# Package names are lower case, so "python-3" stays a package search.
ADVISORY = re.compile(r"(?i:CVE-\d{4}-\d{4,}|GHSA(-[0-9a-z]{4}){3})|[A-Z][A-Z0-9]+-\d[\w.:-]*")
_RANK = {s.value: s.rank for s in Severity}


def _text(value: Any, limit: int = 2000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def severity_rank(word: str) -> int:
    return _RANK.get(word, 0)


# -- fleet ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetData:
    filter: overview.Filter
    totals: dict[str, int]
    images: int
    at_risk: tuple[ImageRisk, ...]
    at_risk_total: int
    page: int
    pages: int
    day: overview.Changes
    week: overview.Changes
    trend: tuple[TrendPoint, ...]
    options: overview.Options


def risk(r: overview.RiskRow) -> ImageRisk:
    return ImageRisk.of(digest=r.digest, repository=r.repository, tags=r.tags,
                        status=r.status.value, counts=r.counts, malicious=r.malicious, kev=r.kev,
                        fixable=r.fixable, policy_failed=r.policy_failed, base_eol=r.base_eol,
                        base_stale=r.base_stale, last_scanned=r.last_scanned)


def fleet(service: Service, flt: overview.Filter, *, page: int = 1) -> FleetData:
    store = service.store
    now = store.clock()
    with store.read() as conn:
        risky = overview.fleet_risk(conn, flt, limit=PAGE, offset=(page - 1) * PAGE)
        day, week = overview.changes_in(conn, [now - dt.timedelta(days=1),
                                               now - dt.timedelta(days=7)], flt, latest=20)
        count = overview.image_count(conn, flt)
        options = overview.filter_options(conn)
    points = trend(((c.day, c.severity, c.open) for c in store.trend(days=TREND_DAYS + 400)),
                   days=TREND_DAYS, today=now.date())
    return FleetData(filter=flt, totals=risky.totals, images=count,
                     at_risk=tuple(risk(r) for r in risky.rows), at_risk_total=risky.total,
                     page=page, pages=max(1, -(-risky.total // PAGE)), day=day,
                     week=week, trend=points, options=options)


# -- one image --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingView:
    """One finding as the image page shows it."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    cvss: float | None
    kev: bool
    kev_added: str
    fixed_versions: tuple[str, ...]
    status: str
    package_name: str
    package_version: str
    package_purl: str
    layer: str
    via_source: str  # "matched via source package X" when it was
    suppressed: bool
    suppressed_by: str
    suppressed_reason: str
    suppressed_expires: str
    state: str
    first_seen: dt.datetime
    fixed_at: dt.datetime | None
    history: tuple[tuple[dt.datetime, str, str], ...]
    triage: tuple[TriageDecision, ...] = ()

    @property
    def anchor(self) -> str:
        return finding_view_anchor(self.id, self.package_name)


def finding_view_anchor(advisory_id: str, package_name: str) -> str:
    """The id of a finding's row on the image page (a fragment a redirect can name)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{advisory_id}-{package_name}")[:120]


def finding_view(s: StoredFinding, decisions: tuple[TriageDecision, ...] = ()) -> FindingView:
    f: FindingRow = s.finding
    data = f.data if isinstance(f.data, dict) else {}
    pkg = _dict(data.get("package"))
    kev = _dict(data.get("kev"))
    sup = _dict(data.get("suppressed"))
    layer = _dict(pkg.get("layer"))
    via = ""
    for item in _list(data.get("evidence")):
        e = _dict(item)
        if _text(e.get("via")) == "source":
            via = _text(e.get("searchedName"), 200)
    index = layer.get("index")
    return FindingView(
        id=f.advisory_id, aliases=f.aliases, summary=_text(data.get("summary"), 300),
        severity=f.severity, cvss=f.cvss, kev=f.kev, kev_added=_text(kev.get("dateAdded"), 40),
        fixed_versions=f.fixed_versions, status=f.status,
        package_name=_text(pkg.get("name"), 300) or f.package_purl,
        package_version=_text(pkg.get("version"), 200), package_purl=f.package_purl,
        layer=str(index) if isinstance(index, int) else "", via_source=via,
        suppressed=f.suppressed, suppressed_by=_text(sup.get("by"), 200),
        suppressed_reason=f.suppressed_reason or _text(sup.get("reason"), 500),
        suppressed_expires=_text(sup.get("expires"), 40), state=s.state.value,
        first_seen=s.first_seen, fixed_at=s.fixed_at,
        history=tuple((h.at, h.change, h.reason) for h in s.history),
        triage=tuple(d for d in decisions if d.advisory_id.upper() in
                     {f.advisory_id.upper(), *(a.upper() for a in f.aliases)}
                     and d.package_purl in ("", f.package_purl)))


def _finding_order(v: FindingView) -> tuple[int, int, int, int, str, str]:
    return (v.state != "open", v.suppressed, -severity_rank(v.severity), not v.kev, v.id,
            v.package_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseView:
    error: str = ""
    reference: str = ""
    identified_by: str = ""
    trust: str = ""
    trust_reason: str = ""
    freshness: str = ""
    up_to_date: bool | None = None
    eol_state: str = ""
    eol_reason: str = ""
    advice: str = ""
    notes: tuple[str, ...] = ()


def base_view(base: JSON | None) -> BaseView | None:
    if not isinstance(base, dict):
        return None
    if base.get("error"):
        return BaseView(error=_text(base.get("error"), 500))
    b, trust, fresh = _dict(base.get("base")), _dict(base.get("trust")), _dict(base.get("freshness"))
    eol, advice = _dict(base.get("eol")), _dict(base.get("advice"))
    up = fresh.get("upToDate")
    return BaseView(
        reference=_text(b.get("reference")) or _text(b.get("name")),
        identified_by="" if b.get("identifiedBy") == "none" else _text(b.get("identifiedBy"), 100),
        trust=_text(trust.get("state"), 40),
        trust_reason=_text(trust.get("reason"), 500), freshness=_text(fresh.get("summary"), 500),
        up_to_date=up if isinstance(up, bool) else None, eol_state=_text(eol.get("state"), 40),
        eol_reason=_text(eol.get("reason"), 500), advice=_text(advice.get("summary"), 500),
        notes=tuple(_text(n, 500) for n in _list(base.get("notes")) if isinstance(n, str)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    rule: str
    action: str
    message: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyView:
    outcome: str
    policy: str
    error: str
    violations: tuple[Violation, ...]
    waived: int
    notes: tuple[str, ...]


def policy_view(policy: JSON | None) -> PolicyView | None:
    if not isinstance(policy, dict):
        return None
    violations = []
    for item in _list(policy.get("violations"))[:100]:
        v = _dict(item)
        items = tuple(_text(_dict(i).get("id"), 200) or _text(_dict(i).get("detail"), 200)
                      for i in _list(v.get("items"))[:20])
        violations.append(Violation(rule=_text(v.get("rule"), 200),
                                    action=_text(v.get("action"), 40),
                                    message=_text(v.get("message"), 500), items=items))
    return PolicyView(outcome=_text(policy.get("outcome"), 20) or "unknown",
                      policy=_text(policy.get("policy"), 300), error=_text(policy.get("error"), 500),
                      violations=tuple(violations), waived=len(_list(policy.get("waived"))),
                      notes=tuple(_text(n, 300) for n in _list(policy.get("notes"))[:20]))


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerView:
    index: int
    digest: str
    size: int
    created_by: str
    added: int  # visible packages this layer brought
    hidden: tuple[tuple[PackageRow, PackageRow | None], ...]  # shipped-not-visible, replaced by
    replaced_here: tuple[PackageRow, ...]  # lower-layer packages this layer replaced


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretView:
    rule: str
    severity: str
    path: str
    line: int | None
    layer: str
    deleted_by: str  # the layer that deleted the file ("" when it is still visible)
    redacted: str


def _layer_index(value: Any) -> str:
    index = _dict(value).get("index")
    return str(index) if isinstance(index, int) else ""


def secrets_of(payload: JSON | None) -> tuple[tuple[SecretView, ...], int]:
    """The secret findings of the image's ``secret-found`` event (redacted by the scanner:
    ``match`` is what ``scan -o json`` shows, never the secret)."""
    if not isinstance(payload, dict):
        return (), 0
    out = []
    for item in _list(payload.get("secrets"))[:100]:
        s = _dict(item)
        line = s.get("line")
        deleted = _layer_index(s.get("deletedBy"))
        out.append(SecretView(
            rule=_text(s.get("title"), 200) or _text(s.get("ruleId"), 200),
            severity=_text(s.get("severity"), 20) or "unknown", path=_text(s.get("path"), 1000),
            line=line if isinstance(line, int) else None, layer=_layer_index(s.get("layer")),
            deleted_by=deleted or ("?" if s.get("visible") is False else ""),
            redacted=_text(s.get("match"), 200)))
    count = payload.get("count")
    return tuple(out), count if isinstance(count, int) else len(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckView:
    id: str
    title: str
    severity: str
    cis: str
    remediation: str
    evidence: tuple[str, ...]


def checks_of(payload: JSON | None) -> tuple[tuple[CheckView, ...], int]:
    """The failed configuration checks of the image's ``config-failed`` event."""
    if not isinstance(payload, dict):
        return (), 0
    out = []
    for item in _list(payload.get("checks"))[:100]:
        c = _dict(item)
        out.append(CheckView(id=_text(c.get("id"), 100), title=_text(c.get("title"), 300),
                             severity=_text(c.get("severity"), 20) or "unknown",
                             cis=_text(c.get("cis"), 40), remediation=_text(c.get("remediation"), 500),
                             evidence=tuple(_text(e, 300) for e in _list(c.get("evidence"))[:5])))
    count = payload.get("count")
    return tuple(out), count if isinstance(count, int) else len(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventView:
    type: str
    at: dt.datetime
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageData:
    detail: ImageDetail
    tags: tuple[str, ...]  # current
    counts: dict[str, int]
    findings: tuple[FindingView, ...]
    decisions: tuple[TriageDecision, ...]
    packages: tuple[PackageRow, ...]
    packages_total: int
    package_query: str
    package_page: int
    package_pages: int
    layers: tuple[LayerView, ...]
    base: BaseView | None
    policy: PolicyView | None
    signatures: tuple[dict[str, str], ...]
    signature_keys: int  # keys the config verifies signatures with (0: not checked)
    secrets: tuple[SecretView, ...]
    secrets_count: int
    secrets_at: dt.datetime | None
    checks: tuple[CheckView, ...]
    checks_count: int
    events: tuple[EventView, ...]
    history: tuple[overview.DigestHistory, ...]
    audit: tuple[AuditEntry, ...]
    hidden_total: int


def packages_page(service: Service, digest: str, text: str, page: int
                  ) -> tuple[tuple[PackageRow, ...], int, int]:
    with service.store.read() as conn:
        rows, total = overview.image_packages(conn, digest, text=text, limit=PACKAGES_PAGE,
                                              offset=(page - 1) * PACKAGES_PAGE)
    return rows, total, max(1, -(-total // PACKAGES_PAGE))


def _layers(detail: ImageDetail, by_layer: dict[int | None, overview.LayerPackages],
            replaced: dict[str, PackageRow]) -> tuple[LayerView, ...]:
    replaced_in: dict[int, list[PackageRow]] = defaultdict(list)
    for lp in by_layer.values():
        for h in lp.hidden:
            new = replaced.get(h.purl)
            if new is not None and new.layer is not None:
                replaced_in[new.layer].append(h)
    out = []
    for index, la in enumerate(detail.layers):
        here = by_layer.get(index)
        out.append(LayerView(
            index=index, digest=la.digest, size=la.size, created_by=la.created_by,
            added=here.visible if here else 0,
            hidden=tuple((h, replaced.get(h.purl)) for h in (here.hidden if here else ())),
            replaced_here=tuple(replaced_in.get(index, ()))))
    return tuple(out)


def _event_summary(kind: str, payload: JSON) -> str:
    summary = _text(payload.get("summary"), 300)
    if summary:
        return summary
    finding = _dict(payload.get("finding"))
    if finding:
        pkg = _dict(finding.get("package"))
        return (f"{_text(finding.get('id'), 100)} ({_text(finding.get('severity'), 20)}) in "
                f"{_text(pkg.get('name'), 200)} {_text(pkg.get('version'), 100)}").strip()
    if kind == "secret-found":
        return f"{payload.get('count', 0)} secret(s) found"
    return kind


def image(service: Service, digest: str, *, text: str = "", page: int = 1) -> ImageData | None:
    store = service.store
    detail = store.image(digest)
    if detail is None:
        return None
    decisions = store.decisions(digest=digest, repository=detail.repository)
    with store.read() as conn:
        packages, total = overview.image_packages(conn, digest, text=text, limit=PACKAGES_PAGE,
                                                  offset=(page - 1) * PACKAGES_PAGE)
        by_layer = overview.layer_packages(conn, digest)
        hidden = [h for lp in by_layer.values() for h in lp.hidden]
        replaced = overview.replacements(conn, digest, hidden)
        secret = overview.latest_event(conn, digest, "secret-found")
        config = overview.latest_event(conn, digest, "config-failed")
        events = overview.latest_events(conn, digest)
        history = overview.repository_history(conn, detail.repository)
    audit = sorted((*store.audit_log(target=f"image:{digest}", limit=30),
                    *store.audit_log(target=f"repository:{detail.repository}", limit=30)),
                   key=lambda e: e.id, reverse=True)[:30]
    views = sorted((finding_view(s, decisions) for s in detail.findings), key=_finding_order)
    counts: dict[str, int] = defaultdict(int)
    for v in views:
        if v.state == FindingState.OPEN and not v.suppressed:
            counts[v.severity] += 1
    secrets, secrets_count = secrets_of(secret[1] if secret else None)
    checks, checks_count = checks_of(config[1] if config else None)
    sigs = tuple({k: _text(v, 300) for k, v in _dict(s).items() if isinstance(v, str)}
                 for s in detail.signatures)
    return ImageData(
        detail=detail,
        tags=tuple(t.tag if t.repository == detail.repository else f"{t.repository}:{t.tag}"
                   for t in detail.tags if t.current),
        counts=dict(counts), findings=tuple(views), decisions=decisions, packages=packages,
        packages_total=total, package_query=text, package_page=page,
        package_pages=max(1, -(-total // PACKAGES_PAGE)),
        layers=_layers(detail, by_layer, replaced), base=base_view(detail.base),
        policy=policy_view(detail.policy), signatures=sigs,
        signature_keys=len(service.config.signature_keys), secrets=secrets,
        secrets_count=secrets_count, secrets_at=secret[0] if secret else None,
        checks=checks, checks_count=checks_count,
        events=tuple(EventView(type=k, at=at, summary=_event_summary(k, _dict(p)))
                     for k, at, p in events),
        history=history, audit=tuple(audit),
        hidden_total=sum(len(lp.hidden) for lp in by_layer.values()))


# -- one advisory -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedView:
    package: str  # ecosystem/name
    ranges: tuple[str, ...]
    fixed: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippedView:
    """A package (purl) of the fleet the advisory hits, and in how many images."""

    purl: str
    name: str
    version: str
    severity: str
    fixed_versions: tuple[str, ...]
    images: int
    kev: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisoryData:
    query: str
    id: str
    aliases: tuple[str, ...]
    summary: str
    details: str
    severity: str
    score: float | None
    published: str
    modified: str
    withdrawn: str
    malicious: bool
    references: tuple[str, ...]
    affected: tuple[AffectedView, ...]
    shipped: tuple[ShippedView, ...]
    hits: tuple[ImageHit, ...]
    owners: tuple[str, ...]
    deployments: int
    fix_available: bool
    known: bool  # the advisory database has the record


def _record(service: Service, name: str) -> Any:
    """The advisory record named ``name`` or an alias of it, from the service's database."""
    from hullcheck.vulndb import VulnStore

    path = service.ctx.db_path
    if not path.exists():
        return None
    try:
        with VulnStore.open(path) as db:
            record = db.advisory(name) or db.advisory(name.upper())
            if record is None:
                ids = db.advisories_for(name) or db.advisories_for(name.upper())
                record = db.advisory(ids[0]) if ids else None
            return record
    except HullcheckError:
        return None


def advisory(service: Service, name: str) -> AdvisoryData:
    record = _record(service, name)
    hits = service.store.images_with_advisory(name, limit=MAX_HITS)
    if not hits and record is not None:
        hits = service.store.images_with_advisory(record.id, limit=MAX_HITS)
    shipped: dict[str, list[FindingRow]] = defaultdict(list)
    for h in hits:
        for f in h.findings:
            shipped[f.package_purl].append(f)
    views = []
    for purl, found in shipped.items():
        first = found[0]
        pkg = _dict(_dict(first.data).get("package"))
        views.append(ShippedView(purl=purl, name=_text(pkg.get("name"), 300) or purl,
                                 version=_text(pkg.get("version"), 200),
                                 severity=max((f.severity for f in found), key=severity_rank),
                                 fixed_versions=first.fixed_versions, images=len(found),
                                 kev=any(f.kev for f in found)))
    views.sort(key=lambda v: (-v.images, v.purl))
    affected = []
    if record is not None:
        for a in record.affected[:100]:
            affected.append(AffectedView(
                package=f"{a.ecosystem}/{a.package}",
                ranges=tuple(_range_text(r) for r in a.ranges)[:20]
                + (("every version",) if a.all_versions else ())
                + ((f"versions {', '.join(a.versions[:20])}",) if a.versions else ()),
                fixed=a.fixed_versions[:20]))
    rows = [f for fs in shipped.values() for f in fs]
    worst = max((f.severity for f in rows), key=severity_rank) if rows else "unknown"
    if record is not None:
        word = "malicious" if record.kind.value == "malicious" else \
            record.severity.rating.value.lower()
        worst = word if word in _RANK else worst
    return AdvisoryData(
        query=name, id=record.id if record is not None else (rows[0].advisory_id if rows else name),
        aliases=tuple(record.aliases) if record is not None else
        tuple(dict.fromkeys(a for f in rows for a in f.aliases)),
        summary=record.summary if record is not None else
        next((_text(_dict(f.data).get("summary"), 500) for f in rows
              if _dict(f.data).get("summary")), ""),
        details=record.details[:4000] if record is not None else "",
        severity=worst,
        score=record.severity.score if record is not None else None,
        published=record.published if record is not None else "",
        modified=record.modified if record is not None else "",
        withdrawn=record.withdrawn if record is not None else "",
        malicious=bool(record is not None and record.kind.value == "malicious"),
        references=tuple(r.url for r in record.references[:20]) if record is not None else (),
        affected=tuple(affected), shipped=tuple(views), hits=hits,
        owners=tuple(sorted({o for h in hits for o in h.owners})),
        deployments=sum(len(h.deployments) for h in hits),
        fix_available=any(f.fixed_versions for f in rows) or any(a.fixed for a in affected),
        known=record is not None)


def _range_text(r: Any) -> str:
    """An OSV range as words: ``ECOSYSTEM: introduced 0, fixed 1.24.2``."""
    parts = ", ".join(f"{e.kind.value.replace('_', ' ')} {e.value}" for e in r.events)
    return f"{r.type.value}: {parts}"


# -- search ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchData:
    query: str
    kind: str  # purl / package / advisory / image / repository / "" (nothing asked)
    explain: str
    hits: tuple[ImageHit, ...] = ()
    redirect: str = ""  # a digest or an advisory: the page that answers it
    truncated: bool = False


def classify(q: str) -> tuple[str, str, str]:
    """(kind, subject, version) of a search box's text."""
    q = q.strip()
    if q.startswith("pkg:"):
        return "purl", q, ""
    if DIGEST.fullmatch(q.lower()):
        return "digest", q.lower(), ""
    if "@sha256:" in q:
        repo, _, digest = q.partition("@")
        return "digest", digest.lower(), repo
    if "/" in q or (":" in q and " " not in q and not ADVISORY.fullmatch(q)):
        repo, sep, tag = q.rpartition(":")
        if sep and "/" not in tag:
            return "reference", repo, tag
        return "repository", q, ""
    if ADVISORY.fullmatch(q):
        return "advisory", q, ""
    name, sep, version = q.replace("@", " ").partition(" ")
    return "package", name.strip(), version.strip() if sep else ""


def search(service: Service, q: str) -> SearchData:
    kind, subject, version = classify(q)
    store = service.store
    if not q.strip():
        return SearchData(query=q, kind="", explain="")
    if kind == "purl":
        hits = service.search_purl(subject, limit=MAX_HITS)
        return SearchData(query=q, kind=kind, hits=hits, truncated=len(hits) >= MAX_HITS,
                          explain=f"images shipping {subject}")
    if kind == "digest":
        return SearchData(query=q, kind=kind, redirect=f"/images/{subject}",
                          explain=f"image {subject}")
    if kind == "advisory":
        return SearchData(query=q, kind=kind, redirect=f"/advisories/{subject}",
                          explain=f"advisory {subject}")
    if kind in ("reference", "repository"):
        page = store.images_by_repository(subject, limit=MAX_HITS)
        digests = [i.digest for i in page.images if kind == "repository" or version in i.tags]
        hits = _hits_of(service, digests)
        what = f"{subject}:{version}" if kind == "reference" else subject
        return SearchData(query=q, kind=kind, hits=hits, truncated=page.next is not None,
                          explain=f"images of {what}")
    accept = (lambda v: v == version) if version else None
    hits = store.images_with_package_named(subject, versions=accept, limit=MAX_HITS)
    return SearchData(query=q, kind=kind, hits=hits, truncated=len(hits) >= MAX_HITS,
                      explain=f"images shipping a package named {subject}"
                              + (f" at version {version}" if version else ""))


def _hits_of(service: Service, digests: list[str]) -> tuple[ImageHit, ...]:
    from hullcheck.fleet.queries import _hits

    if not digests:
        return ()
    with service.store.read() as conn:
        return _hits(conn, {d: {} for d in digests})


# -- triage and settings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageData:
    detail: ImageDetail
    finding: FindingView
    decisions: tuple[TriageDecision, ...]


def triage(service: Service, digest: str, advisory_id: str, purl: str) -> TriageData | None:
    detail = service.store.image(digest)
    if detail is None:
        return None
    decisions = service.store.decisions(digest=digest, repository=detail.repository)
    for s in detail.findings:
        if s.finding.advisory_id == advisory_id and s.finding.package_purl == purl:
            view = finding_view(s, decisions)
            return TriageData(detail=detail, finding=view, decisions=view.triage)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelView:
    name: str
    kind: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsData:
    tokens: tuple[TokenInfo, ...]
    channels: tuple[ChannelView, ...]
    dead_letters: tuple[Delivery, ...]
    audit: tuple[AuditEntry, ...]
    new_token: str = ""
    new_token_name: str = ""
    message: str = ""
    outcome: str = field(default="")  # ok / failed, for the message


def settings(service: Service) -> SettingsData:
    channels = tuple(ChannelView(name=name, kind=type(c).__name__.removesuffix("Channel").lower(),
                                 target=c.target())
                     for name, c in sorted(service.config.channels.items()))
    return SettingsData(tokens=service.list_tokens(), channels=channels,
                        dead_letters=tuple(service.dead_letters(limit=100)),
                        audit=service.audit_log(limit=30))
