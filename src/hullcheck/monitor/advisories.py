"""Advisory updates and re-matching: fetch and rebuild the database in the data dir, diff it
against the build it replaced (``vulndb.delta``), and re-match only what the delta names.

    update   vulndb.update → build id → delta(old, new) → in one pass over the package
             rows it names (by (ecosystem, name) and source name), the images holding them
             marked and their distinct entry hashes left pending (``setwise.plan_named``);
             the images a KEV change or an alias advisory touches listed → ``rematch``
             jobs, 1,000 images each (a range of digests, or a list), queued in the
             transaction that moves every other image to the new build
    rematch  first the pending entries, claimed in batches by every worker's jobs,
             matched once and stored (``match_pending``); then set-wise
             (``rematch_range`` / ``rematch_images``): the database joins the images'
             scoped package rows to their entries' stored findings and diffs them with the
             stored ones (``fleet.setwise``); images with triage decisions (and the full
             re-match) are judged on their own from their SBOM
             (``fleet.apply_rematches``) → events, deliveries

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
from hullcheck.fleet import queries, scans, setwise
from hullcheck.fleet.model import AWAITING, DELTA, FindingRow, TriageDecision
from hullcheck.monitor import alerts, convert, queue
from hullcheck.monitor.context import BUILD_FILE, Context, file_build_id

BATCH = 1_000  # images per rematch job
PART = 1_000  # images a rematch job reads, matches and writes at once (one transaction)


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
    the number of images queued.

    A delta's images are found and marked in the database, and the distinct entries their
    named packages hold written for the jobs to match, in one pass over the named package
    rows (``setwise.plan_named``: their ``matched_build`` becomes ``DELTA`` + the new
    build); each job carries the delta's names and a range of digests: it finds its images
    and purls in SQL, after helping match the entries (``match_pending``). Images that
    missed an update (a full re-match), a full scope, and images a KEV change touches or
    whose findings an alias advisory of the delta may rate (``queries.rated_by_alias``) get
    jobs listing them (and their purls)."""
    listed: dict[str, list[str] | None] = {}
    for digest in ctx.store.images_not_matched(old_build):
        listed[digest] = None  # matched against another build: a full re-match
    keys: list[tuple[str, str]] = []
    with ctx.store.read() as conn:
        if scope.full or not old_build:
            listed.update(dict.fromkeys(_all_scanned(conn)))
        else:
            keys = queries.named_keys(scope.names)
            for digest, purls in _touched(ctx, conn, scope, keys).items():
                listed.setdefault(digest, sorted(purls))
    marker = DELTA + new_build
    with ctx.store.write() as conn:
        setwise.forget_entries(conn, (old_build, new_build))  # older jobs are superseded
        marked = setwise.plan_named(conn, keys, old=old_build, marker=marker,
                                    build=new_build) if keys else []
        scans.advance_build(conn, old_build, new_build, awaiting=sorted(listed),
                            marker=AWAITING + new_build)  # a listed image is not ranged
        scans.note_build(conn, new_build, ctx.clock())
        ranged = [d for d in marked if d not in listed]
        names = [list(k) for k in keys]
        for first, last in setwise.spans(ranged, BATCH):
            queue.enqueue(ctx, "rematch", {"build": new_build, "names": names,
                                           "range": [first, last]}, conn=conn)
        for batch in _batches(sorted(listed.items()), BATCH):
            queue.enqueue(ctx, "rematch", {"build": new_build, "images": batch}, conn=conn)
    return len(listed) + len(ranged)


def _touched(ctx: Context, conn: Any, scope: Any, keys: list[tuple[str, str]],
             ) -> dict[str, set[str]]:
    """{digest: purls} of the images a KEV change touches (the purls of its findings) or
    whose findings an alias advisory of the delta may rate, on packages the delta does not
    name (those are re-matched, and so re-rated, by the range jobs), each with the purls the
    delta names in it: they are listed, not ranged."""
    touched: dict[str, set[str]] = defaultdict(set)
    for cve in sorted(scope.kev):
        for hit in ctx.store.images_with_advisory(cve, limit=10_000_000):
            touched[hit.digest].update(f.package_purl for f in hit.findings)
    rated = queries.rated_by_alias(conn, sorted(scope.rated))
    named = queries.purls_of(conn, keys, sorted(set(rated) | set(touched))) if keys else {}
    for digest, purls in rated.items():
        if extra := purls - named.get(digest, set()):
            touched[digest] |= extra
    for digest in touched:
        touched[digest] |= named.get(digest, set())
    return touched


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


def _range(args: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
    span, names = args.get("range"), args.get("names")
    if not (isinstance(span, list) and len(span) == 2 and
            all(isinstance(d, str) for d in span)):
        raise FormatError("rematch job: 'range' must be [first digest, last digest]")
    if not (isinstance(names, list) and all(
            isinstance(n, list) and len(n) == 2 and all(isinstance(x, str) for x in n)
            for n in names)):
        raise FormatError("rematch job: 'names' must be a list of [name key, ecosystem]")
    return span[0], span[1], [(k, e) for k, e in names]


def rematch(ctx: Context, args: dict[str, Any]) -> None:
    """Re-match the listed images (only the given purls; null: every package) against the
    database in the data dir, if it is still ``build`` (else the next update covers them)."""
    build = args.get("build")
    if not isinstance(build, str):
        raise FormatError("rematch job: 'build' must be a string")
    if ctx.build_id() != build:
        return  # superseded: a newer update re-plans these images
    if "range" in args:
        first, last, keys = _range(args)
        with convert.open_vulnstore(ctx.db_path) as store:
            judge = convert.Judge(store, ctx.config.vex, ctx.config.ignore, cache=_cache(build))
            match_pending(ctx, judge, build)
            rematch_range(ctx, judge, first, last, keys, build=build)
        return
    images = _images(args)
    with convert.open_vulnstore(ctx.db_path) as store:
        judge = convert.Judge(store, ctx.config.vex, ctx.config.ignore, cache=_cache(build))
        match_pending(ctx, judge, build)
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
    """Re-match ``images`` (digest, purls or None) set-wise: the finding rows of each
    distinct package entry (``packages.entry_hash``) were matched once for ``build`` (by the
    plan, or here for an entry not matched yet: ``match_entries``), and the database joins
    them to the images' scoped packages and diffs them with the stored findings
    (``fleet.setwise``). A full re-match (purls None), and images with triage decisions (or
    a config with VEX documents or ignore rules, a program found by version string, a row
    stored before entry hashes), are judged on their own from their SBOM, as a scan judges:
    the full re-match is what a delta is checked against. One write transaction for all."""
    read = _read(ctx, images, build)
    if read.missing:
        match_entries(ctx, judge, build, read.missing)
        read = _read(ctx, images, build)  # what still lacks a match goes alone
    today = ctx.clock().date()
    shared: dict[str, list[str]] = {}
    alone: list[str] = []
    for digest, purls in images:
        if digest not in read.repositories:
            continue  # deleted, or never scanned
        if purls is None or read.decisions_of(digest) or judge.marks_config or \
                digest in read.unshared or digest in read.lacking:  # as the oracle
            alone.append(digest)
        else:
            shared[digest] = purls
    done: dict[str, list[FindingRow]] = {}
    wanted = dict(images)
    for digest, (encoding, data) in _sboms(ctx, alone).items():
        purls = wanted[digest]
        inv = convert.decode_stored_sbom(encoding, data, name=f"stored SBOM of {digest}",
                                         purls=None if purls is None else set(purls))
        marks = convert.triage_marks(read.decisions_of(digest), digest)
        done[digest] = convert.finding_rows(judge(inv, marks, today=today), inv)
    work = [scans.Rematched(d, done[d], None if p is None else set(p))
            for d, p in images if d in done]
    if work or shared:
        _write(ctx, work, shared, read.repositories, build=build)


Span = tuple[str, str, list[tuple[str, str]], str]  # first, last, names, marker


def rematch_range(ctx: Context, judge: convert.Judge, first: str, last: str,
                  keys: list[tuple[str, str]], *, build: str) -> None:
    """Re-match the images from ``first`` to ``last`` the plan marked (``DELTA`` + build)
    on the purls ``keys`` (name key, ecosystem) names in them, found in SQL: as
    ``rematch_images``, the images needing their own judgement (triage decisions, a config
    with VEX documents or ignore rules, a package no stored match serves) judged from their
    SBOM, every other one diffed set-wise in one transaction (``setwise.apply_range``)."""
    marker = DELTA + build
    span = (first, last, keys, marker)
    # The common case first: every scoped package is served by a stored match (the plan
    # matched them all), which the write checks; else nothing is written and the packages
    # are read (a few rows) to match or judge alone what they need.
    read = _read_range(ctx, first, last, keys, build=build, marker=marker, packages=False)
    try:
        _range_write(ctx, judge, read, keys, build=build, span=span)
        return
    except setwise.Unserved:
        pass
    read = _read_range(ctx, first, last, keys, build=build, marker=marker)
    if read.missing:
        match_entries(ctx, judge, build, read.missing)
        read = _read_range(ctx, first, last, keys, build=build, marker=marker)
    _range_write(ctx, judge, read, keys, build=build, span=span)


def _range_write(ctx: Context, judge: convert.Judge, read: _Read, keys: list[tuple[str, str]],
                 *, build: str, span: Span) -> None:
    """The images of ``read`` needing their own judgement judged from their SBOM, and the
    range written set-wise, in one transaction."""
    alone = sorted(d for d in read.repositories if read.decisions_of(d) or judge.marks_config
                   or d in read.unshared or d in read.lacking)
    work: list[scans.Rematched] = []
    if alone:
        with ctx.store.read() as conn:
            scoped = queries.purls_of(conn, keys, alone)
        today = ctx.clock().date()
        for digest, (encoding, data) in _sboms(ctx, alone).items():
            purls = scoped.get(digest, set())
            inv = convert.decode_stored_sbom(encoding, data, name=f"stored SBOM of {digest}",
                                             purls=purls)
            marks = convert.triage_marks(read.decisions_of(digest), digest)
            work.append(scans.Rematched(digest, convert.finding_rows(
                judge(inv, marks, today=today), inv), purls))
    _write(ctx, work, {}, read.repositories, build=build, span=span)


def _read_range(ctx: Context, first: str, last: str, keys: list[tuple[str, str]], *,
                build: str, marker: str, packages: bool = True) -> _Read:
    """``_read`` of the images in a range awaiting ``marker``, their scope found by name:
    the repositories, triage decisions and the scoped package rows no stored match of
    ``build`` serves (a few rows), in one read transaction."""
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t
    from hullcheck.fleet.sql import chunks

    i, p, e = t.images.c, t.packages.c, t.rematch_entries.c
    out = _Read({}, defaultdict(list), set(), {}, set())
    waiting = sa.and_(i.digest >= first, i.digest <= last, i.matched_build == marker,
                      i.status == "scanned")
    with ctx.store.read() as conn:
        out.repositories.update(conn.execute(sa.select(i.digest, i.repository)
                                             .where(waiting)).all())
        for names in chunks(keys if packages else [], 2_000):
            for r in conn.execute(
                    sa.select(p.image_digest, p.purl, p.type, p.entry_hash)
                    .join(t.images, i.digest == p.image_digest)
                    .outerjoin(t.rematch_entries, sa.and_(e.build == build,
                                                          e.entry_hash == p.entry_hash))
                    .where(waiting, queries.named(names),
                           sa.or_(p.entry_hash.is_(None), p.type == "generic",
                                  e.entry_hash.is_(None)))):
                out.note(r)
        out.decide(conn)
    return out


def _write(ctx: Context, work: list[scans.Rematched], shared: dict[str, list[str]],
           repositories: dict[str, str], *, build: str, span: Span | None = None) -> None:
    from hullcheck.monitor.jobs import _has_deliveries, wake_delivery

    route = alerts.router(ctx.config) if ctx.config.alerts else None  # no rule: no channel
    with ctx.store.write() as conn:
        now = ctx.clock()
        # The plan noted the build: its row, upserted here, would stay locked until this
        # job commits and make the workers' jobs run one at a time.
        changed = scans.apply_rematches(conn, work, now=now, route=route, build=build,
                                        note=False) if work else []
        reason = f"advisory update {build}"
        if span is None:
            written = setwise.apply(conn, shared, build=build, now=now, route=route,
                                    reason=reason)
        else:
            first, last, keys, marker = span
            written = setwise.apply_range(conn, first, last, keys, marker=marker, build=build,
                                          now=now, route=route, reason=reason)
        if written.deliveries or _has_deliveries(conn, [e for c in changed for e in c.events]):
            wake_delivery(ctx, conn)
        if ctx.config.policy is not None:  # the policy is judged again
            for digest in [c.digest for c in changed if c] + written.changed:
                queue.enqueue(ctx, "assess", {"digest": digest,
                                              "repository": repositories[digest]}, conn=conn)


CLAIM = 200  # distinct entries a job claims, matches and stores at once (one transaction)


def match_pending(ctx: Context, judge: convert.Judge, build: str) -> int:
    """Match the entries the plan left pending for ``build`` (``setwise.plan_named``),
    ``CLAIM`` at a time, each batch claimed, matched, stored and released in one write
    transaction: every worker's first jobs share the matching (PostgreSQL: a batch another
    worker holds is skipped), then wait for the batches others hold, so no job writes
    before every entry is matched. A worker dying mid-batch rolls its claim back: the batch
    is pending again and the next claim takes it. The number of entries matched here."""
    matched = 0
    for wait in (False, True):
        while True:
            with ctx.store.write() as conn:
                claimed = setwise.claim_pending(conn, build, CLAIM, wait=wait)
                if not claimed:
                    break
                entries = {c.entry_hash: (c.image_digest, c.purl) for c in claimed}
                matched += match_entries(ctx, judge, build, entries, conn=conn)
                setwise.done_pending(conn, build, list(entries))
    return matched


def match_entries(ctx: Context, judge: convert.Judge, build: str,
                  entries: dict[str, tuple[str, str]], *, conn: Any = None) -> int:
    """Match each package entry of ``entries`` (entry hash -> (an image holding it, its
    purl)) against ``build`` once, from the SBOMs of the images holding them (one read,
    only those packages decoded), and store the rows for every worker's jobs
    (``fleet.setwise.store_entries``; in ``conn``'s transaction when given). The number of
    entries matched."""
    holders: dict[str, set[str]] = defaultdict(set)
    purls: dict[str, set[str]] = defaultdict(set)
    for entry, (digest, purl) in entries.items():
        holders[digest].add(entry)
        purls[digest].add(purl)
    matched: dict[str, list[convert.EntryFinding]] = {}
    for digest, (encoding, data) in _sboms(ctx, list(holders), conn=conn).items():
        inv = convert.decode_stored_sbom(encoding, data, name=f"stored SBOM of {digest}",
                                         purls=purls[digest])
        matched.update(judge.learn(inv, holders[digest]))
    rows = [setwise.EntryRow(entry_hash=entry, rank=f.rank, names=f.names, values={
        "advisory_id": f.row.advisory_id, "package_purl": f.row.package_purl,
        "aliases": list(f.row.aliases), "severity": f.row.severity, "cvss": f.row.cvss,
        "kev": f.row.kev, "fixed_versions": list(f.row.fixed_versions),
        "status": f.row.status, "suppressed": f.row.suppressed,
        "suppressed_reason": f.row.suppressed_reason, "data": f.row.data})
        for entry, found in matched.items() for f in found]
    if conn is None:
        with ctx.store.write() as own:
            setwise.store_entries(own, build, matched, rows)
    else:
        setwise.store_entries(conn, build, matched, rows)
    return len(matched)


@dataclass
class _Read:
    repositories: dict[str, str]
    decisions: dict[tuple[str, str], list[tuple[int, TriageDecision]]]
    unshared: set[str]  # images with a scoped package no shared match can serve
    missing: dict[str, tuple[str, str]]  # entry hash not matched yet -> (an image, its purl)
    lacking: set[str]  # images holding one of those

    def note(self, row: Any) -> None:
        """A scoped package row (image_digest, purl, entry_hash, type) no stored entry match
        serves: an image judged alone, or an entry to match first."""
        if row.entry_hash is None or row.type == "generic":
            self.unshared.add(row.image_digest)
        else:
            self.missing.setdefault(row.entry_hash, (row.image_digest, row.purl))
            self.lacking.add(row.image_digest)

    def decide(self, conn: Any) -> None:
        """The triage decisions of the images read and their repositories, in read order."""
        from hullcheck.fleet import access

        found = access.decisions_of(conn, digests=sorted(self.repositories),
                                    repositories=sorted(set(self.repositories.values())))
        for n, d in enumerate(found):
            self.decisions[(d.scope, d.target)].append((n, d))

    def decisions_of(self, digest: str) -> list[TriageDecision]:
        """The image's own decisions and its repository's, in the read's order (which the
        marks keep)."""
        repository = self.repositories[digest]
        return [d for _, d in sorted(self.decisions.get(("repository", repository), [])
                                     + self.decisions.get(("image", digest), []))]


def _read(ctx: Context, images: list[tuple[str, list[str] | None]], build: str) -> _Read:
    """The repository and the triage decisions of each scanned image of ``images``, and its
    scoped packages no stored entry match of ``build`` serves (no entry hash, a program found
    by version string, an entry not matched yet): one read transaction, a few queries per
    thousand images, returning only those packages."""
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t
    from hullcheck.fleet.sql import chunks

    i, p, e = t.images.c, t.packages.c, t.rematch_entries.c
    wanted = dict(images)
    out = _Read({}, defaultdict(list), set(), {}, set())
    with ctx.store.read() as conn:
        for batch in chunks(sorted(wanted)):
            out.repositories.update(conn.execute(
                sa.select(i.digest, i.repository)
                .where(i.digest.in_(batch), i.status == "scanned")).all())
            query = (sa.select(p.image_digest, p.purl, p.type, p.entry_hash,
                               e.entry_hash.label("known"))
                     .outerjoin(t.rematch_entries, sa.and_(e.build == build,
                                                           e.entry_hash == p.entry_hash))
                     .where(p.image_digest.in_(batch),
                            sa.or_(p.entry_hash.is_(None), p.type == "generic",
                                   e.entry_hash.is_(None))))
            named = {u for d in batch for u in wanted[d] or ("",)}
            if "" not in named and len(named) <= scans.PURLS_IN:  # what a delta names only
                query = query.where(p.purl.in_(sorted(named)))
            for r in conn.execute(query):
                purls = wanted[r.image_digest]
                if purls is None or r.purl not in purls:
                    continue
                out.note(r)
        out.decide(conn)
    return out


def _sboms(ctx: Context, digests: list[str], *, conn: Any = None,
           ) -> dict[str, tuple[str, bytes]]:
    """(encoding, SBOM) of each of ``digests`` that has one: one read (in ``conn``'s
    transaction when given)."""
    import sqlalchemy as sa

    from hullcheck.fleet import schema as t
    from hullcheck.fleet.sql import chunks

    if not digests:
        return {}
    if conn is None:
        with ctx.store.read() as own:
            return _sboms(ctx, digests, conn=own)
    s = t.sboms.c
    out: dict[str, tuple[str, bytes]] = {}
    for batch in chunks(sorted(set(digests))):
        out.update((r.image_digest, (r.encoding, r.data)) for r in conn.execute(
            sa.select(s.image_digest, s.encoding, s.data).where(s.image_digest.in_(batch))))
    return out


def require_database(ctx: Context) -> None:
    if not ctx.db_path.exists():
        raise DatabaseError(f"the service has no advisory database yet ({ctx.db_path})",
                            hint="run an advisory update first")
