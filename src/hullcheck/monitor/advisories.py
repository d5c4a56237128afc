"""Advisory updates and re-matching: fetch and rebuild the database in the data dir, diff it
against the build it replaced (``vulndb.delta``), and re-match only what the delta names.

    update   vulndb.update → build id → delta(old, new) → which stored packages it names
             (by (ecosystem, name) and source name: (digest, purl) pairs,
             ``queries.purls_named``) and which findings a KEV change touches → ``rematch``
             jobs, 1,000 images each, queued in the transaction that moves every other
             image to the new build
    rematch  set-wise (``rematch_images``): the images' package rows grouped by what a
             package's findings depend on, each distinct package matched once, triage
             marks only where an image has decisions → ``fleet.apply_rematches`` with
             those purls (findings of other packages untouched) → events, deliveries

Images last matched against another build than the one the delta starts from (an update
they missed, a re-match that failed) get a full re-match instead, so every image ends on the
new build with the findings a fresh scan would give.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.fleet import scans
from hullcheck.fleet.model import FindingRow, PackageRow, TriageDecision
from hullcheck.monitor import alerts, convert, queue
from hullcheck.monitor.context import BUILD_FILE, Context, file_build_id

BATCH = 1_000  # images per rematch job
PART = 1_000  # images a rematch job reads, matches and writes at once (one transaction)
AWAITING = "awaiting:"  # matched_build of an image queued for a re-match to the build after it


def sources(ctx: Context) -> Any:
    from hullcheck import vulndb

    path = ctx.config.advisories.sources
    return vulndb.load_sources(path) if path is not None else vulndb.DEFAULT_SOURCES


def update(ctx: Context, args: dict[str, Any]) -> None:
    """Fetch, rebuild when anything changed, and queue the re-match of what changed."""
    from hullcheck import vulndb
    from hullcheck.vulndb.delta import diff

    db = ctx.db_path
    db.parent.mkdir(parents=True, exist_ok=True)
    old_store = vulndb.VulnStore.open(db) if db.exists() else None
    try:
        old_build = ctx.build_id() if old_store is not None else ""
        result = vulndb.update(db, sources(ctx), force=bool(args.get("force")))
        if not result.rebuilt and old_store is not None:
            return
        new_build = file_build_id(db)
        db.with_name(BUILD_FILE).write_text(new_build + "\n")
        delta = diff(old_store, db)
    finally:
        if old_store is not None:
            old_store.close()
    plan(ctx, old_build, new_build, delta.scope())


def plan(ctx: Context, old_build: str, new_build: str, scope: Any) -> int:
    """Queue the re-match from ``old_build`` to ``new_build`` for ``scope`` (a delta's);
    the number of images queued."""
    work: dict[str, list[str] | None] = {}
    for digest in ctx.store.images_not_matched(old_build):
        work[digest] = None  # matched against another build: a full re-match
    if not scope.full and old_build:
        from hullcheck.fleet import queries

        with ctx.store.read() as conn:  # (digest, purl) pairs only: no package rows
            named = queries.purls_named(conn, scope.names, build=old_build)
        for cve in sorted(scope.kev):
            for hit in ctx.store.images_with_advisory(cve, limit=10_000_000):
                named.setdefault(hit.digest, set()).update(f.package_purl for f in hit.findings)
        for digest, purls in named.items():
            if digest not in work:
                work[digest] = sorted(purls)
    else:
        with ctx.store.read() as conn:
            work.update(dict.fromkeys(_all_scanned(conn)))
    with ctx.store.write() as conn:
        scans.advance_build(conn, old_build, new_build, awaiting=sorted(work),
                            marker=AWAITING + new_build)
        scans.note_build(conn, new_build, ctx.clock())
        for batch in _batches(sorted(work.items()), BATCH):
            queue.enqueue(ctx, "rematch", {"build": new_build, "images": batch}, conn=conn)
    return len(work)


def _all_scanned(conn: Any) -> Iterator[str]:
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t

    i = t.images.c
    yield from conn.execute(sa.select(i.digest).where(i.status == "scanned")
                            .order_by(i.digest)).scalars()


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield [[d, p] for d, p in items[start:start + size]]


def _images(args: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    images = args.get("images")
    if not isinstance(images, list):
        raise FormatError("rematch job: 'images' must be a list of [digest, purls|null]")
    out = []
    for item in images:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and
                (item[1] is None or (isinstance(item[1], list) and
                                     all(isinstance(p, str) for p in item[1])))):
            raise FormatError("rematch job: 'images' must be a list of [digest, purls|null]")
        out.append((item[0], item[1]))
    return out


def rematch(ctx: Context, args: dict[str, Any]) -> None:
    """Re-match the listed images (only the given purls; null: every package) against the
    database in the data dir, if it is still ``build`` (else the next update covers them)."""
    build = args.get("build")
    if not isinstance(build, str):
        raise FormatError("rematch job: 'build' must be a string")
    if ctx.build_id() != build:
        return  # superseded: a newer update re-plans these images
    images = _images(args)
    with convert.open_vulnstore(ctx.db_path) as store:
        judge = convert.Judge(store, ctx.config.vex, ctx.config.ignore, cache=_cache(build))
        for start in range(0, len(images), PART):
            rematch_images(ctx, judge, images[start:start + PART], build=build)


_CACHE: dict[str, dict[Any, Any]] = {}  # build -> (distro, package) -> findings
_CACHE_LOCK = threading.Lock()


def _cache(build: str) -> dict[Any, Any]:
    """The package findings cache of ``build``, shared by this process's re-match jobs (a
    worker runs hundreds of jobs of one update; their images share most packages)."""
    with _CACHE_LOCK:
        if build not in _CACHE:
            _CACHE.clear()  # an older build's findings are never asked for again
            _CACHE[build] = {}
        return _CACHE[build]


def rematch_images(ctx: Context, judge: convert.Judge,
                   images: list[tuple[str, list[str] | None]], *, build: str) -> None:
    """Re-match ``images`` (digest, purls or None) set-wise, from the store's package rows:
    the rows of every image in one read, grouped by what a package's findings depend on
    (``convert.package_key``); each distinct package matched once (from the SBOM of one
    image holding it: ``Judge.learn``), its rows shared by every image holding it. A full
    re-match (purls None), and images with triage decisions (or a config with VEX documents
    or ignore rules, or a program found by version string), are judged on their own from
    their SBOM, as a scan judges: the full re-match is what a delta is checked against. One write
    transaction for all (``scans.apply_rematches``: statements per batch, not per image)."""
    read = _read(ctx, images)
    today = ctx.clock().date()
    shared: dict[str, list[convert.PackageKey]] = {}
    alone: list[str] = []
    for digest, purls in images:
        if digest not in read.repositories:
            continue  # deleted, or never scanned
        rows = [(r, la) for r, la in read.packages.get(digest, ())
                if purls is None or r.purl in purls]
        if purls is None or read.decisions_of(digest) or judge.marks_config or \
                any(r.type == "generic" for r, _ in rows):  # a full re-match: the oracle
            alone.append(digest)
        else:
            shared[digest] = [convert.package_key(r, la) for r, la in rows]
    _learn(ctx, judge, shared)
    done: dict[str, list[FindingRow]] = {}
    for digest, keys in shared.items():
        found = judge.rows_of(keys)
        if found is None:  # the image holding a package said otherwise: judge this one alone
            alone.append(digest)
        else:
            done[digest] = found
    wanted = dict(images)
    for digest, (encoding, data) in _sboms(ctx, alone).items():
        purls = wanted[digest]
        inv = convert.decode_stored_sbom(encoding, data, name=f"stored SBOM of {digest}",
                                         purls=None if purls is None else set(purls))
        marks = convert.triage_marks(read.decisions_of(digest), digest)
        done[digest] = convert.finding_rows(judge(inv, marks, today=today), inv)
    work = [scans.Rematched(d, done[d], None if p is None else set(p))
            for d, p in images if d in done]
    if work:
        _write(ctx, work, read.repositories, build=build)


def _write(ctx: Context, work: list[scans.Rematched], repositories: dict[str, str], *,
           build: str) -> None:
    from hullcheck.monitor.jobs import _has_deliveries, wake_delivery

    with ctx.store.write() as conn:
        changed = scans.apply_rematches(conn, work, now=ctx.clock(),
                                        route=alerts.router(ctx.config), build=build)
        if _has_deliveries(conn, [e for c in changed for e in c.events]):
            wake_delivery(ctx, conn)
        if ctx.config.policy is not None:  # the policy is judged again
            for changes in changed:
                if changes:
                    queue.enqueue(ctx, "assess", {"digest": changes.digest,
                                                  "repository": repositories[changes.digest]},
                                  conn=conn)


def _learn(ctx: Context, judge: convert.Judge,
           shared: dict[str, list[convert.PackageKey]]) -> None:
    """Match the packages of ``shared`` not matched yet in this build: for each, one image
    holding it (as few images as cover them all, in one read of their SBOMs)."""
    holders: dict[str, set[convert.PackageKey]] = {}
    taken: set[convert.PackageKey] = set()
    for digest, held in shared.items():
        new = {k for k in held if k not in taken and not judge.known(k)}
        if new:
            holders[digest] = new
            taken |= new
    for digest, (encoding, data) in _sboms(ctx, list(holders)).items():
        keys = holders[digest]
        inv = convert.decode_stored_sbom(encoding, data, name=f"stored SBOM of {digest}",
                                         purls={k[2] for k in keys})
        judge.learn(inv, keys)


@dataclass
class _Read:
    repositories: dict[str, str]
    packages: dict[str, list[tuple[PackageRow, tuple[str, str] | None]]]
    decisions: dict[tuple[str, str], list[tuple[int, TriageDecision]]]

    def decisions_of(self, digest: str) -> list[TriageDecision]:
        """The image's own decisions and its repository's, in the read's order (which the
        marks keep)."""
        repository = self.repositories[digest]
        return [d for _, d in sorted(self.decisions.get(("repository", repository), [])
                                     + self.decisions.get(("image", digest), []))]


def _read(ctx: Context, images: list[tuple[str, list[str] | None]]) -> _Read:
    """The repository, the package rows (on the purls asked for, with the layer each sits
    in) and the triage decisions of each scanned image of ``images``: one read
    transaction, a few queries per thousand images."""
    import sqlalchemy as sa

    from hullcheck.fleet import access
    from hullcheck.fleet import schema as t
    from hullcheck.fleet.sql import chunks

    i, p, la = t.images.c, t.packages.c, t.layers.c
    wanted = dict(images)
    out = _Read({}, defaultdict(list), defaultdict(list))
    with ctx.store.read() as conn:
        for batch in chunks(sorted(wanted)):
            out.repositories.update(conn.execute(
                sa.select(i.digest, i.repository)
                .where(i.digest.in_(batch), i.status == "scanned")).all())
            query = (sa.select(p.image_digest, p.purl, p.type, p.ecosystem, p.name, p.version,
                               p.source_name, p.source_version, p.layer, p.visible, la.diff_id,
                               la.created_by)
                     .outerjoin(t.layers, sa.and_(la.image_digest == p.image_digest,
                                                  la.position == p.layer))
                     .where(p.image_digest.in_(batch)).order_by(p.id))
            named = {u for d in batch for u in wanted[d] or ("",)}
            if "" not in named and len(named) <= scans.PURLS_IN:  # what a delta names only
                query = query.where(p.purl.in_(sorted(named)))
            rows = conn.execute(query)
            for r in rows:
                purls = wanted[r.image_digest]
                if purls is not None and r.purl not in purls:
                    continue
                out.packages[r.image_digest].append((PackageRow(
                    purl=r.purl, type=r.type, ecosystem=r.ecosystem, name=r.name,
                    version=r.version, source_name=r.source_name,
                    source_version=r.source_version, layer=r.layer, visible=bool(r.visible)),
                    None if r.diff_id is None else (r.diff_id, r.created_by)))
        found = access.decisions_of(conn, digests=sorted(out.repositories),
                                    repositories=sorted(set(out.repositories.values())))
    for n, d in enumerate(found):
        out.decisions[(d.scope, d.target)].append((n, d))
    return out


def _sboms(ctx: Context, digests: list[str]) -> dict[str, tuple[str, bytes]]:
    """(encoding, SBOM) of each of ``digests`` that has one: one read."""
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t
    from hullcheck.fleet.sql import chunks

    s = t.sboms.c
    out: dict[str, tuple[str, bytes]] = {}
    if not digests:
        return out
    with ctx.store.read() as conn:
        for batch in chunks(sorted(set(digests))):
            out.update((r.image_digest, (r.encoding, r.data)) for r in conn.execute(
                sa.select(s.image_digest, s.encoding, s.data).where(s.image_digest.in_(batch))))
    return out


def require_database(ctx: Context) -> None:
    if not ctx.db_path.exists():
        raise DatabaseError(f"the service has no advisory database yet ({ctx.db_path})",
                            hint="run an advisory update first")
