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

Severity: the matched records' own (the highest CVSS score, else the distro's urgency or
the database's word). When none of them rates the vulnerability (PyPA records often carry
no score), the rating of an alias advisory elsewhere in the database is taken — a GHSA
record's CVSS, the Debian tracker's urgency for the CVE, NVD's score where it is imported —
with the same preference, and the finding names it (``severity_from``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hullcheck.ecosystem import ECOSYSTEMS, is_os, osv_ecosystem
from hullcheck.match.model import (
    Evidence,
    Finding,
    MatchResult,
    Skipped,
    Status,
    Suppression,
)
from hullcheck.match.ranges import CompiledAffected, Unevaluable, compile_affected
from hullcheck.model import Distro, Inventory, Package, PackageType, Severity
from hullcheck.versions import InvalidVersion, Scheme, scheme
from hullcheck.vulndb.model import DistroStatus, KevEntry, Kind
from hullcheck.vulndb.severity import Score
from hullcheck.vulndb.store import AffectedRecord

__all__ = ["Evidence", "Finding", "MatchResult", "Matcher", "Skipped", "Status",
           "Suppression", "match", "with_summaries"]

_STATUS = {
    DistroStatus.UNFIXED: Status.NOT_FIXED,
    DistroStatus.UNDETERMINED: Status.NOT_FIXED,
    DistroStatus.NO_DSA: Status.WONT_FIX,
    DistroStatus.IGNORED: Status.WONT_FIX,
    DistroStatus.END_OF_LIFE: Status.WONT_FIX,
    DistroStatus.POSTPONED: Status.DEFERRED,
}

class Store(Protocol):
    def lookup(self, ecosystem: str, name: str) -> tuple[AffectedRecord, ...]: ...

    def kev(self, cve: str) -> KevEntry | None: ...

    # Optional (a store without it leaves unrated findings unknown):
    # alias_severities(ids) -> ((advisory id, Score), ...) of the advisories naming any of ids.


@dataclass(frozen=True, slots=True)
class _Entry:
    """One advisory record's statement about a package, compiled for one version scheme."""

    rec: AffectedRecord
    compiled: CompiledAffected


@dataclass(slots=True)
class _Group:
    """Records about one vulnerability for one package, being merged."""

    ids: list[str] = field(default_factory=list)
    records: list[tuple[AffectedRecord, Evidence, tuple[str, ...]]] = field(default_factory=list)


_ID_PREFERENCE = ("GHSA-", "GO-", "RUSTSEC-", "PYSEC-", "OSV-")


def _primary(ids: Sequence[str], malicious: bool) -> str:
    """The id a finding is shown under: the MAL id of a malicious package; else the CVE when
    the records name exactly one; else the first by a fixed preference, then by name."""
    if malicious:
        mal = sorted(i for i in ids if i.startswith("MAL-"))
        if mal:
            return mal[0]
    cves = sorted({i for i in ids if i.startswith("CVE-")})
    if len(cves) == 1:
        return cves[0]
    for prefix in _ID_PREFERENCE:
        hit = sorted(i for i in ids if i.startswith(prefix))
        if hit:
            return hit[0]
    return sorted(ids)[0]


def _searches(pkg: Package) -> list[tuple[str, str, str]]:
    """(name, version, via) to look up for a package.

    An OS package is looked up by its own name and version, and by its source package's
    name and version when either differs (distro trackers are keyed by source package and
    record source versions, so a binNMU ``1.2-3+b1`` of source ``1.2-3`` compares as 1.2-3).
    """
    src = pkg.source if is_os(pkg.type) else None
    if src is None:
        return [(pkg.name, pkg.version, "direct")]
    version = src.version or pkg.version
    if src.name == pkg.name and version == pkg.version:
        return [(pkg.name, pkg.version, "direct")]
    if src.name == pkg.name:
        return [(src.name, version, "source-package")]
    return [(pkg.name, pkg.version, "direct"), (src.name, version, "source-package")]


_URGENCY = {"high": Severity.HIGH, "medium": Severity.MEDIUM, "low": Severity.LOW,
            "unimportant": Severity.NEGLIGIBLE}


def _word_severity(rec: AffectedRecord) -> Severity:
    """A record's severity without a CVSS score: the distro's urgency for this release, else
    the database's own word."""
    urgency = _URGENCY.get(rec.affected.urgency.rstrip("*").strip().lower())
    if urgency is not None:
        return urgency
    return rec.severity.rating.severity


def _severity(recs: Sequence[AffectedRecord]) -> tuple[Severity, Score]:
    """One severity and one score for merged records that may disagree.

    Malicious wins. Otherwise a CVSS score is the most specific statement: the highest
    base score among the records sets both the severity and the score shown (so the SARIF
    security-severity and the severity always agree). Without any score, the highest of the
    distro urgencies and database words is used.
    """
    if any(r.kind is Kind.MALICIOUS for r in recs):
        scored = [r for r in recs if r.severity.score is not None]
        return Severity.MALICIOUS, max(scored, key=lambda r: r.severity.score or 0.0).severity \
            if scored else recs[0].severity
    scored = [r for r in recs if r.severity.score is not None]
    if scored:
        best = max(scored, key=lambda r: (r.severity.score or 0.0, r.advisory_id))
        return best.severity.rating.severity, best.severity
    words = [(_word_severity(r), r) for r in recs]
    severity, rec = max(words, key=lambda t: t[0])
    return severity, rec.severity


class Matcher:
    """Matches packages against a store, compiling each package's advisory records once.

    Compiled entries (event versions turned into sort keys) are cached per (ecosystem,
    name, scheme), so matching many packages — or many images against one store, as the
    server does — decodes and compiles each record once.
    """

    def __init__(self, store: Store, *, cache_size: int = 65536) -> None:
        self.store = store
        self._cache: dict[tuple[str, str, str], tuple[_Entry, ...]] = {}
        self._cache_size = cache_size
        self._kev_cache: dict[str, KevEntry | None] = {}
        self._alias_cache: dict[tuple[str, ...], tuple[str, Score] | None] = {}

    def _entries(self, eco: str, name: str, vscheme: Scheme) -> tuple[_Entry, ...]:
        ck = (eco, name, vscheme.name)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        return self._keep(ck, self.store.lookup(eco, name), vscheme)

    def _keep(self, ck: tuple[str, str, str], records: Iterable[AffectedRecord],
              vscheme: Scheme) -> tuple[_Entry, ...]:
        key = vscheme.key
        entries = tuple(
            _Entry(rec, compile_affected(rec.affected, key))
            for rec in records
            if rec.affected.status is not DistroStatus.NOT_AFFECTED and not rec.withdrawn
        )
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[ck] = entries
        return entries

    def _prefetch(self, packages: Sequence[Package], distro: Distro | None) -> None:
        """Read the records of every name ``packages`` will search, a few queries per
        ecosystem, when the store can (``lookup_many``); compile them once."""
        many = getattr(self.store, "lookup_many", None)
        if many is None:
            return
        want: dict[tuple[str, str], dict[str, None]] = {}  # (ecosystem, scheme) -> names
        for pkg in packages:
            if pkg.owned_by:
                continue
            eco = osv_ecosystem(pkg.type, distro)
            if not eco:
                continue
            sname = ECOSYSTEMS[pkg.type].version_scheme
            names = want.setdefault((eco, sname), {})
            for name, _, _ in _searches(pkg):
                if (eco, name, sname) not in self._cache:
                    names[name] = None
        for (eco, sname), names in want.items():
            if len(names) > self._cache_size:
                continue  # would not stay cached: read as each package is matched
            vscheme = scheme(sname)
            for name, records in many(eco, names).items():
                self._keep((eco, name, sname), records, vscheme)

    def match_package(self, pkg: Package, distro: Distro | None,
                      skipped: list[Skipped]) -> list[Finding]:
        if pkg.owned_by:
            skipped.append(Skipped(package=pkg, reason=f"shipped by OS package {pkg.owned_by}; "
                                   "matched through it"))
            return []
        eco = osv_ecosystem(pkg.type, distro)
        if not eco:
            if is_os(pkg.type):
                skipped.append(Skipped(package=pkg, reason="no advisory source for "
                                       f"{distro.release if distro else 'an unknown distro'}"))
            elif pkg.type is PackageType.BINARY:
                skipped.append(Skipped(package=pkg, reason="binaries found by version string "
                                       "are not matched (no CPE matching)"))
            return []
        vscheme = scheme(ECOSYSTEMS[pkg.type].version_scheme)
        groups: list[_Group] = []
        by_id: dict[str, _Group] = {}
        for name, version, via in _searches(pkg):
            entries = self._entries(eco, name, vscheme)
            if not entries:
                continue
            try:
                vkey = vscheme.key(version)
            except InvalidVersion as exc:
                skipped.append(Skipped(package=pkg, reason=f"version {version!r} not readable "
                                       f"as {vscheme.name}: {exc}"))
                continue
            for entry in entries:
                rec = entry.rec
                try:
                    hit = entry.compiled.evaluate(version, vkey)
                except Unevaluable as exc:
                    skipped.append(Skipped(package=pkg, advisory=rec.advisory_id,
                                           reason=f"{rec.advisory_id}: {exc}"))
                    continue
                if hit is None:
                    continue
                matched = hit.matched
                if rec.affected.status is not None and rec.affected.status is not \
                        DistroStatus.FIXED:
                    matched = f"{eco} tracker status {rec.affected.status.value}"
                ev = Evidence(advisory=rec.advisory_id, source=rec.source, ecosystem=eco,
                              name=name, via=via, version=version, matched=matched)
                ids = [rec.advisory_id, *rec.aliases]
                group = next((by_id[i] for i in ids if i in by_id), None)
                if group is None:
                    group = _Group()
                    groups.append(group)
                for i in ids:
                    if i not in by_id:
                        by_id[i] = group
                        group.ids.append(i)
                group.records.append((rec, ev, hit.fixed))
        return [self._rated(_finding(pkg, g, self._kev, vscheme)) for g in groups]

    def _rated(self, f: Finding) -> Finding:
        """``f``, rated by an alias advisory when its own records rate it not at all."""
        if f.severity is not Severity.UNKNOWN:
            return f
        ids = tuple(sorted(f.ids))
        if ids not in self._alias_cache:
            ask = getattr(self.store, "alias_severities", None)
            found = ask(ids) if ask is not None else ()
            self._alias_cache[ids] = _best_alias(found)
        best = self._alias_cache[ids]
        if best is None:
            return f
        aid, score = best
        return dataclasses.replace(f, severity=score.rating.severity, score=score,
                                   severity_from=aid)

    def _kev(self, cve: str) -> KevEntry | None:
        if cve not in self._kev_cache:
            self._kev_cache[cve] = self.store.kev(cve)
        return self._kev_cache[cve]

    def match(self, inventory: Inventory, *, packages: Iterable[Package] | None = None
              ) -> MatchResult:
        """Match every package of ``inventory`` (or just ``packages``)."""
        findings: list[Finding] = []
        skipped: list[Skipped] = []
        todo = tuple(inventory.packages if packages is None else packages)
        self._prefetch(todo, inventory.distro)
        for pkg in todo:
            findings.extend(self.match_package(pkg, inventory.distro, skipped))
        findings.sort(key=lambda f: (-f.severity.rank, f.package.name, f.package.version, f.id))
        return MatchResult(findings=tuple(findings), skipped=tuple(skipped),
                           packages_checked=len(todo))


def _best_alias(found: Iterable[tuple[str, Score]]) -> tuple[str, Score] | None:
    """The alias rating to take: the highest CVSS base score, else the highest word; None
    when no alias rates the vulnerability either."""
    rated = [(aid, s) for aid, s in found if s.rating.severity is not Severity.UNKNOWN]
    scored = [(aid, s) for aid, s in rated if s.score is not None]
    if scored:
        return max(scored, key=lambda t: (t[1].score or 0.0, t[0]))
    if rated:
        return max(rated, key=lambda t: (t[1].rating.severity, t[0]))
    return None


def _sorted_fixed(versions: Iterable[str], vscheme: Scheme) -> tuple[str, ...]:
    unique = list(dict.fromkeys(versions))
    if len(unique) < 2:
        return tuple(unique)
    try:
        return tuple(sorted(unique, key=vscheme.key))
    except InvalidVersion:  # pragma: no cover - fixed versions were read when compiled
        return tuple(unique)


def _finding(pkg: Package, g: _Group, kev_of: Callable[[str], KevEntry | None],
             vscheme: Scheme) -> Finding:
    recs = [r for r, _, _ in g.records]
    malicious = any(r.kind is Kind.MALICIOUS for r in recs)
    urgency = next((r.affected.urgency for r in recs if r.affected.urgency), "")
    severity, score = _severity(recs)
    fixed = _sorted_fixed((v for _, _, fx in g.records for v in fx), vscheme)
    statuses = [r.affected.status for r in recs if r.affected.status is not None]
    if malicious:
        status = Status.MALICIOUS
    elif fixed:
        status = Status.FIXED
    elif statuses:
        status = _STATUS.get(statuses[0], Status.NOT_FIXED)
    else:
        status = Status.NOT_FIXED
    primary = _primary(g.ids, malicious)
    kev = None
    for i in g.ids:
        if i.startswith("CVE-"):
            kev = kev_of(i)
            if kev is not None:
                break
    return Finding(
        package=pkg,
        id=primary,
        aliases=tuple(i for i in g.ids if i != primary),
        severity=severity,
        score=score,
        status=status,
        fixed_versions=fixed,
        kev=kev,
        distro_urgency=urgency,
        evidence=tuple(ev for _, ev, _ in g.records),
    )


def with_summaries(findings: Iterable[Finding], store: Store) -> list[Finding]:
    """The findings with their ``summary`` filled from the store (the first record with a
    summary, else the first line of its details), each advisory read once. Kept out of
    ``match()`` so that matching stays a pure index walk; reports call this."""
    get = getattr(store, "advisory", None)
    cache: dict[str, str] = {}

    def text(aid: str) -> str:
        if aid not in cache:
            adv = get(aid) if get is not None else None
            raw = str(adv.summary or adv.details.split("\n", 1)[0]) if adv is not None else ""
            cache[aid] = raw if len(raw) <= 300 else raw[:299] + "…"
        return cache[aid]

    out = []
    for f in findings:
        summary = next((t for e in f.evidence if (t := text(e.advisory))), "")
        out.append(dataclasses.replace(f, summary=summary) if summary else f)
    return out


def match(inventory: Inventory, store: Store, *, packages: Iterable[Package] | None = None
          ) -> MatchResult:
    """Match every package of ``inventory`` (or just ``packages``) against ``store``."""
    return Matcher(store).match(inventory, packages=packages)
