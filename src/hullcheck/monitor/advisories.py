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

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.fleet import scans
from hullcheck.monitor import alerts, convert, queue
from hullcheck.monitor.context import BUILD_FILE, Context, file_build_id

BATCH = 200  # images per rematch job
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
    with convert.open_vulnstore(ctx.db_path) as store:
        for digest, purls in _images(args):
            rematch_image(ctx, store, digest, purls, build=build)


def rematch_image(ctx: Context, store: Any, digest: str, purls: Iterable[str] | None, *,
                  build: str) -> None:
    stored = ctx.store.sbom(digest)
    repository = _repository(ctx, digest)
    if stored is None or repository is None:
        return  # deleted, or never scanned
    wanted = None if purls is None else set(purls)
    inv = convert.decode_stored_sbom(*stored, name=f"stored SBOM of {digest}", purls=wanted)
    decisions = ctx.store.decisions(digest=digest, repository=repository)
    marks = convert.load_marks(ctx.config.vex, ctx.config.ignore, decisions, digest)
    found = convert.judge(inv, store, marks, today=ctx.clock().date())
    rows = convert.finding_rows(found, inv)
    from hullcheck.monitor.jobs import _has_deliveries, wake_delivery

    with ctx.store.write() as conn:
        changes = scans.apply_rematch(conn, digest, rows, purls=wanted, now=ctx.clock(),
                                      route=alerts.router(ctx.config), build=build)
        if _has_deliveries(conn, changes.events):
            wake_delivery(ctx, conn)
        if changes and ctx.config.policy is not None:  # the policy is judged again
            queue.enqueue(ctx, "assess", {"digest": digest, "repository": repository},
                          conn=conn)


def _repository(ctx: Context, digest: str) -> str | None:
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t

    with ctx.store.read() as conn:
        return conn.execute(sa.select(t.images.c.repository)
                            .where(t.images.c.digest == digest)).scalar()


def require_database(ctx: Context) -> None:
    if not ctx.db_path.exists():
        raise DatabaseError(f"the service has no advisory database yet ({ctx.db_path})",
                            hint="run an advisory update first")
