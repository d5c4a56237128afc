"""What the base room states about an image's base: identity, trust, freshness, end of life, advice.

Every type is a frozen value; each module of the room produces one of them and
``BaseAssessment`` gathers them. Policy (the ``--fail-*`` options) judges them elsewhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from hullcheck.match.model import Finding
from hullcheck.model import Distro, ImageSource, Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    """One known base image, as ``hullcheck base add`` recorded it."""

    name: str  # registry/repository, e.g. docker.io/library/debian
    tag: str  # "" when added by digest
    digest: str  # what the reference resolved to when recorded (an index or a manifest)
    manifest_digest: str  # the platform manifest whose layers are recorded
    platform: str = ""
    created: str = ""  # the config's created date, as written there
    distro: Distro | None = None
    diff_ids: tuple[str, ...] = ()
    added: str = ""  # when it was recorded (ISO 8601, UTC)

    @property
    def reference(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.name}{tag}@{self.digest}"


class IdentifiedBy(StrEnum):
    ANNOTATION = "annotation"  # manifest annotations org.opencontainers.image.base.*
    LABEL = "label"  # the same keys as config labels
    LAYERS = "layers"  # a catalog entry whose diffIDs are the longest prefix of the image's
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseIdentity:
    by: IdentifiedBy
    name: str = ""  # registry/repository
    tag: str = ""
    digest: str = ""
    # How many leading layers of the image are the base's; None when not known.
    layers: int | None = None
    # For annotations: whether the named base's diffIDs are a prefix of the image's (None: not
    # checked). An annotation whose layers do not match is a claim, not an identity.
    layers_match: bool | None = None
    entry: CatalogEntry | None = None
    # Other catalog entries with the same layers (the same image under other tags).
    also: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.by is not IdentifiedBy.NONE

    @property
    def reference(self) -> str:
        if not self.name:
            return ""
        tag = f":{self.tag}" if self.tag else ""
        at = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{at}"


NOT_IDENTIFIED = BaseIdentity(by=IdentifiedBy.NONE)


class TrustState(StrEnum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustVerdict:
    state: TrustState
    reason: str
    rule: str = ""  # the trust-file source that matched, "" when none did
    signers: tuple[str, ...] = ()  # the keys that verified a signature on the base digest


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """Where the base's tag points now, compared with the digest the image was built on."""

    tag: str  # registry/repository:tag
    built_digest: str
    built_created: datetime | None
    current_digest: str
    current_created: datetime | None

    @property
    def up_to_date(self) -> bool:
        return self.built_digest == self.current_digest

    @property
    def days_behind(self) -> int | None:
        """Whole days between the two created dates; 0 when up to date, None when a date is
        missing."""
        if self.up_to_date:
            return 0
        if self.built_created is None or self.current_created is None:
            return None
        return max((self.current_created - self.built_created).days, 0)

    def sentence(self) -> str:
        def created(d: datetime | None) -> str:
            return d.date().isoformat() if d else "unknown"

        head = f"built on digest {self.built_digest} (created {created(self.built_created)})"
        if self.up_to_date:
            return f"{head}; tag {self.tag} still points to it: up to date"
        behind = self.days_behind
        tail = f"{behind} days behind" if behind is not None else "age difference unknown"
        return (f"{head}; tag {self.tag} now points to {self.current_digest} "
                f"(created {created(self.current_created)}): {tail}")


class EolState(StrEnum):
    SUPPORTED = "supported"  # before the end of (standard) security support
    EXTENDED = "extended-support-only"  # past it, within LTS / ESM / ELS
    END_OF_LIFE = "end-of-life"  # past every announced support
    UNKNOWN = "unknown"  # no distro, or a release the table does not list


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadline:
    """An end of support: a date, or ``passed`` when it ended on an unpublished date; neither
    when no end is announced."""

    on: date | None = None
    passed: bool = False

    def reached(self, today: date) -> bool:
        return self.passed or (self.on is not None and today >= self.on)

    def __str__(self) -> str:
        if self.on is not None:
            return self.on.isoformat()
        return "ended (date not published)" if self.passed else "not announced"


@dataclass(frozen=True, slots=True, kw_only=True)
class EolRelease:
    distro_id: str  # os-release ID
    title: str  # "Debian"
    cycle: str  # "12", "3.19", "22.04"
    codename: str = ""
    released: date | None = None
    active_support_end: Deadline = Deadline()
    security_support_end: Deadline = Deadline()
    extended_support_end: Deadline = Deadline()
    latest: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EolStatus:
    state: EolState
    reason: str
    today: date
    release: EolRelease | None = None

    @property
    def past_security_support(self) -> bool:
        return self.state in (EolState.EXTENDED, EolState.END_OF_LIFE)


@dataclass(frozen=True, slots=True, kw_only=True)
class RebuildAdvice:
    """What rebuilding on the base's current digest would change, for base-layer packages."""

    base: str  # what the image was built on
    candidate: str  # registry/repository:tag@digest it would be rebuilt on
    fixed: tuple[Finding, ...]  # in the image's base layers, gone from the candidate
    remaining: tuple[Finding, ...]  # in both
    introduced: tuple[Finding, ...]  # only in the candidate

    @staticmethod
    def vulnerabilities(findings: tuple[Finding, ...]) -> dict[str, Severity]:
        """Distinct vulnerability ids with the highest severity seen for each."""
        out: dict[str, Severity] = {}
        for f in findings:
            if f.id not in out or f.severity > out[f.id]:
                out[f.id] = f.severity
        return out

    @property
    def fixed_by_severity(self) -> dict[Severity, int]:
        counts = Counter(self.vulnerabilities(self.fixed).values())
        return {s: counts[s] for s in Severity if counts[s]}

    def summary(self) -> str:
        fixed = self.vulnerabilities(self.fixed)
        serious = sum(1 for s in fixed.values() if s >= Severity.HIGH)
        word = "vulnerability" if len(fixed) == 1 else "vulnerabilities"
        text = f"rebuild on {self.candidate}: fixes {len(fixed)} {word}"
        if fixed:
            text += f", {serious} of them high or critical"
        introduced = self.vulnerabilities(self.introduced)
        if introduced:
            text += f"; brings {len(introduced)} new"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseAssessment:
    image: ImageSource
    distro: Distro | None
    identity: BaseIdentity
    eol: EolStatus
    trust: TrustVerdict | None = None  # None when no trust file was given
    freshness: Freshness | None = None  # None when the base or its tag is unknown
    advice: RebuildAdvice | None = None  # None when up to date or not computed
    notes: tuple[str, ...] = ()
