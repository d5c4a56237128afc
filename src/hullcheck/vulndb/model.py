"""The advisory vocabulary: what importers produce and the store gives back.

An ``Advisory`` is one record (OSV, or a distro feed turned into OSV shape); its
``affected`` entries say which package versions it covers, in OSV terms: ranges of
ordered events, explicit versions, or ``all_versions``. Distro feeds add a
``status`` (fixed, unfixed, no-dsa...) and an ``urgency`` to each entry.

Everything is a frozen dataclass of tuples; ``to_json``/``from_json`` give the
one JSON form the store keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hullcheck.vulndb.severity import Score, score


class Kind(StrEnum):
    VULNERABILITY = "vulnerability"
    MALICIOUS = "malicious"


class RangeType(StrEnum):
    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"
    GIT = "GIT"


class EventKind(StrEnum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


class DistroStatus(StrEnum):
    """A distro tracker's verdict for one package in one release."""

    FIXED = "fixed"
    UNFIXED = "unfixed"  # affected, no fix yet
    NOT_AFFECTED = "not-affected"  # e.g. Debian/Alpine fixed_version "0"
    NO_DSA = "no-dsa"  # affected; the distro will not issue an advisory
    IGNORED = "ignored"  # affected; the distro decided not to fix
    POSTPONED = "postponed"  # affected; fix deferred to a point release
    END_OF_LIFE = "end-of-life"  # affected; the release no longer supports this package
    UNDETERMINED = "undetermined"  # the tracker does not know yet


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: EventKind
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    type: RangeType
    events: tuple[Event, ...]  # in record order; evaluation sorts them by version
    repo: str = ""  # GIT ranges only

    def values(self, kind: EventKind) -> tuple[str, ...]:
        return tuple(e.value for e in self.events if e.kind is kind)

    @property
    def covers_everything(self) -> bool:
        """True for a version range of a single ``introduced: "0"`` and nothing else."""
        return (
            self.type is not RangeType.GIT
            and len(self.events) == 1
            and self.events[0].kind is EventKind.INTRODUCED
            and self.events[0].value == "0"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Affected:
    ecosystem: str  # as in OSV: "PyPI", "Debian:12", "Alpine:v3.18"
    package: str
    purl: str = ""
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    # Every version is affected: a malicious record without version data, or a version
    # range that is just ``introduced: "0"``. Never inferred for a vulnerability without data.
    all_versions: bool = False
    status: DistroStatus | None = None  # distro feeds only
    urgency: str = ""  # distro feeds only, as the tracker writes it ("high**", "unimportant")

    @property
    def fixed_versions(self) -> tuple[str, ...]:
        return tuple(
            v for r in self.ranges if r.type is not RangeType.GIT for v in r.values(EventKind.FIXED)
        )

    @property
    def has_version_data(self) -> bool:
        return bool(self.ranges or self.versions or self.all_versions)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityScore:
    """One OSV ``severity`` entry as written: type (CVSS_V3...) and vector or score."""

    type: str
    score: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    type: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Advisory:
    id: str
    source: str  # the configured source name it came from, e.g. "osv-PyPI"
    kind: Kind = Kind.VULNERABILITY
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""  # trimmed to MAX_DETAILS characters
    published: str = ""
    modified: str = ""
    withdrawn: str = ""  # timestamp; "" when not withdrawn
    severities: tuple[SeverityScore, ...] = ()
    database_severity: str = ""  # database_specific.severity, or a distro urgency
    references: tuple[Reference, ...] = ()  # a few, advisories first
    affected: tuple[Affected, ...] = ()

    @property
    def severity(self) -> Score:
        """The base score and rating from the best CVSS vector, else the database's word."""
        return score(tuple((s.type, s.score) for s in self.severities), self.database_severity)

    @property
    def is_withdrawn(self) -> bool:
        return bool(self.withdrawn)


@dataclass(frozen=True, slots=True, kw_only=True)
class KevEntry:
    """One CISA Known Exploited Vulnerabilities catalog entry."""

    cve: str
    date_added: str
    due_date: str = ""
    known_ransomware: str = ""  # "Known" | "Unknown"
    vendor: str = ""
    product: str = ""
    name: str = ""

    @property
    def ransomware(self) -> bool:
        return self.known_ransomware.lower() == "known"


MAX_DETAILS = 4000
MAX_REFERENCES = 8


# ---------------------------------------------------------------- JSON form (the store's)


def range_to_json(r: Range) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": r.type.value,
        "events": [{e.kind.value: e.value} for e in r.events],
    }
    if r.repo:
        out["repo"] = r.repo
    return out


def range_from_json(d: dict[str, Any]) -> Range:
    events = tuple(Event(kind=EventKind(k), value=v) for e in d["events"] for k, v in e.items())
    return Range(type=RangeType(d["type"]), events=events, repo=d.get("repo", ""))


def affected_to_json(a: Affected) -> dict[str, Any]:
    out: dict[str, Any] = {"ecosystem": a.ecosystem, "package": a.package}
    if a.purl:
        out["purl"] = a.purl
    if a.ranges:
        out["ranges"] = [range_to_json(r) for r in a.ranges]
    if a.versions:
        out["versions"] = list(a.versions)
    if a.all_versions:
        out["all_versions"] = True
    if a.status is not None:
        out["status"] = a.status.value
    if a.urgency:
        out["urgency"] = a.urgency
    return out


def affected_from_json(d: dict[str, Any]) -> Affected:
    status = d.get("status")
    return Affected(
        ecosystem=d["ecosystem"],
        package=d["package"],
        purl=d.get("purl", ""),
        ranges=tuple(range_from_json(r) for r in d.get("ranges", ())),
        versions=tuple(d.get("versions", ())),
        all_versions=bool(d.get("all_versions", False)),
        status=DistroStatus(status) if status else None,
        urgency=d.get("urgency", ""),
    )


def advisory_to_json(a: Advisory, *, with_affected: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": a.id, "source": a.source, "kind": a.kind.value}
    for name in ("summary", "details", "published", "modified", "withdrawn", "database_severity"):
        if value := getattr(a, name):
            out[name] = value
    if a.aliases:
        out["aliases"] = list(a.aliases)
    if a.related:
        out["related"] = list(a.related)
    if a.severities:
        out["severity"] = [{"type": s.type, "score": s.score} for s in a.severities]
    if a.references:
        out["references"] = [{"type": r.type, "url": r.url} for r in a.references]
    if with_affected:
        out["affected"] = [affected_to_json(x) for x in a.affected]
    return out


def advisory_from_json(d: dict[str, Any], affected: tuple[Affected, ...] | None = None) -> Advisory:
    return Advisory(
        id=d["id"],
        source=d.get("source", ""),
        kind=Kind(d.get("kind", Kind.VULNERABILITY.value)),
        aliases=tuple(d.get("aliases", ())),
        related=tuple(d.get("related", ())),
        summary=d.get("summary", ""),
        details=d.get("details", ""),
        published=d.get("published", ""),
        modified=d.get("modified", ""),
        withdrawn=d.get("withdrawn", ""),
        severities=tuple(
            SeverityScore(type=s["type"], score=s["score"]) for s in d.get("severity", ())
        ),
        database_severity=d.get("database_severity", ""),
        references=tuple(Reference(type=r["type"], url=r["url"]) for r in d.get("references", ())),
        affected=affected
        if affected is not None
        else tuple(affected_from_json(x) for x in d.get("affected", ())),
    )
