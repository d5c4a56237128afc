"""Reading the store: images by repository, one image, search (blast radius), the packages
a delta names, deployments and the trend. Every query here is served by an index named in
docs/fleet.md; lists of images are fetched in batches, never one query per image."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hullcheck.fleet import schema as t
from hullcheck.fleet.model import (
    DailyCount,
    Deployment,
    FindingRow,
    FindingState,
    HistoryEntry,
    ImageDetail,
    ImageHit,
    ImageStatus,
    ImageSummary,
    LayerRecord,
    PackageRow,
    Page,
    StoredFinding,
    TagRecord,
)
from hullcheck.fleet.sql import CHUNK, chunks, name_key, purl_base, purl_version

MAX_PAGE = 500


# -- images -------------------------------------------------------------------------------


def images_by_repository(conn: Connection, repository: str, *, limit: int = 100,
                         after: str | None = None) -> Page:
    """The images recorded under ``repository`` or tagged in it, by digest, one page."""
    limit = max(1, min(limit, MAX_PAGE))
    in_images = sa.select(t.images.c.digest.label("digest")).where(
        t.images.c.repository == repository)
    in_tags = sa.select(t.tags.c.image_digest.label("digest")).where(
        t.tags.c.repository == repository)
    digests = sa.union(in_images, in_tags).subquery()
    query = sa.select(digests.c.digest).order_by(digests.c.digest).limit(limit + 1)
    if after is not None:
        query = query.where(digests.c.digest > after)
    page = list(conn.execute(query).scalars())
    more = len(page) > limit
    page = page[:limit]
    return Page(images=summaries(conn, page, repository=repository),
                next=page[-1] if more else None)


def summaries(conn: Connection, digests: Sequence[str], *,
              repository: str | None = None) -> tuple[ImageSummary, ...]:
    """Summaries of ``digests`` in that order: status, current tags (in ``repository`` when
    given) and open, unsuppressed findings counted by severity."""
    if not digests:
        return ()
    i = t.images.c
    rows = {r.digest: r for r in conn.execute(
        sa.select(i.digest, i.repository, i.status, i.last_scanned).where(i.digest.in_(digests)))}
    tags = current_tags(conn, digests, repository=repository)
    f = t.findings.c
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for digest, severity, n in conn.execute(
        sa.select(f.image_digest, f.severity, sa.func.count())
        .where(f.image_digest.in_(digests), f.state == FindingState.OPEN,
               f.suppressed.is_(False))
        .group_by(f.image_digest, f.severity)
    ):
        counts[digest][severity] = int(n)
    return tuple(
        ImageSummary(digest=d, repository=rows[d].repository, tags=tags.get(d, ()),
                     status=ImageStatus(rows[d].status), findings=counts.get(d, {}),
                     last_scanned=rows[d].last_scanned)
        for d in digests if d in rows
    )


def current_tags(conn: Connection, digests: Sequence[str], *,
                 repository: str | None = None) -> dict[str, tuple[str, ...]]:
    """Tags pointing at each digest now; ``repo:tag`` for tags in another repository than
    ``repository`` (or than the image's own, when None)."""
    g = t.tags.c
    out: dict[str, list[str]] = defaultdict(list)
    for batch in chunks(digests, CHUNK):
        rows = conn.execute(
            sa.select(g.image_digest, g.repository, g.tag, t.images.c.repository.label("own"))
            .join(t.images, t.images.c.digest == g.image_digest)
            .where(g.image_digest.in_(batch), g.current.is_(True))
            .order_by(g.image_digest, g.repository, g.tag))
        for r in rows:
            home = repository if repository is not None else r.own
            out[r.image_digest].append(r.tag if r.repository == home else f"{r.repository}:{r.tag}")
    return {d: tuple(v) for d, v in out.items()}


def image(conn: Connection, digest: str) -> ImageDetail | None:
    """One image with its tags (history included), owners, deployments and findings (with
    their history)."""
    row = conn.execute(sa.select(t.images).where(t.images.c.digest == digest)).mappings().first()
    if row is None:
        return None
    la = t.layers.c
    layers = tuple(LayerRecord(digest=r.digest, diff_id=r.diff_id, size=r.size,
                               created_by=r.created_by)
                   for r in conn.execute(sa.select(t.layers).where(la.image_digest == digest)
                                         .order_by(la.position)))
    g = t.tags.c
    tags = tuple(TagRecord(repository=r.repository, tag=r.tag, digest=digest,
                           first_seen=r.first_seen, last_seen=r.last_seen, current=r.current)
                 for r in conn.execute(sa.select(t.tags).where(g.image_digest == digest)
                                       .order_by(g.repository, g.tag)))
    return ImageDetail(
        digest=digest, repository=row["repository"], status=ImageStatus(row["status"]),
        error=row["error"], media_type=row["media_type"], created=row["created"],
        labels=dict(row["labels"]), layers=layers, base=row["base"], policy=row["policy"],
        signatures=tuple(row["signatures"]), first_scanned=row["first_scanned"],
        last_scanned=row["last_scanned"], matched_build=row["matched_build"], tags=tags,
        owners=owners_of(conn, [digest]).get(digest, ()),
        deployments=deployments_of(conn, [digest]).get(digest, ()),
        findings=_findings_with_history(conn, digest),
    )


def _finding(r: RowMapping) -> FindingRow:
    return FindingRow(
        advisory_id=r["advisory_id"], package_purl=r["package_purl"],
        aliases=tuple(r["aliases"]), severity=r["severity"], cvss=r["cvss"], kev=r["kev"],
        fixed_versions=tuple(r["fixed_versions"]), status=r["status"],
        suppressed=r["suppressed"], suppressed_reason=r["suppressed_reason"], data=r["data"])


def _findings_with_history(conn: Connection, digest: str) -> tuple[StoredFinding, ...]:
    f = t.findings.c
    rows = conn.execute(sa.select(t.findings).where(f.image_digest == digest)
                        .order_by(f.advisory_id, f.package_purl)).mappings().all()
    h = t.finding_history.c
    history: dict[int, list[HistoryEntry]] = defaultdict(list)
    for batch in chunks([r["id"] for r in rows], CHUNK):
        for e in conn.execute(sa.select(t.finding_history).where(h.finding_id.in_(batch))
                              .order_by(h.id)):
            history[e.finding_id].append(HistoryEntry(at=e.at, change=e.change, reason=e.reason,
                                                      details=e.details))
    return tuple(
        StoredFinding(finding=_finding(r), state=FindingState(r["state"]),
                      first_seen=r["first_seen"], fixed_at=r["fixed_at"],
                      history=tuple(history.get(r["id"], ())))
        for r in rows
    )


def sbom(conn: Connection, digest: str) -> tuple[str, bytes] | None:
    """(encoding, bytes) of the image's stored SBOM."""
    row = conn.execute(sa.select(t.sboms.c.encoding, t.sboms.c.data)
                       .where(t.sboms.c.image_digest == digest)).first()
    return None if row is None else (row.encoding, bytes(row.data))


def owners_of(conn: Connection, digests: Sequence[str]) -> dict[str, tuple[str, ...]]:
    o = t.owners.c
    out: dict[str, list[str]] = defaultdict(list)
    for batch in chunks(digests, CHUNK):
        for r in conn.execute(sa.select(o.image_digest, o.owner).where(o.image_digest.in_(batch))
                              .order_by(o.image_digest, o.owner)):
            out[r.image_digest].append(r.owner)
    return {d: tuple(v) for d, v in out.items()}


def deployments_of(conn: Connection, digests: Sequence[str]) -> dict[str, tuple[Deployment, ...]]:
    d = t.deployments.c
    out: dict[str, list[Deployment]] = defaultdict(list)
    for batch in chunks(digests, CHUNK):
        for r in conn.execute(sa.select(t.deployments).where(d.image_digest.in_(batch))
                              .order_by(d.cluster, d.namespace, d.workload, d.container)):
            out[r.image_digest].append(_deployment(r._mapping))
    return {k: tuple(v) for k, v in out.items()}


def _deployment(r: RowMapping) -> Deployment:
    return Deployment(cluster=r["cluster"], namespace=r["namespace"], workload=r["workload"],
                      container=r["container"], image_digest=r["image_digest"])


def deployments_in(conn: Connection, cluster: str) -> tuple[Deployment, ...]:
    d = t.deployments.c
    return tuple(_deployment(r) for r in conn.execute(
        sa.select(t.deployments).where(d.cluster == cluster)
        .order_by(d.namespace, d.workload, d.container)).mappings())


# -- search -------------------------------------------------------------------------------

VersionFilter = Callable[[str], bool]


def _package(r: RowMapping) -> PackageRow:
    return PackageRow(purl=r["purl"], type=r["type"], ecosystem=r["ecosystem"], name=r["name"],
                      version=r["version"], source_name=r["source_name"],
                      source_version=r["source_version"], licence=r["licence"],
                      layer=r["layer"], visible=r["visible"])


def images_with_package(conn: Connection, purl: str, *, versions: VersionFilter | None = None,
                        limit: int = 1000) -> tuple[ImageHit, ...]:
    """Images shipping the package ``purl`` names (visible or only in a lower layer): that
    exact version when the purl has one, else any version ``versions`` accepts (all when
    None). The caller's filter compares versions (``hullcheck.versions``); the store looks the
    name up by index and filters in Python."""
    p = t.packages.c
    query = sa.select(t.packages).where(p.purl_base == purl_base(purl))
    exact = purl_version(purl)
    if exact is not None:
        query = query.where(p.version == exact)
    return _package_hits(conn, query, versions, limit)


def images_with_package_named(conn: Connection, name: str, *, ecosystem: str | None = None,
                              versions: VersionFilter | None = None,
                              limit: int = 1000) -> tuple[ImageHit, ...]:
    """Images shipping a package called ``name`` (in ``ecosystem``, or in any), binary or
    source name."""
    p = t.packages.c
    if ecosystem is not None:
        key = name_key(ecosystem, name)
        cond = sa.and_(p.ecosystem == ecosystem, sa.or_(p.name_key == key, p.source_key == key))
    else:  # each ecosystem normalises names its own way: look up the candidates, then check
        keys = {name, name.lower(), name_key("PyPI", name)}
        cond = sa.or_(p.name_key.in_(keys), p.source_key.in_(keys))

    def named(r: RowMapping) -> bool:
        key = name_key(r["ecosystem"], name)
        return key in (r["name_key"], r["source_key"])

    return _package_hits(conn, sa.select(t.packages).where(cond), versions, limit, named)


def _package_hits(conn: Connection, query: sa.Select[tuple[object, ...]],
                  versions: VersionFilter | None, limit: int,
                  accept: Callable[[RowMapping], bool] | None = None) -> tuple[ImageHit, ...]:
    found: dict[str, list[PackageRow]] = defaultdict(list)
    for r in conn.execute(query.order_by(t.packages.c.image_digest, t.packages.c.id)).mappings():
        if accept is not None and not accept(r):
            continue
        if versions is not None and not versions(r["version"]):
            continue
        if r["image_digest"] not in found and len(found) >= limit:
            break
        found[r["image_digest"]].append(_package(r))
    return _hits(conn, {d: {"packages": tuple(v)} for d, v in found.items()})


def images_with_advisory(conn: Connection, advisory: str, *, include_fixed: bool = False,
                         limit: int = 1000) -> tuple[ImageHit, ...]:
    """Images with a finding whose id or any alias is ``advisory`` (case-insensitive)."""
    f = t.findings.c
    n = t.finding_names.c
    query = (sa.select(t.findings).join(t.finding_names, n.finding_id == f.id)
             .where(n.name == advisory.upper()).order_by(f.image_digest, f.id))
    if not include_fixed:
        query = query.where(f.state == FindingState.OPEN)
    found: dict[str, list[FindingRow]] = defaultdict(list)
    for r in conn.execute(query).mappings():
        if r["image_digest"] not in found and len(found) >= limit:
            break
        found[r["image_digest"]].append(_finding(r))
    return _hits(conn, {d: {"findings": tuple(v)} for d, v in found.items()})


def rated_by_alias(conn: Connection, ids: Sequence[str]) -> dict[str, set[str]]:
    """{image digest: purls} of the open findings answering to any of ``ids`` (upper case)
    that their own records rate not at all: unrated, or rated by an alias advisory
    (``severityFrom``). An alias advisory added, changed or withdrawn may rate them anew.

    Two steps: the findings answering to ``ids`` (the names index), then those by id. One
    join let PostgreSQL misjudge how many names match (the whole list's estimate) and scan
    every finding, once per batch of names: 16 s of a 100,000-image plan."""
    f, n = t.findings.c, t.finding_names.c
    found: set[int] = set()
    for batch in chunks(sorted(set(ids)), CHUNK):
        found.update(conn.execute(sa.select(n.finding_id).where(n.name.in_(batch))).scalars())
    out: dict[str, set[str]] = defaultdict(set)
    for group in chunks(sorted(found), CHUNK):
        query = (sa.select(f.image_digest, f.package_purl).distinct()
                 .where(f.id.in_(group), f.state == FindingState.OPEN,
                        sa.or_(f.severity == "unknown",
                               f.data["severityFrom"].as_string().is_not(None))))
        for digest, purl in conn.execute(query):
            out[digest].add(purl)
    return out


def _hits(conn: Connection,
          found: dict[str, dict[str, tuple[PackageRow, ...] | tuple[FindingRow, ...]]],
          ) -> tuple[ImageHit, ...]:
    digests = list(found)
    repos: dict[str, str] = {}
    for batch in chunks(digests, CHUNK):
        repos.update((r.digest, r.repository) for r in conn.execute(
            sa.select(t.images.c.digest, t.images.c.repository)
            .where(t.images.c.digest.in_(batch))))
    tags = current_tags(conn, digests)
    owners = owners_of(conn, digests)
    deployed = deployments_of(conn, digests)
    hits = []
    for d in digests:
        extra = found[d]
        hits.append(ImageHit(
            digest=d, repository=repos[d], tags=tags.get(d, ()),
            deployments=deployed.get(d, ()), owners=owners.get(d, ()),
            packages=extra.get("packages", ()),  # type: ignore[arg-type]
            findings=extra.get("findings", ()),  # type: ignore[arg-type]
        ))
    return tuple(hits)


# -- delta re-matching ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePackages:
    """The stored packages of one image that a delta names."""

    digest: str
    matched_build: str
    packages: tuple[PackageRow, ...]


def packages_named(conn: Connection, pairs: Iterable[tuple[str, str]], *,
                   batch: int = 500) -> Iterator[ImagePackages]:
    """The stored packages whose (ecosystem, name) or (ecosystem, source name) is in
    ``pairs``, one image at a time, fetched ``batch`` images per query.

    First the ids of matching rows (by the name indexes; the ecosystem is checked in Python,
    which keeps the statement small for any number of ecosystems), then the rows by id, in
    digest order, so memory holds ids, never the whole answer."""
    wanted: dict[str, set[str]] = defaultdict(set)  # key -> ecosystems
    for ecosystem, name in pairs:
        wanted[name_key(ecosystem, name)].add(ecosystem)
    p = t.packages.c
    ids: dict[str, list[int]] = defaultdict(list)
    for keys in chunks(sorted(wanted), CHUNK * 5):
        rows = conn.execute(  # streamed (a server-side cursor in PostgreSQL)
            sa.select(p.id, p.image_digest, p.ecosystem, p.name_key, p.source_key)
            .where(sa.or_(p.name_key.in_(keys), p.source_key.in_(keys)))
            .execution_options(yield_per=10_000))
        for r in rows:
            if r.ecosystem in wanted.get(r.name_key, ()) or r.ecosystem in wanted.get(
                    r.source_key, ()):
                ids[r.image_digest].append(r.id)
    digests = sorted(ids)
    for group in chunks(digests, batch):
        yield from _packages_of(conn, group, ids)


NAMED = "\x1f"  # between an ecosystem and a name key in ``named``'s tagged names


def named_keys(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name key, ecosystem) of each (ecosystem, name) pair of a delta: how package rows
    name it (``name_key`` / ``source_key``)."""
    return sorted({(name_key(e, n), e) for e, n in pairs})


def named(keys: Sequence[tuple[str, str]]) -> sa.ColumnElement[bool]:
    """Package rows whose (name key, ecosystem) or (source key, ecosystem) is in ``keys``:
    the name indexes find the names; the ecosystem is checked against one IN list of
    "ecosystem NAMED key" strings (hashed by PostgreSQL, a b-tree in SQLite), not a list of
    row values (which PostgreSQL tests one by one)."""
    p = t.packages.c
    names = sorted({k for k, _ in keys})
    tagged = sorted({e + NAMED + k for k, e in keys})
    sep = sa.literal(NAMED)
    return sa.or_(sa.and_(p.name_key.in_(names), (p.ecosystem + sep + p.name_key).in_(tagged)),
                  sa.and_(p.source_key.in_(names),
                          (p.ecosystem + sep + p.source_key).in_(tagged)))


def purls_of(conn: Connection, keys: Sequence[tuple[str, str]], digests: Sequence[str],
             ) -> dict[str, set[str]]:
    """The purls ``keys`` names in each of ``digests`` (the few images a re-match judges on
    their own)."""
    p = t.packages.c
    out: dict[str, set[str]] = defaultdict(set)
    for batch in chunks(sorted(set(digests))):
        for names in chunks(list(keys), CHUNK * 2):
            for d, purl in conn.execute(sa.select(p.image_digest, p.purl).where(
                    p.image_digest.in_(batch), named(names))):
                out[d].add(purl)
    return out


def _packages_of(conn: Connection, digests: list[str],
                 ids: dict[str, list[int]]) -> Iterator[ImagePackages]:
    p = t.packages.c
    builds = {r.digest: r.matched_build for r in conn.execute(
        sa.select(t.images.c.digest, t.images.c.matched_build)
        .where(t.images.c.digest.in_(digests)))}
    rows: dict[str, list[PackageRow]] = defaultdict(list)
    for id_batch in chunks([i for d in digests for i in ids[d]], CHUNK * 5):
        for r in conn.execute(sa.select(t.packages).where(p.id.in_(id_batch))).mappings():
            rows[r["image_digest"]].append(_package(r))
    for d in digests:
        yield ImagePackages(digest=d, matched_build=builds.get(d, ""),
                            packages=tuple(sorted(rows[d], key=lambda x: x.purl)))


def images_not_matched(conn: Connection, build: str) -> Iterator[str]:
    """Scanned images last matched against another advisory build than ``build`` (they
    need a full re-match: a delta from ``build``'s predecessor does not cover them)."""
    i = t.images.c
    yield from conn.execute(
        sa.select(i.digest).where(i.status == ImageStatus.SCANNED, i.matched_build != build)
        .order_by(i.digest).execution_options(yield_per=10_000)).scalars()


def last_build(conn: Connection) -> str | None:
    b = t.advisory_builds.c
    return conn.execute(sa.select(b.build_id).order_by(b.matched_at.desc()).limit(1)).scalar()


# -- trend ----------------------------------------------------------------------------------


def trend(conn: Connection, *, since: dt.date) -> tuple[DailyCount, ...]:
    dc = t.daily_counts.c
    return tuple(DailyCount(day=r.day, severity=r.severity, open=r.open, new=r.new, fixed=r.fixed)
                 for r in conn.execute(sa.select(t.daily_counts).where(dc.day >= since)
                                       .order_by(dc.day, dc.severity)))
