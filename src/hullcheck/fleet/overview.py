"""Reading the store for the web pages: the fleet at a glance (open findings by severity,
images at risk first, what changed lately), one image's packages and layers, a repository's
digests over time, an image's latest events, and the values the fleet page filters by.

Each query is served by an index (docs/fleet.md, revisions 0003 and 0004) and returns one
page at a time; images at risk come from the images' risk summary (``fleet.summary``), not
from ranking every image; tags, owners and deployments of a page come in batched ``IN``
queries (``queries.current_tags``...), never one query per image.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hullcheck.fleet import schema as t
from hullcheck.fleet import summary
from hullcheck.fleet.model import JSON, ImageStatus, PackageRow
from hullcheck.fleet.queries import _package, current_tags

MAX_OPTIONS = 500  # distinct values a filter offers
f_ = t.findings.c
i_ = t.images.c
s_ = t.image_summary.c


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """Which images the fleet page shows: every condition given must hold ("" = any)."""

    repository: str = ""
    owner: str = ""
    cluster: str = ""
    namespace: str = ""

    def __bool__(self) -> bool:
        return bool(self.repository or self.owner or self.cluster or self.namespace)


def _digests_where(flt: Filter, digest: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
    """Conditions on an image digest column for ``flt``, each served by an index."""
    conds: list[sa.ColumnElement[bool]] = []
    if flt.repository:
        conds.append(sa.or_(
            digest.in_(sa.select(i_.digest).where(i_.repository == flt.repository)),
            digest.in_(sa.select(t.tags.c.image_digest)
                       .where(t.tags.c.repository == flt.repository))))
    if flt.owner:
        conds.append(digest.in_(sa.select(t.owners.c.image_digest)
                                .where(t.owners.c.owner == flt.owner)))
    if flt.cluster or flt.namespace:
        d = t.deployments.c
        where = [d.cluster == flt.cluster] if flt.cluster else []
        where += [d.namespace == flt.namespace] if flt.namespace else []
        conds.append(digest.in_(sa.select(d.image_digest).where(*where)))
    return conds


# -- the fleet at a glance ----------------------------------------------------------------------


SEVERITY_WORDS = summary.SEVERITIES


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRow:
    """An image and what puts it at risk: counts of open, unsuppressed findings."""

    digest: str
    repository: str
    status: ImageStatus
    last_scanned: dt.datetime | None
    tags: tuple[str, ...]
    counts: dict[str, int]  # by severity word
    malicious: int
    kev: int
    fixable: int  # critical or high with a fixed version
    policy_failed: bool
    base_stale: bool
    base_eol: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskPage:
    rows: tuple[RiskRow, ...]
    total: int  # images at risk in all
    totals: dict[str, int]  # open, unsuppressed findings of the (filtered) fleet by severity


def risk_page(flt: Filter, *, limit: int, offset: int) -> sa.Select[Any]:
    """One page of the images at risk, worst first: their summary rows, a range of the
    ``image_summary(risk_rank, image_digest)`` index read in its order. Alone, not joined:
    joined to the images, SQLite's planner may scan every image and sort instead."""
    return (sa.select(t.image_summary)
            .where(s_.risk_rank.is_not(None), *_digests_where(flt, s_.image_digest))
            .order_by(s_.risk_rank, s_.image_digest).limit(limit).offset(offset))


def fleet_risk(conn: Connection, flt: Filter = Filter(), *, limit: int = 50,
               offset: int = 0) -> RiskPage:
    """Images at risk, worst first: a malicious package, a finding in CISA's KEV, a critical
    or high finding with a fix, a failing policy, a stale or end-of-life base; then by their
    critical and high counts, then digest. One page, the number at risk, and the fleet's
    open findings by severity.

    Read from ``image_summary`` (revision 0004, kept current by every write): the page is a
    range of its rank index, its images and tags are fetched by digest; the number at risk
    and the totals are one pass over its narrow rows (of the filtered images)."""
    where = _digests_where(flt, s_.image_digest)
    at_risk, *sums = conn.execute(
        sa.select(sa.func.count(s_.risk_rank),
                  *[sa.func.coalesce(sa.func.sum(s_[w]), 0) for w in SEVERITY_WORDS])
        .where(*where)).one()
    totals = {w: int(n) for w, n in zip(SEVERITY_WORDS, sums, strict=True) if n}
    found = conn.execute(risk_page(flt, limit=limit, offset=offset)).mappings().all()
    page = [r["image_digest"] for r in found]
    images = {r.digest: r for r in conn.execute(
        sa.select(i_.digest, i_.repository, i_.status, i_.last_scanned)
        .where(i_.digest.in_(page)))} if page else {}
    tags = current_tags(conn, page)
    rows = []
    for r in found:
        s, img = summary.of_row(r), images[r["image_digest"]]
        rows.append(RiskRow(
            digest=img.digest, repository=img.repository, status=ImageStatus(img.status),
            last_scanned=img.last_scanned, tags=tags.get(img.digest, ()),
            counts=dict(s.counts), malicious=s.counts.get("malicious", 0), kev=s.kev,
            fixable=s.fixable, policy_failed=s.policy_failed, base_stale=s.base_stale,
            base_eol=s.base_eol))
    return RiskPage(rows=tuple(rows), total=int(at_risk), totals=totals)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRow:
    at: dt.datetime
    change: str  # new / reopened / changed / fixed
    digest: str
    repository: str
    advisory_id: str
    package_purl: str
    severity: str
    kev: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    """What changed since a time: counts by change, and the newest changes."""

    since: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)  # new / reopened / changed / fixed
    latest: tuple[ChangeRow, ...] = ()

    def total(self, *changes: str) -> int:
        return sum(self.counts.get(c, 0) for c in changes)


def changes_since(conn: Connection, since: dt.datetime, flt: Filter = Filter(), *,
                  latest: int = 0) -> Changes:
    """Finding changes (new, reopened, changed, fixed) at or after ``since``; with
    ``latest``, the newest that many as rows."""
    (changes,) = changes_in(conn, [since], flt, latest=latest)
    return changes


def changes_in(conn: Connection, windows: Sequence[dt.datetime], flt: Filter = Filter(), *,
               latest: int = 0) -> tuple[Changes, ...]:
    """Finding changes at or after each of ``windows`` (the last day, the last week...),
    counted in one pass over the widest: from the covering ``finding_history(at, change)``
    index alone, joined to the findings only when a filter names images. With ``latest``,
    the newest that many changes as rows, given with the narrowest window."""
    h = t.finding_history.c
    oldest = min(windows)
    base = (sa.select().select_from(t.finding_history.join(t.findings, f_.id == h.finding_id))
            .where(h.at >= oldest, *_digests_where(flt, f_.image_digest)))
    counting = base if flt else sa.select().select_from(t.finding_history).where(h.at >= oldest)
    counts: list[dict[str, int]] = [{} for _ in windows]
    for change, *ns in conn.execute(counting.add_columns(
            h.change, *[sa.func.sum(sa.case((h.at >= w, 1), else_=0)) for w in windows])
            .group_by(h.change)):
        for window, n in zip(counts, ns, strict=True):
            if n:
                window[change] = int(n)
    rows: tuple[ChangeRow, ...] = ()
    newest = max(windows)
    if latest:
        found = conn.execute(
            base.where(h.at >= newest)
            .add_columns(h.at, h.change, f_.image_digest, i_.repository, f_.advisory_id,
                         f_.package_purl, f_.severity, f_.kev)
            .join(t.images, i_.digest == f_.image_digest)
            .order_by(h.at.desc(), h.id.desc()).limit(latest)).mappings()
        rows = tuple(ChangeRow(at=r["at"], change=r["change"], digest=r["image_digest"],
                               repository=r["repository"], advisory_id=r["advisory_id"],
                               package_purl=r["package_purl"], severity=r["severity"],
                               kev=bool(r["kev"])) for r in found)
    return tuple(Changes(since=w, counts=c, latest=rows if w == newest else ())
                 for w, c in zip(windows, counts, strict=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The values the fleet page's filters offer (at most ``MAX_OPTIONS`` each)."""

    repositories: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


def filter_options(conn: Connection) -> Options:
    def distinct(column: sa.Column[Any]) -> tuple[str, ...]:
        return tuple(conn.execute(sa.select(column).distinct().order_by(column)
                                  .limit(MAX_OPTIONS)).scalars())

    d = t.deployments.c
    return Options(repositories=distinct(i_.repository), owners=distinct(t.owners.c.owner),
                   clusters=distinct(d.cluster), namespaces=distinct(d.namespace))


def image_count(conn: Connection, flt: Filter = Filter()) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.images)
                            .where(*_digests_where(flt, i_.digest))).scalar_one())


# -- one image ----------------------------------------------------------------------------------


def image_packages(conn: Connection, digest: str, *, text: str = "", limit: int = 200,
                   offset: int = 0) -> tuple[tuple[PackageRow, ...], int]:
    """A page of an image's packages by name (those whose name or purl contains ``text``,
    case-insensitive), and how many match in all."""
    p = t.packages.c
    where: list[sa.ColumnElement[bool]] = [p.image_digest == digest]
    if text:
        like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(sa.or_(sa.func.lower(p.name).like(like, escape="\\"),
                            sa.func.lower(p.purl).like(like, escape="\\")))
    total = int(conn.execute(sa.select(sa.func.count()).select_from(t.packages)
                             .where(*where)).scalar_one())
    rows = conn.execute(sa.select(t.packages).where(*where)
                        .order_by(p.name, p.version, p.id).limit(limit).offset(offset)).mappings()
    return tuple(_package(r) for r in rows), total


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerPackages:
    """The packages a layer brought: visible ones, and those a later layer removed or
    replaced (shipped, not visible: still in the image's bytes)."""

    layer: int | None
    visible: int
    hidden: tuple[PackageRow, ...]


def layer_packages(conn: Connection, digest: str, *,
                   hidden_shown: int = 50) -> dict[int | None, LayerPackages]:
    """Per layer index, its visible package count and its shipped-not-visible packages."""
    p = t.packages.c
    visible = {layer: int(n) for layer, n in conn.execute(
        sa.select(p.layer, sa.func.count()).where(p.image_digest == digest, p.visible.is_(True))
        .group_by(p.layer))}
    hidden: dict[int | None, list[PackageRow]] = defaultdict(list)
    for r in conn.execute(sa.select(t.packages).where(p.image_digest == digest,
                                                      p.visible.is_(False))
                          .order_by(p.layer, p.name).limit(hidden_shown * 20)).mappings():
        if len(hidden[r["layer"]]) < hidden_shown:
            hidden[r["layer"]].append(_package(r))
    return {layer: LayerPackages(layer=layer, visible=visible.get(layer, 0),
                                 hidden=tuple(hidden.get(layer, ())))
            for layer in set(visible) | set(hidden)}


def replacements(conn: Connection, digest: str,
                 hidden: Sequence[PackageRow]) -> dict[str, PackageRow]:
    """For shipped-not-visible packages, the visible package of the same type and name that
    replaced them (an upgrade in a later layer), by the hidden package's purl."""
    if not hidden:
        return {}
    p = t.packages.c
    names = sorted({h.name for h in hidden})[:1000]
    visible: dict[tuple[str, str], PackageRow] = {}
    for r in conn.execute(sa.select(t.packages).where(
            p.image_digest == digest, p.visible.is_(True), p.name.in_(names))).mappings():
        row = _package(r)
        visible[(row.type, row.name)] = row
    return {h.purl: visible[(h.type, h.name)] for h in hidden if (h.type, h.name) in visible}


def latest_events(conn: Connection, digest: str, *, limit: int = 20) -> list[tuple[str, dt.datetime, JSON]]:
    """The image's newest events (type, when, payload), by the ``events(image_digest)``
    index."""
    e = t.events.c
    return [(r.type, r.created_at, r.payload) for r in conn.execute(
        sa.select(e.type, e.created_at, e.payload).where(e.image_digest == digest)
        .order_by(e.id.desc()).limit(limit))]


def latest_event(conn: Connection, digest: str, kind: str) -> tuple[dt.datetime, JSON] | None:
    e = t.events.c
    row = conn.execute(sa.select(e.created_at, e.payload)
                       .where(e.image_digest == digest, e.type == kind)
                       .order_by(e.id.desc()).limit(1)).first()
    return None if row is None else (row.created_at, row.payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestHistory:
    """A tag of a repository and the digest it named, from when to when."""

    tag: str
    digest: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    current: bool


def repository_history(conn: Connection, repository: str, *,
                       limit: int = 50) -> tuple[DigestHistory, ...]:
    """The repository's tags over time, newest first (the tags table's primary key starts
    with the repository)."""
    g = t.tags.c
    return tuple(DigestHistory(tag=r.tag, digest=r.image_digest, first_seen=r.first_seen,
                               last_seen=r.last_seen, current=r.current)
                 for r in conn.execute(sa.select(t.tags).where(g.repository == repository)
                                       .order_by(g.last_seen.desc(), g.tag).limit(limit)))
