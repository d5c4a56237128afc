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
    # "= false", not "IS false": PostgreSQL uses an index only for the former
    return [f_.state == FindingState.OPEN, f_.suppressed == sa.false()]


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


def _image_flags(conn: Connection, flt: Filter) -> dict[str, tuple[bool, bool, bool]]:
    """(policy failing, base behind its tag, base past its end of life) of the images that
    have any: one scan of the images' JSON, returning only those rows."""
    policy_failed = _json_text(conn, i_.policy, "outcome") == "fail"
    stale = _json_text(conn, i_.base, "freshness", "upToDate") == "false"
    eol = _json_text(conn, i_.base, "eol", "state") == "end-of-life"
    rows = conn.execute(
        sa.select(i_.digest, sa.case((policy_failed, 1), else_=0),
                  sa.case((stale, 1), else_=0), sa.case((eol, 1), else_=0))
        .where(sa.or_(policy_failed, stale, eol), *_digests_where(flt, i_.digest)))
    return {d: (bool(p), bool(st), bool(e)) for d, p, st, e in rows}


# -- the fleet at a glance ----------------------------------------------------------------------


SEVERITY_WORDS = ("malicious", "critical", "high", "medium", "low", "negligible", "unknown")


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


@dataclass(slots=True)
class _Counts:
    by_severity: dict[str, int] = field(default_factory=dict)
    kev: int = 0
    fixable: int = 0


def _finding_counts(conn: Connection, flt: Filter) -> dict[str, _Counts]:
    """Per image with open, unsuppressed findings: counts by severity, in KEV, critical or
    high with a fix. One pass over the covering index ``findings(state, suppressed,
    image_digest, severity, kev, status)`` in its own order (no sort, no table reads)."""
    def n(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        # untyped: plain ints as the driver gives them, no result processing per cell
        return sa.type_coerce(sa.func.sum(sa.case((cond, 1), else_=0)), sa.types.NullType())

    query = (sa.select(f_.image_digest, *[n(f_.severity == s) for s in SEVERITY_WORDS],
                       n(f_.kev.is_(True)),
                       n(sa.and_(f_.severity.in_(("critical", "high")), f_.status == "fixed")))
             .where(*_open(), *_digests_where(flt, f_.image_digest))
             .group_by(f_.image_digest))
    out: dict[str, _Counts] = {}
    for digest, *values in conn.execute(query):
        severities = {s: int(v) for s, v in zip(SEVERITY_WORDS, values, strict=False) if v}
        out[digest] = _Counts(by_severity=severities, kev=int(values[-2]),
                              fixable=int(values[-1]))
    return out


def fleet_risk(conn: Connection, flt: Filter = Filter(), *, limit: int = 50,
               offset: int = 0) -> RiskPage:
    """Images at risk, worst first: a malicious package, a finding in CISA's KEV, a critical
    or high finding with a fix, a failing policy, a stale or end-of-life base; then by their
    critical and high counts, then digest. One page, the number at risk, and the fleet's
    open findings by severity (from the same pass).

    Ranked in Python over two narrow queries (findings per image from a covering index; the
    images whose JSON says policy failed or base stale/EOL): at 10,000 images a single SQL
    statement joining, extracting JSON from every row and sorting took 5x longer."""
    counts = _finding_counts(conn, flt)
    flags = _image_flags(conn, flt)
    totals: dict[str, int] = defaultdict(int)
    for c in counts.values():
        for severity, k in c.by_severity.items():
            totals[severity] += k
    none = _Counts()

    def key(digest: str) -> tuple[bool, bool, bool, bool, bool, int, int, str]:
        c = counts.get(digest, none)
        p, st, e = flags.get(digest, (False, False, False))
        return (not c.by_severity.get("malicious"), not c.kev, not c.fixable, not p,
                not (st or e), -c.by_severity.get("critical", 0), -c.by_severity.get("high", 0),
                digest)

    risky = [d for d, c in counts.items()
             if c.by_severity.get("malicious") or c.kev or c.fixable]
    risky = sorted(set(risky) | set(flags), key=key)
    page = risky[offset:offset + limit]
    images = {r.digest: r for r in conn.execute(
        sa.select(i_.digest, i_.repository, i_.status, i_.last_scanned)
        .where(i_.digest.in_(page)))} if page else {}
    tags = current_tags(conn, page)
    rows = []
    for d in page:
        c = counts.get(d, none)
        p, st, e = flags.get(d, (False, False, False))
        img = images[d]
        rows.append(RiskRow(
            digest=d, repository=img.repository, status=ImageStatus(img.status),
            last_scanned=img.last_scanned, tags=tags.get(d, ()), counts=dict(c.by_severity),
            malicious=c.by_severity.get("malicious", 0), kev=c.kev, fixable=c.fixable,
            policy_failed=p, base_stale=st, base_eol=e))
    return RiskPage(rows=tuple(rows), total=len(risky), totals=dict(totals))


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
    """Finding changes (new, reopened, changed, fixed) at or after ``since``, counted from
    the covering ``finding_history(at, change)`` index alone (joined to the findings only
    when a filter names images); with ``latest``, the newest that many as rows."""
    h = t.finding_history.c
    base = (sa.select().select_from(t.finding_history.join(t.findings, f_.id == h.finding_id))
            .where(h.at >= since, *_digests_where(flt, f_.image_digest)))
    counting = base if flt else sa.select().select_from(t.finding_history).where(h.at >= since)
    counts = {change: int(n) for change, n in conn.execute(
        counting.add_columns(h.change, sa.func.count()).group_by(h.change))}
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
