"""Reading the store for the web pages: the fleet at a glance (open findings by severity,
images at risk first, what changed lately), one image's packages and layers, a repository's
digests over time, an image's latest events, and the values the fleet page filters by.

Each query is served by an index (docs/fleet.md, revision 0003) and returns one page at a
time; tags, owners and deployments of a page come in batched ``IN`` queries
(``queries.current_tags``...), never one query per image.
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
from hullcheck.fleet.model import JSON, FindingState, ImageStatus, PackageRow
from hullcheck.fleet.queries import _package, current_tags

MAX_OPTIONS = 500  # distinct values a filter offers
f_ = t.findings.c
i_ = t.images.c


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


def _open() -> list[sa.ColumnElement[bool]]:
    return [f_.state == FindingState.OPEN, f_.suppressed.is_(False)]


# -- JSON fields of the images table, the same answer on both backends ------------------------


def _json_text(conn: Connection, column: sa.Column[Any], *path: str) -> sa.ColumnElement[Any]:
    """The text of a JSON field (``'fail'``), or for booleans the word (``'false'``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column.op("#>>")(sa.cast(sa.literal("{" + ",".join(path) + "}"), ARRAY(sa.Text)))
    where = "$." + ".".join(path)
    # json_type says 'true'/'false' for booleans (json_extract would say 1/0).
    return sa.case((sa.func.json_type(column, where).in_(("true", "false")),
                    sa.func.json_type(column, where)),
                   else_=sa.func.json_extract(column, where))


def _flags(conn: Connection) -> dict[str, sa.ColumnElement[Any]]:
    """Per image, 1 or 0: policy failing, base behind its tag, base past its end of life."""
    def one(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.case((cond, 1), else_=0)

    return {
        "policy_failed": one(_json_text(conn, i_.policy, "outcome") == "fail"),
        "base_stale": one(_json_text(conn, i_.base, "freshness", "upToDate") == "false"),
        "base_eol": one(_json_text(conn, i_.base, "eol", "state") == "end-of-life"),
    }


# -- the fleet at a glance ----------------------------------------------------------------------


def severity_totals(conn: Connection, flt: Filter = Filter()) -> dict[str, int]:
    """Open, unsuppressed findings of the (filtered) fleet by severity word."""
    query = (sa.select(f_.severity, sa.func.count()).where(*_open(),
                                                           *_digests_where(flt, f_.image_digest))
             .group_by(f_.severity))
    return {severity: int(n) for severity, n in conn.execute(query)}


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


SEVERITY_WORDS = ("malicious", "critical", "high", "medium", "low", "negligible", "unknown")


def _per_image(flt: Filter) -> sa.Subquery:
    def n(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    columns = [n(f_.severity == s).label(f"n_{s}") for s in SEVERITY_WORDS]
    return (sa.select(
        f_.image_digest.label("digest"),
        n(f_.kev.is_(True)).label("kev"),
        n(sa.and_(f_.severity.in_(("critical", "high")), f_.status == "fixed")).label("fixable"),
        *columns)
        .where(*_open(), *_digests_where(flt, f_.image_digest))
        .group_by(f_.image_digest)).subquery("per_image")


def at_risk(conn: Connection, flt: Filter = Filter(), *, limit: int = 50,
            offset: int = 0) -> tuple[list[RiskRow], int]:
    """Images at risk, worst first: a malicious package, a finding in CISA's KEV, a critical
    or high finding with a fix, a failing policy, a stale or end-of-life base; then by their
    critical and high counts. One page and the number of images at risk in all."""
    agg = _per_image(flt)
    flags = _flags(conn)
    c = agg.c
    mal, kev, fixable = (sa.func.coalesce(c.n_malicious, 0), sa.func.coalesce(c.kev, 0),
                         sa.func.coalesce(c.fixable, 0))
    bad_base = sa.case((sa.or_(flags["base_stale"] == 1, flags["base_eol"] == 1), 1), else_=0)
    risky = sa.or_(mal > 0, kev > 0, fixable > 0, flags["policy_failed"] == 1, bad_base == 1)
    query = (sa.select(i_.digest, i_.repository, i_.status, i_.last_scanned,
                       *[sa.func.coalesce(getattr(c, f"n_{s}"), 0).label(s)
                         for s in SEVERITY_WORDS],
                       kev.label("kev"), fixable.label("fixable"),
                       *[v.label(k) for k, v in flags.items()],
                       sa.func.count().over().label("total"))
             .select_from(t.images.outerjoin(agg, agg.c.digest == i_.digest))
             .where(risky, *_digests_where(flt, i_.digest))
             .order_by(sa.case((mal > 0, 0), else_=1), sa.case((kev > 0, 0), else_=1),
                       sa.case((fixable > 0, 0), else_=1), flags["policy_failed"].desc(),
                       bad_base.desc(), sa.func.coalesce(c.n_critical, 0).desc(),
                       sa.func.coalesce(c.n_high, 0).desc(), i_.digest)
             .limit(limit).offset(offset))
    rows = conn.execute(query).mappings().all()
    total = int(rows[0]["total"]) if rows else _count_risky(conn, query, offset)
    tags = current_tags(conn, [r["digest"] for r in rows])
    return [RiskRow(
        digest=r["digest"], repository=r["repository"], status=ImageStatus(r["status"]),
        last_scanned=r["last_scanned"], tags=tags.get(r["digest"], ()),
        counts={s: int(r[s]) for s in SEVERITY_WORDS if r[s]},
        malicious=int(r["malicious"]), kev=int(r["kev"]), fixable=int(r["fixable"]),
        policy_failed=bool(r["policy_failed"]), base_stale=bool(r["base_stale"]),
        base_eol=bool(r["base_eol"])) for r in rows], total


def _count_risky(conn: Connection, query: sa.Select[Any], offset: int) -> int:
    """The total when the page asked for is past the end (the window count has no row)."""
    if offset == 0:
        return 0
    sub = query.limit(None).offset(None).order_by(None).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())


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
    """What changed since a time: counts by change and severity, and the newest changes."""

    since: dt.datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # change -> severity -> n
    latest: tuple[ChangeRow, ...] = ()

    def total(self, *changes: str) -> int:
        return sum(n for c in changes for n in self.counts.get(c, {}).values())


def changes_since(conn: Connection, since: dt.datetime, flt: Filter = Filter(), *,
                  latest: int = 0) -> Changes:
    """Finding changes (new, reopened, changed, fixed) at or after ``since``, by the
    ``finding_history(at)`` index; with ``latest``, the newest that many as rows."""
    h = t.finding_history.c
    base = (sa.select().select_from(t.finding_history.join(t.findings, f_.id == h.finding_id))
            .where(h.at >= since, *_digests_where(flt, f_.image_digest)))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for change, severity, n in conn.execute(
            base.add_columns(h.change, f_.severity, sa.func.count())
            .group_by(h.change, f_.severity)):
        counts[change][severity] = int(n)
    rows: tuple[ChangeRow, ...] = ()
    if latest:
        found = conn.execute(
            base.add_columns(h.at, h.change, f_.image_digest, i_.repository, f_.advisory_id,
                             f_.package_purl, f_.severity, f_.kev)
            .join(t.images, i_.digest == f_.image_digest)
            .order_by(h.at.desc(), h.id.desc()).limit(latest)).mappings()
        rows = tuple(ChangeRow(at=r["at"], change=r["change"], digest=r["image_digest"],
                               repository=r["repository"], advisory_id=r["advisory_id"],
                               package_purl=r["package_purl"], severity=r["severity"],
                               kev=bool(r["kev"])) for r in found)
    return Changes(since=since, counts=dict(counts), latest=rows)


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
