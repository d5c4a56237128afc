"""What matching produces: findings that explain themselves, and what could not be checked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hullcheck.model import Package, Severity
from hullcheck.vulndb.model import KevEntry
from hullcheck.vulndb.severity import Score


class Status(StrEnum):
    FIXED = "fixed"  # a fixed version exists: upgrading helps
    NOT_FIXED = "not-fixed"  # affected, no fix published yet
    WONT_FIX = "wont-fix"  # the distro decided not to fix (no-dsa, ignored, end-of-life)
    DEFERRED = "deferred"  # the distro postponed the fix to a later point release
    MALICIOUS = "malicious"  # the package itself is malware


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Why one advisory record matched."""

    advisory: str  # record id, e.g. PYSEC-2018-28, DSA-5000-1, CVE-2023-1 (tracker)
    source: str  # the database source it came from
    ecosystem: str  # searched under, e.g. "PyPI", "Debian:12"
    name: str  # searched name
    via: str  # "direct" or "source-package"
    version: str  # the version compared (the source version when via source package)
    matched: str  # human-readable: "introduced 0, fixed 2.20.0", "listed version", ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppression:
    """Set by VEX or an ignore rule; a suppressed finding is kept, marked, never dropped."""

    by: str  # "vex:FILE", "ignore:FILE"
    reason: str  # justification / impact statement / reason
    expires: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    package: Package
    id: str  # the primary id (a CVE when the records agree on one)
    aliases: tuple[str, ...]  # every other id of the same vulnerability
    severity: Severity  # for thresholds, sorting and display
    score: Score  # the advisory's own rating and CVSS score, when it has one
    status: Status
    fixed_versions: tuple[str, ...]
    summary: str = ""
    kev: KevEntry | None = None
    distro_urgency: str = ""
    evidence: tuple[Evidence, ...] = ()
    suppressed: Suppression | None = None
    # The alias advisory (a GHSA, a Debian tracker entry...) whose rating ``severity`` and
    # ``score`` are, when none of the matched records rates the vulnerability; "" otherwise.
    severity_from: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """A package (or one of its advisories) that could not be evaluated, and why."""

    package: Package
    reason: str
    advisory: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...]
    packages_checked: int = 0
