"""Advisory updates and re-matching: fetch and rebuild the database in the data dir, diff it
against the build it replaced (``vulndb.delta``), and re-match only what the delta names.

    update   vulndb.update → build id → delta(old, new) → which stored packages it names
             (by (ecosystem, name) and source name) and which findings a KEV change touches
             → ``rematch`` jobs, 200 images each, queued in the transaction that moves every
             other image to the new build
    rematch  per image: its stored SBOM → the named packages matched again through the same
             matcher and marks as ``scan`` (``convert.judge``) → ``fleet.apply_rematch`` with
             those purls (findings of other packages untouched) → events, deliveries

Images last matched against another build than the one the delta starts from (an update
they missed, a re-match that failed) get a full re-match instead, so every image ends on the
new build with the findings a fresh scan would give.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.fleet import scans
from hullcheck.fleet.model import TriageDecision
from hullcheck.monitor import alerts, convert, queue
from hullcheck.monitor.context import BUILD_FILE, Context, file_build_id

BATCH = 200  # images per rematch job
PART = 200  # images a rematch job reads, matches and writes at once
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
        named: dict[str, set[str]] = defaultdict(set)
        for found in ctx.store.packages_named(scope.names):
            if found.matched_build == old_build:
                named[found.digest].update(p.purl for p in found.packages)
        for cve in sorted(scope.kev):
            for hit in ctx.store.images_with_advisory(cve, limit=10_000_000):
                named[hit.digest].update(f.package_purl for f in hit.findings)
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
    """Re-match ``images`` (digest, purls or None) set-wise: their SBOMs and triage
    decisions in one read; each distinct package matched once (``Judge.rows``), its rows
    shared by every image that holds it; only images with triage decisions (or a config
    with VEX documents or ignore rules) judged on their own; one write transaction for all
    (``scans.apply_rematches``: statements per batch, not per image)."""
    stored, decisions = _stored(ctx, [d for d, _ in images])
    today = ctx.clock().date()
    about: dict[tuple[str, str], list[tuple[int, TriageDecision]]] = defaultdict(list)
    for n, d in enumerate(decisions):  # in the read's order, which marks keep
        about[(d.scope, d.target)].append((n, d))
    done: list[scans.Rematched] = []
    repositories: dict[str, str] = {}
    for digest, purls in images:
        if digest not in stored:
            continue  # deleted, or never scanned
        repository, encoding, data = stored[digest]
        wanted = None if purls is None else set(purls)
        name = f"stored SBOM of {digest}"
        mine = [d for _, d in sorted(about.get(("repository", repository), [])
                                     + about.get(("image", digest), []))]
        rows = None if mine or judge.marks_config else \
            judge.rows(encoding, data, name=name, purls=wanted)
        if rows is None:  # marked on its own: VEX, waivers, the config's statements
            inv = convert.decode_stored_sbom(encoding, data, name=name, purls=wanted)
            found = judge(inv, convert.triage_marks(mine, digest), today=today)
            rows = convert.finding_rows(found, inv)
        done.append(scans.Rematched(digest, rows, wanted))
        repositories[digest] = repository
    if not done:
        return
    from hullcheck.monitor.jobs import _has_deliveries, wake_delivery

    with ctx.store.write() as conn:
        changed = scans.apply_rematches(conn, done, now=ctx.clock(),
                                        route=alerts.router(ctx.config), build=build)
        if _has_deliveries(conn, [e for c in changed for e in c.events]):
            wake_delivery(ctx, conn)
        if ctx.config.policy is not None:  # the policy is judged again
            for changes in changed:
                if changes:
                    queue.enqueue(ctx, "assess", {"digest": changes.digest,
                                                  "repository": repositories[changes.digest]},
                                  conn=conn)


def _stored(ctx: Context, digests: list[str]) -> tuple[dict[str, tuple[str, str, bytes]],
                                                        list[TriageDecision]]:
    """(repository, SBOM encoding, SBOM) of each scanned image of ``digests``, and every
    triage decision about them or their repositories: one read transaction."""
    import sqlalchemy as sa

    from hullcheck.fleet import access
    from hullcheck.fleet import schema as t

    i, s = t.images.c, t.sboms.c
    with ctx.store.read() as conn:
        rows = {r.digest: (r.repository, r.encoding, r.data) for r in conn.execute(
            sa.select(i.digest, i.repository, s.encoding, s.data)
            .join(t.sboms, s.image_digest == i.digest).where(i.digest.in_(digests)))}
        decisions = access.decisions_of(conn, digests=sorted(rows),
                                        repositories=sorted({r[0] for r in rows.values()}))
    return rows, list(decisions)


def require_database(ctx: Context) -> None:
    if not ctx.db_path.exists():
        raise DatabaseError(f"the service has no advisory database yet ({ctx.db_path})",
                            hint="run an advisory update first")
