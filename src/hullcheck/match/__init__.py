"""Inventory + advisory store → findings.

One generic matcher serves every ecosystem, because ``ecosystem.py`` says for each
package type which OSV ecosystem to search and which version scheme to compare with.
OS packages are searched under their *source* package too (Debian's tracker, DSAs and
Alpine's secdb are keyed by it) and the finding says so. Distro statuses become
finding statuses, so a backported fix (fixed in 1.2-3+deb12u1 while upstream says
1.3) is not reported.

Records about the same vulnerability (PYSEC and GHSA and CVE ids that alias each
other) merge into one finding per (package, vulnerability), keeping every record's
evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hullcheck.ecosystem import ECOSYSTEMS, osv_ecosystem
from hullcheck.match.model import (
    Evidence,
    Finding,
    Level,
    MatchResult,
    Skipped,
    Status,
    Suppression,
)
from hullcheck.match.ranges import Unevaluable, evaluate
from hullcheck.model import Distro, Inventory, Package, PackageType
from hullcheck.versions import InvalidVersion, scheme
from hullcheck.vulndb.model import DistroStatus, KevEntry, Kind
from hullcheck.vulndb.severity import Rating, Severity
from hullcheck.vulndb.store import AffectedRecord

__all__ = ["Evidence", "Finding", "Level", "MatchResult", "Skipped", "Status", "Suppression",
           "match"]

OS_TYPES = frozenset({PackageType.DEB, PackageType.APK, PackageType.RPM})

_STATUS = {
    DistroStatus.UNFIXED: Status.NOT_FIXED,
    DistroStatus.UNDETERMINED: Status.NOT_FIXED,
    DistroStatus.NO_DSA: Status.WONT_FIX,
    DistroStatus.IGNORED: Status.WONT_FIX,
    DistroStatus.END_OF_LIFE: Status.WONT_FIX,
    DistroStatus.POSTPONED: Status.DEFERRED,
}

_LEVEL = {
    Rating.CRITICAL: Level.CRITICAL, Rating.HIGH: Level.HIGH, Rating.MEDIUM: Level.MEDIUM,
    Rating.LOW: Level.LOW, Rating.NONE: Level.NEGLIGIBLE, Rating.UNKNOWN: Level.UNKNOWN,
}


class Store(Protocol):
    def lookup(self, ecosystem: str, name: str) -> tuple[AffectedRecord, ...]: ...

    def kev(self, cve: str) -> KevEntry | None: ...


@dataclass(slots=True)
class _Group:
    """Records about one vulnerability for one package, being merged."""

    ids: list[str] = field(default_factory=list)
    records: list[tuple[AffectedRecord, Evidence, tuple[str, ...]]] = field(default_factory=list)


def _primary(ids: Sequence[str]) -> str:
    cves = sorted({i for i in ids if i.startswith("CVE-")})
    if len(cves) == 1:
        return cves[0]
    for prefix in ("GHSA-", "MAL-", "GO-", "RUSTSEC-", "PYSEC-"):
        hit = sorted(i for i in ids if i.startswith(prefix))
        if hit:
            return hit[0]
    return sorted(ids)[0]


def _searches(pkg: Package) -> list[tuple[str, str, str]]:
    """(name, version, via) to look up for a package."""
    out = [(pkg.name, pkg.version, "direct")]
    if pkg.type in OS_TYPES and pkg.source is not None and pkg.source.name != pkg.name:
        out.append((pkg.source.name, pkg.source.version or pkg.version, "source-package"))
    return out


def _level(rec: AffectedRecord, urgency: str) -> Level:
    if rec.kind is Kind.MALICIOUS:
        return Level.MALICIOUS
    level = _LEVEL.get(rec.severity.rating, Level.UNKNOWN)
    if level is Level.UNKNOWN and urgency:
        word = urgency.rstrip("*").lower()
        level = {"high": Level.HIGH, "medium": Level.MEDIUM, "low": Level.LOW,
                 "unimportant": Level.NEGLIGIBLE}.get(word, Level.UNKNOWN)
    return level


def _match_package(
    pkg: Package, distro: Distro | None, store: Store, skipped: list[Skipped]
) -> list[Finding]:
    if pkg.owned_by:
        skipped.append(Skipped(package=pkg, reason=f"shipped by OS package {pkg.owned_by}; "
                               "matched through it"))
        return []
    eco = osv_ecosystem(pkg.type, distro)
    if not eco:
        if pkg.type in OS_TYPES:
            skipped.append(Skipped(package=pkg, reason=f"no advisory source for "
                                   f"{distro.release if distro else 'an unknown distro'}"))
        elif pkg.type is PackageType.BINARY:
            skipped.append(Skipped(package=pkg, reason="binaries found by version string are "
                                   "not matched (no CPE matching)"))
        return []
    vscheme = scheme(ECOSYSTEMS[pkg.type].version_scheme)
    key = vscheme.key
    groups: list[_Group] = []
    by_id: dict[str, _Group] = {}
    for name, version, via in _searches(pkg):
        try:
            key(version)
        except InvalidVersion as exc:
            skipped.append(Skipped(package=pkg, reason=f"version {version!r} not readable as "
                                   f"{vscheme.name}: {exc}"))
            continue
        for rec in store.lookup(eco, name):
            aff = rec.affected
            if aff.status is DistroStatus.NOT_AFFECTED:
                continue
            try:
                if aff.status is not None and not aff.has_version_data:
                    hit_desc, fixed = f"{eco} tracker status {aff.status.value}", ()
                else:
                    hit = evaluate(aff, version, key)
                    if hit is None:
                        continue
                    hit_desc, fixed = hit.matched, hit.fixed
            except Unevaluable as exc:
                skipped.append(Skipped(package=pkg, advisory=rec.advisory_id,
                                       reason=f"{rec.advisory_id}: {exc}"))
                continue
            ev = Evidence(advisory=rec.advisory_id, source=rec.source, ecosystem=eco, name=name,
                          via=via, version=version, matched=hit_desc)
            ids = [rec.advisory_id, *rec.aliases]
            group = next((by_id[i] for i in ids if i in by_id), None)
            if group is None:
                group = _Group()
                groups.append(group)
            for i in ids:
                if i not in by_id:
                    by_id[i] = group
                    group.ids.append(i)
            group.records.append((rec, ev, fixed))
    return [_finding(pkg, g, store) for g in groups]


def _finding(pkg: Package, g: _Group, store: Store) -> Finding:
    recs = [r for r, _, _ in g.records]
    malicious = any(r.kind is Kind.MALICIOUS for r in recs)
    urgency = next((r.affected.urgency for r in recs if r.affected.urgency), "")
    levels = [_level(r, urgency) for r in recs]
    level = max(levels, key=lambda lv: lv.rank)
    best = max(recs, key=lambda r: (r.severity.score or -1.0, r.severity.rating != Rating.UNKNOWN))
    severity: Severity = best.severity
    fixed = tuple(dict.fromkeys(v for _, _, fx in g.records for v in fx))
    statuses = [r.affected.status for r in recs if r.affected.status is not None]
    if malicious:
        status = Status.MALICIOUS
    elif fixed:
        status = Status.FIXED
    elif statuses:
        status = _STATUS.get(statuses[0], Status.NOT_FIXED)
    else:
        status = Status.NOT_FIXED
    primary = _primary(g.ids)
    kev = None
    for i in g.ids:
        if i.startswith("CVE-"):
            kev = store.kev(i)
            if kev is not None:
                break
    return Finding(
        package=pkg,
        id=primary,
        aliases=tuple(i for i in g.ids if i != primary),
        level=level,
        severity=severity,
        status=status,
        fixed_versions=fixed,
        kev=kev,
        distro_urgency=urgency,
        evidence=tuple(ev for _, ev, _ in g.records),
    )


def match(inventory: Inventory, store: Store, *, packages: Iterable[Package] | None = None
          ) -> MatchResult:
    """Match every package of ``inventory`` (or just ``packages``) against ``store``."""
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    count = 0
    for pkg in inventory.packages if packages is None else packages:
        count += 1
        findings.extend(_match_package(pkg, inventory.distro, store, skipped))
    findings.sort(key=lambda f: (-f.level.rank, f.package.name, f.package.version, f.id))
    return MatchResult(findings=tuple(findings), skipped=tuple(skipped), packages_checked=count)
