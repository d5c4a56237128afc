"""Inventory + advisory store → findings.

One generic matcher serves every ecosystem, because ``ecosystem.py`` says for each
package type which OSV ecosystem to search and which version scheme to compare with.
OS packages are searched under their *source* package too (distro feeds are keyed by it)
and the finding says so. Distro statuses become finding statuses, so a backported fix
(fixed in 1.2-3+deb12u1 while upstream says 1.3) is not reported.

A distro release may be filed under several ecosystems (``ecosystem.DISTROS``): Ubuntu's
release and its Pro (ESM) overlay, Red Hat's repositories and minor-release streams, SUSE's
products; patterns among them are matched against the store's ecosystem names. A record
one of them affects while another's fix of it is installed (an ESM update over the
release's unfixed entry) is not reported; RPM module streams decide which records apply
(``match/distros.py``). Programs found by their version string are matched where their own
advisory data names them (``ecosystem.BINARY_ADVISORIES``), else listed as skipped.

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
from fnmatch import fnmatchcase
from typing import Any, NamedTuple, Protocol

from hullcheck.ecosystem import (
    BINARY_ADVISORIES,
    DISTROS,
    ECOSYSTEMS,
    Search,
    is_os,
    osv_ecosystems,
)
from hullcheck.match.distros import module_rule_applies
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


class _Plan(NamedTuple):
    """What is searched for one package: (name, version, via) in each ecosystem."""

    searches: tuple[tuple[str, str, str], ...]
    wheres: tuple[Search, ...]
    scheme: str  # key of hullcheck.versions
    modular: bool  # RPM module streams decide which records apply (match/distros.py)


class _Found(NamedTuple):
    """One searched name and version in one ecosystem."""

    pkg: Package
    name: str
    version: str
    via: str
    vkey: Any
    where: Search
    modular: bool


class _Hit(NamedTuple):
    rec: AffectedRecord
    evidence: Evidence
    fixed: tuple[str, ...]


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


def _modular(distro: Distro | None) -> bool:
    row = DISTROS.get(distro.id) if distro is not None else None
    return row is not None and row.modular


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
        self._known: tuple[str, ...] | None = None
        self._wheres: dict[PackageType, tuple[Search, ...]] = {}
        self._wheres_distro: Distro | None = None
        self._distro_modular = False  # the distro of _wheres has RPM module streams
        self._go_built: frozenset[str] = frozenset()
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

    def _known_ecosystems(self) -> tuple[str, ...]:
        """The ecosystems the store has records for (what search patterns match)."""
        if self._known is None:
            get = getattr(self.store, "ecosystems", None)
            self._known = tuple(get()) if get is not None else ()
        return self._known

    def _where(self, ptype: PackageType, distro: Distro | None) -> tuple[Search, ...]:
        """The ecosystems searched for packages of ``ptype`` on ``distro``: the table's
        names, its patterns ("Red Hat:enterprise_linux:9::*") matched against the store's."""
        if distro is not self._wheres_distro:  # one distro per inventory: never hashed
            self._wheres_distro = distro
            self._wheres = {}
            self._distro_modular = _modular(distro)
        found = self._wheres.get(ptype)
        if found is None:
            out: list[Search] = []
            for s in osv_ecosystems(ptype, distro):
                if s.is_pattern:
                    out += [Search(ecosystem=e, subscription=s.subscription)
                            for e in self._known_ecosystems() if fnmatchcase(e, s.ecosystem)]
                else:
                    out.append(s)
            found = self._wheres[ptype] = tuple(out)
        return found

    def _plan(self, pkg: Package, distro: Distro | None) -> _Plan | str:
        """What to search for ``pkg``, or why nothing is ("" when there is nothing to say:
        a distro whose advisories are not in this database, say)."""
        if pkg.owned_by:
            return f"shipped by OS package {pkg.owned_by}; matched through it"
        if pkg.type is PackageType.BINARY:
            return self._binary_plan(pkg)
        wheres = self._where(pkg.type, distro)
        if not wheres:
            if is_os(pkg.type) and not osv_ecosystems(pkg.type, distro):
                return ("no advisory source for "
                        f"{distro.release if distro else 'an unknown distro'}")
            return ""
        return _Plan(searches=tuple(_searches(pkg)), wheres=wheres,
                     scheme=ECOSYSTEMS[pkg.type].version_scheme,
                     modular=self._distro_modular and is_os(pkg.type))

    def _binary_plan(self, pkg: Package) -> _Plan | str:
        """A program found by its version string: its own advisories where the table names
        them (the Go toolchain: Go's "stdlib" and "toolchain"), else why not."""
        upstream = BINARY_ADVISORIES.get(pkg.name)
        if upstream is None:
            cpes = ", ".join(c.split(":")[3] + ":" + c.split(":")[4] for c in pkg.cpes
                             if c.count(":") > 4)
            return (f"found by version string; no advisories name {pkg.name} by version in "
                    f"this database (NVD files it by CPE{' ' + cpes if cpes else ''}, "
                    "which is not a source)")
        # A Go binary whose build info gave its standard library is matched through that.
        built = any(loc.path in self._go_built for loc in pkg.locations)
        names = tuple(n for n in upstream.packages if not (built and n == "stdlib"))
        return _Plan(searches=tuple((n, pkg.version, "upstream") for n in names),
                     wheres=osv_ecosystems(upstream.ptype, None),
                     scheme=ECOSYSTEMS[upstream.ptype].version_scheme, modular=False)

    def _prefetch(self, plans: Iterable[_Plan | str]) -> None:
        """Read the records of every name the ``plans`` will search, a few queries per
        ecosystem, when the store can (``lookup_many``); compile them once."""
        many = getattr(self.store, "lookup_many", None)
        if many is None:
            return
        want: dict[tuple[str, str], dict[str, None]] = {}  # (ecosystem, scheme) -> names
        for plan in plans:
            if isinstance(plan, str):
                continue
            for where in plan.wheres:
                names = want.setdefault((where.ecosystem, plan.scheme), {})
                for name, _, _ in plan.searches:
                    if (where.ecosystem, name, plan.scheme) not in self._cache:
                        names[name] = None
        for (eco, sname), names in want.items():
            if len(names) > self._cache_size:
                continue  # would not stay cached: read as each package is matched
            vscheme = scheme(sname)
            for name, records in many(eco, names).items():
                self._keep((eco, name, sname), records, vscheme)

    def match_package(self, pkg: Package, distro: Distro | None,
                      skipped: list[Skipped]) -> list[Finding]:
        return self._match_planned(pkg, self._plan(pkg, distro), skipped)

    def _match_planned(self, pkg: Package, plan: _Plan | str,
                       skipped: list[Skipped]) -> list[Finding]:
        if isinstance(plan, str):
            if plan:
                skipped.append(Skipped(package=pkg, reason=plan))
            return []
        vscheme = scheme(plan.scheme)
        hits: list[_Hit] = []
        cleared: dict[str, set[str]] = {}  # advisory id -> ecosystems whose fix is installed
        for name, version, via in plan.searches:
            vkey: Any = None
            for where in plan.wheres:
                entries = self._entries(where.ecosystem, name, vscheme)
                if not entries:
                    continue
                if vkey is None:
                    try:
                        vkey = vscheme.key(version)
                    except InvalidVersion as exc:
                        skipped.append(Skipped(package=pkg, reason=f"version {version!r} not "
                                               f"readable as {vscheme.name}: {exc}"))
                        break
                found = _Found(pkg=pkg, name=name, version=version, via=via, vkey=vkey,
                               where=where, modular=plan.modular)
                self._evaluate(found, entries, hits, cleared, skipped)
        return self._findings(pkg, hits, cleared if len(plan.wheres) > 1 else {}, vscheme)

    @staticmethod
    def _evaluate(found: _Found, entries: Iterable[_Entry], hits: list[_Hit],
                  cleared: dict[str, set[str]], skipped: list[Skipped]) -> None:
        """Evaluate one ecosystem's entries for one searched name and version."""
        eco = found.where.ecosystem
        for entry in entries:
            rec = entry.rec
            if found.modular and not module_rule_applies(found.pkg, found.version, rec.affected):
                continue
            try:
                hit = entry.compiled.evaluate(found.version, found.vkey)
            except Unevaluable as exc:
                skipped.append(Skipped(package=found.pkg, advisory=rec.advisory_id,
                                       reason=f"{rec.advisory_id}: {exc}"))
                continue
            if hit is None:
                fixes = entry.compiled.fixed
                if fixes and fixes[0][0] <= found.vkey:  # this ecosystem's fix is installed
                    cleared.setdefault(rec.advisory_id, set()).add(eco)
                continue
            matched = hit.matched
            if rec.affected.status is not None and rec.affected.status is not \
                    DistroStatus.FIXED:
                matched = f"{eco} tracker status {rec.affected.status.value}"
            if found.where.subscription:
                matched = f"{matched} (in {found.where.subscription})"
            ev = Evidence(advisory=rec.advisory_id, source=rec.source, ecosystem=eco,
                          name=found.name, via=found.via, version=found.version,
                          matched=matched)
            hits.append(_Hit(rec=rec, evidence=ev, fixed=hit.fixed))

    def _findings(self, pkg: Package, hits: Iterable[_Hit], cleared: dict[str, set[str]],
                  vscheme: Scheme) -> list[Finding]:
        """One finding per vulnerability: records whose ids alias each other merge. A record
        one searched ecosystem affects while another's fix of it is installed (an Ubuntu
        Pro (ESM) update over the release's unfixed entry) is left out."""
        groups: list[_Group] = []
        by_id: dict[str, _Group] = {}
        for h in hits:
            if cleared.get(h.rec.advisory_id, set()) - {h.evidence.ecosystem}:
                continue
            ids = [h.rec.advisory_id, *h.rec.aliases]
            group = next((by_id[i] for i in ids if i in by_id), None)
            if group is None:
                group = _Group()
                groups.append(group)
            for i in ids:
                if i not in by_id:
                    by_id[i] = group
                    group.ids.append(i)
            group.records.append((h.rec, h.evidence, h.fixed))
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
        # Go binaries whose build info gave their standard library: not matched twice.
        self._go_built = frozenset(loc.path for p in inventory.packages
                                   if p.type is PackageType.GO and p.name == "stdlib"
                                   for loc in p.locations)
        plans = [self._plan(pkg, inventory.distro) for pkg in todo]
        self._prefetch(plans)
        for pkg, plan in zip(todo, plans, strict=True):
            findings.extend(self._match_planned(pkg, plan, skipped))
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
