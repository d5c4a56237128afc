"""What enters and leaves the fleet store: plain frozen dataclasses, JSON-able dicts.

The store does not know pipeline or report types: the monitor converts a scan result into an
``ImageRecord``, ``PackageRow``s and ``FindingRow``s (each finding carrying the object
``scan -o json`` writes for it, kept verbatim for the API).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


class ImageStatus(StrEnum):
    PENDING = "pending"
    SCANNED = "scanned"
    FAILED = "failed"


class FindingState(StrEnum):
    OPEN = "open"
    FIXED = "fixed"


class EventType(StrEnum):
    """The events the store writes itself; the monitor may write others (``policy-failed``...)
    through :meth:`Store.add_event`."""

    NEW_FINDING = "new-finding"
    FIXED_FINDING = "fixed-finding"
    FINDING_CHANGED = "finding-changed"


class Scope(StrEnum):
    """An API token's scope; each includes the ones before it."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        order = list(Scope)
        return order.index(self) >= order.index(needed)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # claimed under a lease; claimed again once the lease expires
    DONE = "done"
    FAILED = "failed"  # attempts exhausted or the caller gave up: not retried


class TriageAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    VEX = "vex"
    WAIVE = "waive"  # accept the risk until ``expires`` (0003)


class TriageScope(StrEnum):
    IMAGE = "image"
    REPOSITORY = "repository"


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    digest: str
    diff_id: str
    size: int
    created_by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord:
    """One image as scanned: identified by its manifest digest."""

    digest: str
    repository: str
    tags: tuple[str, ...] = ()
    media_type: str = ""
    created: dt.datetime | None = None  # the image config's ``created``
    labels: dict[str, str] = field(default_factory=dict)
    owners: tuple[str, ...] = ()
    layers: tuple[LayerRecord, ...] = ()
    base: JSON | None = None  # the base assessment, as JSON
    policy: JSON | None = None  # the policy decision, as JSON
    signatures: tuple[JSON, ...] = ()
    sbom: bytes = b""  # hullcheck's native SBOM JSON, compressed by the caller
    sbom_encoding: str = "zstd"  # how ``sbom`` is compressed, so readers can undo it


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageRow:
    """One package of an image, indexed for search and delta re-matching.

    ``ecosystem`` is the OSV ecosystem the matcher searches (``Debian:12``, ``PyPI``); names
    are indexed as the advisory database normalises them (``vulndb.store.package_key``)."""

    purl: str
    type: str
    ecosystem: str
    name: str
    version: str
    source_name: str = ""
    source_version: str = ""
    licence: str = ""
    layer: int | None = None
    visible: bool = True
    # What its findings depend on, hashed (``monitor.convert.package_rows``); None: unknown.
    entry_hash: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingRow:
    """One finding: the key ``(image, advisory_id, package_purl)`` names "the same finding"
    across scans and re-matches."""

    advisory_id: str
    package_purl: str
    aliases: tuple[str, ...] = ()
    severity: str = "unknown"  # the severity word: critical, high, ..., malicious
    cvss: float | None = None
    kev: bool = False
    fixed_versions: tuple[str, ...] = ()
    status: str = ""  # fixed / not-fixed / wont-fix / deferred / malicious
    suppressed: bool = False
    suppressed_reason: str = ""
    data: JSON = field(default_factory=dict)  # the ``scan -o json`` finding object, verbatim

    @property
    def key(self) -> tuple[str, str]:
        return (self.advisory_id, self.package_purl)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    cluster: str
    namespace: str
    workload: str
    container: str
    image_digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageDecision:
    """Acknowledge, assign or VEX one advisory (on one package, or any: ``package_purl=""``)
    for one image or every image of a repository."""

    scope: TriageScope
    target: str  # image digest or repository
    advisory_id: str
    action: TriageAction
    package_purl: str = ""
    assignee: str = ""
    vex_status: str = ""  # not_affected / affected / fixed / under_investigation
    vex_justification: str = ""
    reason: str = ""
    expires: dt.date | None = None  # a waiver's last day (action waive)


# -- outputs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingChange:
    """One change a scan or re-match made to one finding, and the event it wrote."""

    type: EventType
    advisory_id: str
    package_purl: str
    severity: str
    changes: tuple[tuple[str, Any, Any], ...] = ()  # (field, before, after) for changed
    reopened: bool = False
    event_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    digest: str
    new: tuple[FindingChange, ...] = ()
    fixed: tuple[FindingChange, ...] = ()
    changed: tuple[FindingChange, ...] = ()

    @property
    def events(self) -> tuple[int, ...]:
        return tuple(c.event_id for c in (*self.new, *self.fixed, *self.changed))

    def __bool__(self) -> bool:
        return bool(self.new or self.fixed or self.changed)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPackage:
    """A stored package row with the image it belongs to (``packages_named``)."""

    image_digest: str
    package: PackageRow


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    at: dt.datetime
    change: str  # new / reopened / changed / fixed
    reason: str
    details: JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFinding:
    finding: FindingRow
    state: FindingState
    first_seen: dt.datetime
    fixed_at: dt.datetime | None
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRecord:
    repository: str
    tag: str
    digest: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    current: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSummary:
    digest: str
    repository: str
    tags: tuple[str, ...]
    status: ImageStatus
    findings: dict[str, int]  # open, unsuppressed findings by severity word
    last_scanned: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a listing; ``next`` is the cursor of the next page (None: the last)."""

    images: tuple[ImageSummary, ...]
    next: str | None


AWAITING = "awaiting:"  # matched_build of an image queued for a re-match to the build after it
DELTA = "delta:"  # matched_build of an image a range job re-matches to the build after it


def queued_build(matched_build: str) -> str | None:
    """The build an image waits to be re-matched against (its ``matched_build`` is a
    marker the advisory update set), or None when it is matched against ``matched_build``."""
    for marker in (AWAITING, DELTA):
        if matched_build.startswith(marker):
            return matched_build[len(marker):]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDetail:
    digest: str
    repository: str
    status: ImageStatus
    error: str
    media_type: str
    created: dt.datetime | None
    labels: dict[str, str]
    layers: tuple[LayerRecord, ...]
    base: JSON | None
    policy: JSON | None
    signatures: tuple[JSON, ...]
    first_scanned: dt.datetime | None
    last_scanned: dt.datetime | None
    matched_build: str
    tags: tuple[TagRecord, ...]
    owners: tuple[str, ...]
    deployments: tuple[Deployment, ...]
    findings: tuple[StoredFinding, ...]

    @property
    def rematch_queued(self) -> str | None:
        """The build a queued re-match will match this image against, else None."""
        return queued_build(self.matched_build)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageHit:
    """A search answer: an image that ships what was asked for, and where it runs."""

    digest: str
    repository: str
    tags: tuple[str, ...]
    deployments: tuple[Deployment, ...]
    owners: tuple[str, ...]
    packages: tuple[PackageRow, ...] = ()  # the matching packages (search by package)
    findings: tuple[FindingRow, ...] = ()  # the matching findings (search by advisory)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    id: int
    name: str
    scope: Scope
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    reason: str
    details: JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    id: int
    uid: str  # globally unique (UUID4): receivers key on it
    type: str
    image_digest: str
    payload: JSON
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A claimed (or listed) delivery of one event to one channel."""

    id: int
    event: Event
    channel: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str
    delivered_at: dt.datetime | None

    @property
    def idempotency_key(self) -> str:
        """Stable per (event, channel): channels send it (e.g. ``Idempotency-Key``) so a
        receiver recognises a retry after a crash between "sent" and "marked delivered"."""
        return f"{self.event.uid}:{self.channel}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: int
    kind: str
    args: JSON
    status: JobStatus
    attempts: int
    run_after: dt.datetime
    locked_by: str
    locked_until: dt.datetime | None
    last_error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyCount:
    day: dt.date
    severity: str
    open: int
    new: int
    fixed: int
