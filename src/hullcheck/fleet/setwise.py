"""A delta re-match diffed and written in SQL: the per-image part done by the database.

The finding rows of each distinct package entry (``packages.entry_hash``) were matched once
for the advisory build and stored (``rematch_entries`` / ``rematch_findings``,
``store_entries``). For a job's images and the purls the delta names in each, one
transaction:

    scope    (image, purl) pairs: a temporary table (COPY in PostgreSQL)
    incoming packages of the scope joined to their entry's findings, one per key (image,
             advisory, purl): the first in the matcher's order, then the package rows'
    diff     incoming LEFT JOIN stored findings: new, reopened (stored fixed), changed (a
             significant field: an event), update (other fields: silent); stored open
             findings on scoped purls not incoming: fixed
    write    findings inserted / updated / fixed, names, events (with each image's context,
             read in bulk), history and deliveries with INSERT ... SELECT; daily counts and
             the images' summaries

The statements do not depend on the number of images (a few per job); only the "changed"
findings (a change list each) pass through Python. ``scans.apply_rematches`` is the same
diff per image in Python, kept for images judged on their own (triage, VEX config, programs
found by version string, rows stored before ``entry_hash``) and for the full re-match.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hullcheck.errors import DatabaseError
from hullcheck.fleet import queries, scans
from hullcheck.fleet import schema as t
from hullcheck.fleet.model import JSON, EventType
from hullcheck.fleet.sql import chunks, upsert

Router = Callable[[str, JSON], Iterable[str]]
SIGNIFICANT = ("severity", "kev", "fixed_versions", "status", "suppressed")
_COLUMNS = ("aliases", "severity", "cvss", "kev", "fixed_versions", "status", "suppressed",
            "suppressed_reason", "data")
_JSON = ("aliases", "fixed_versions", "data")


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One finding of a package entry for ``store_entries``."""

    entry_hash: str
    rank: int
    values: dict[str, Any]  # advisory_id, package_purl and _COLUMNS
    names: Sequence[str]


def store_entries(conn: Connection, build: str, entries: Iterable[str],
                  rows: Iterable[EntryRow]) -> None:
    """Keep the finding rows of ``entries`` (matched against ``build``; an entry may have
    none) for the re-match jobs. Idempotent: two workers storing the same entry store the
    same rows, and the second changes nothing."""
    marks = [{"build": build, "entry_hash": e} for e in sorted(set(entries))]
    for batch in chunks(marks):
        conn.execute(upsert(conn, t.rematch_entries).on_conflict_do_nothing(), batch)
    found = [{"build": build, "entry_hash": r.entry_hash, "rank": r.rank,
              "names": list(r.names), **r.values} for r in rows]
    for batch in chunks(found):
        conn.execute(upsert(conn, t.rematch_findings).on_conflict_do_nothing(), batch)


def forget_entries(conn: Connection, keep: Sequence[str]) -> None:
    """Drop the stored entry matches of every build but ``keep`` (the builds whose jobs may
    still run)."""
    for table in (t.rematch_findings, t.rematch_entries, t.rematch_pending):
        conn.execute(table.delete().where(table.c.build.not_in(list(keep))))


@dataclass(slots=True)
class Written:
    """What a set-wise re-match wrote: the images whose findings changed (with an event),
    the events written, and whether any has a delivery."""

    changed: list[str] = field(default_factory=list)
    events: int = 0
    deliveries: bool = False


def apply(conn: Connection, scopes: Mapping[str, Sequence[str]], *, build: str,
          now: dt.datetime, route: Router | None, reason: str) -> Written:
    """Re-match the purls ``scopes`` names in each stored image from the entry matches of
    ``build``, in the caller's transaction (the images locked and marked matched against
    ``build``, as ``scans.apply_rematches`` does; the plan noted the build)."""
    pg = conn.dialect.name == "postgresql"
    present = scans.lock_images(conn, scopes, build=build, now=now, note=False)
    if not present:
        return Written()
    _memory(conn, pg)
    _scope(conn, {d: scopes[d] for d in present}, pg)
    return _apply(conn, build=build, now=now, route=route, reason=reason, pg=pg)


def plan_named(conn: Connection, keys: Sequence[tuple[str, str]], *, old: str, marker: str,
               build: str) -> list[str]:
    """The scanned images matched against ``old`` holding a package ``keys`` names
    (``queries.named_keys``) await a range re-match: their ``matched_build`` becomes
    ``marker``; each distinct entry of those packages (but programs found by version
    string) is written to ``rematch_pending`` with one image holding it and its purl, for
    the jobs to match (``claim_pending``). The images marked, in digest order.

    PostgreSQL: one pass over the named package rows per 2,000 names: one statement groups
    them by image and by entry at once (GROUPING SETS), marks the images and writes the
    entries. SQLite: the same in three statements."""
    marked: set[str] = set()
    for batch in chunks(list(keys), 2_000):
        if conn.dialect.name == "postgresql":
            marked.update(_plan_pg(conn, batch, old=old, marker=marker, build=build))
        else:
            marked.update(_plan_sqlite(conn, batch, old=old, marker=marker, build=build))
    return sorted(marked)


def _named_rows(batch: Sequence[tuple[str, str]], old: str, marker: str) -> Any:
    """The package rows ``batch`` names in scanned images matched against ``old`` (or
    marked by an earlier batch of names: their other packages count too)."""
    i, p = t.images.c, t.packages.c
    return (sa.select().select_from(t.packages)
            .join(t.images, i.digest == p.image_digest)
            .where(queries.named(batch), i.matched_build.in_([old, marker]),
                   i.status == "scanned"))


def _shared(p: Any) -> Any:
    """A package row whose entry a stored match may serve (``_guard``'s rule)."""
    return sa.and_(p.entry_hash.is_not(None), p.type != "generic")


def _plan_pg(conn: Connection, batch: Sequence[tuple[str, str]], *, old: str, marker: str,
             build: str) -> list[str]:
    i, p, q = t.images.c, t.packages.c, t.rematch_pending
    _memory(conn, True)  # 100,000 images and their entries hashed, not sorted on disk
    grouped = (_named_rows(batch, old, marker)
               .add_columns(p.image_digest, p.entry_hash,
                            sa.func.min(p.id).filter(_shared(p)).label("first"),
                            sa.func.grouping(p.image_digest).label("by_entry"))
               .group_by(sa.func.grouping_sets(sa.tuple_(p.image_digest),
                                               sa.tuple_(p.entry_hash)))
               .cte("named_rows"))
    marking = (t.images.update()
               .where(i.digest == grouped.c.image_digest, grouped.c.by_entry == 0,
                      i.matched_build == old)
               .values(matched_build=marker).returning(i.digest).cte("marked"))
    entries = (sa.select(sa.literal(build), grouped.c.entry_hash, p.image_digest, p.purl)
               .join_from(grouped, t.packages, p.id == grouped.c.first)
               .where(grouped.c.by_entry == 1))
    pending = (postgresql.insert(q).from_select(["build", "entry_hash", "image_digest", "purl"],
                                                entries)
               .on_conflict_do_nothing().cte("pending"))
    return list(conn.execute(sa.select(marking.c.digest).add_cte(pending)).scalars())


def _plan_sqlite(conn: Connection, batch: Sequence[tuple[str, str]], *, old: str,
                 marker: str, build: str) -> list[str]:
    i, p, q = t.images.c, t.packages.c, t.rematch_pending
    holding = _named_rows(batch, old, marker).add_columns(p.image_digest)
    conn.execute(t.images.update().where(i.matched_build == old, i.digest.in_(holding))
                 .values(matched_build=marker))
    first = (_named_rows(batch, marker, marker).add_columns(sa.func.min(p.id))
             .where(_shared(p)).group_by(p.entry_hash))
    conn.execute(sqlite.insert(q).from_select(
        ["build", "entry_hash", "image_digest", "purl"],
        sa.select(sa.literal(build), p.entry_hash, p.image_digest, p.purl)
        .where(p.id.in_(first.scalar_subquery()))).on_conflict_do_nothing())
    return list(conn.execute(sa.select(i.digest).where(i.matched_build == marker)).scalars())


def spans(digests: Sequence[str], size: int) -> list[tuple[str, str]]:
    """(first, last) of consecutive runs of ``size`` of ``digests`` (sorted): the range
    re-match jobs."""
    return [(digests[k], digests[min(k + size, len(digests)) - 1])
            for k in range(0, len(digests), size)]


@dataclass(frozen=True, slots=True)
class Pending:
    """A distinct entry the plan left to match: one image holding it and its purl."""

    entry_hash: str
    image_digest: str
    purl: str


def claim_pending(conn: Connection, build: str, size: int, *, wait: bool) -> list[Pending]:
    """Up to ``size`` entries of ``build`` still to match, locked until the caller's
    transaction ends (which moves them to the stored matches: ``store_entries`` then
    ``done_pending``), by image so a batch shares SBOMs. ``wait`` False: entries another
    worker holds are skipped (PostgreSQL ``SKIP LOCKED``); True: waited for, and those it
    matched meanwhile are gone (a worker that died mid-match left them: claimed here).
    SQLite: the write transaction is the lock."""
    q = t.rematch_pending.c
    rows = conn.execute(sa.select(q.entry_hash, q.image_digest, q.purl)
                        .where(q.build == build).order_by(q.image_digest, q.entry_hash)
                        .limit(size).with_for_update(skip_locked=not wait))
    return [Pending(*r) for r in rows]


def done_pending(conn: Connection, build: str, entries: Sequence[str]) -> None:
    """``entries`` of ``build`` are matched and stored: no longer pending."""
    q = t.rematch_pending.c
    for batch in chunks(sorted(entries)):
        conn.execute(t.rematch_pending.delete().where(q.build == build,
                                                      q.entry_hash.in_(batch)))


def apply_range(conn: Connection, first: str, last: str, keys: Sequence[tuple[str, str]], *,
                marker: str, build: str, now: dt.datetime, route: Router | None,
                reason: str) -> Written:
    """Re-match the images from ``first`` to ``last`` (digests) still awaiting ``marker``,
    on the purls ``keys`` names in them (found here, in SQL), from the entry matches of
    ``build``, in the caller's transaction: as ``apply``, but the scope never leaves the
    database. The images are locked in digest order and marked matched against ``build``."""
    pg = conn.dialect.name == "postgresql"
    i = t.images.c
    present = list(conn.execute(
        sa.select(i.digest).where(i.digest >= first, i.digest <= last,
                                  i.matched_build == marker)
        .order_by(i.digest).with_for_update()).scalars())
    if not present:
        return Written()
    conn.execute(t.images.update().where(i.digest >= first, i.digest <= last,
                                         i.matched_build == marker)
                 .values(matched_build=build))
    # No ``note_build`` here: the plan noted the build; its row, upserted by every job,
    # would be locked until the job commits, and the workers' jobs would run one at a time.
    _memory(conn, pg)
    _scope_named(conn, present, keys, pg)
    return _apply(conn, build=build, now=now, route=route, reason=reason, pg=pg,
                  packaged=True)


WORK_MEM = "64MB"  # a job's sorts and hashes (tens of thousands of rows) stay in memory


def _memory(conn: Connection, pg: bool) -> None:
    """PostgreSQL's memory for this transaction's sorts and hash joins: the default (4MB)
    spills a job's window sort and hashed entry matches to disk."""
    if pg:
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")


def _scope_named(conn: Connection, digests: list[str], keys: Sequence[tuple[str, str]],
                 pg: bool) -> None:
    """rm_images (``digests``), rm_pkg and rm_scope, in one pass over the images' package
    rows: the rows whose purl is, in their image, the purl of a row whose (ecosystem, name)
    or (ecosystem, source name) is in ``keys`` (the scope the per-image oracle decodes),
    and those (image, purl) pairs."""
    _temp(conn, "rm_images", "(digest TEXT PRIMARY KEY)", pg)
    _copy(conn, "rm_images", ("digest",), [(d,) for d in digests], pg)
    _analyze(conn, "rm_images", pg)
    _temp(conn, "rm_names", "(name_key TEXT NOT NULL, ecosystem TEXT NOT NULL, "
                            "PRIMARY KEY (name_key, ecosystem))", pg)
    _copy(conn, "rm_names", ("name_key", "ecosystem"), sorted(set(keys)), pg)
    _analyze(conn, "rm_names", pg)
    # The images' rows once (a CTE used twice), the named ones' (image, purl) pairs found
    # by hash (no sort of every row), then every row on those pairs.
    _temp(conn, "rm_pkg", f"""AS WITH r AS (
          SELECT p.id, p.image_digest, p.purl, p.entry_hash, p.type,
                 CASE WHEN a.name_key IS NULL AND b.name_key IS NULL THEN 0 ELSE 1 END AS hit
          FROM rm_images i CROSS JOIN packages p
          LEFT JOIN rm_names a ON a.name_key = p.name_key AND a.ecosystem = p.ecosystem
          LEFT JOIN rm_names b ON b.name_key = p.source_key AND b.ecosystem = p.ecosystem
          WHERE p.image_digest = i.digest AND {_within(digests)})
        SELECT id, image_digest, purl, entry_hash, type FROM r
        WHERE EXISTS (SELECT 1 FROM r h WHERE h.hit = 1 AND h.image_digest = r.image_digest
                      AND h.purl = r.purl)""", pg)  # noqa: S608
    _analyze(conn, "rm_pkg", pg)
    _temp(conn, "rm_scope", "(image_digest TEXT NOT NULL, purl TEXT NOT NULL, "
                            "PRIMARY KEY (image_digest, purl))", pg)
    conn.exec_driver_sql("INSERT INTO rm_scope (image_digest, purl) "
                         "SELECT DISTINCT image_digest, purl FROM rm_pkg")
    _analyze(conn, "rm_scope", pg)


def _apply(conn: Connection, *, build: str, now: dt.datetime, route: Router | None,
           reason: str, pg: bool, packaged: bool = False) -> Written:
    """The diff and the writes of the images of rm_images on the pairs of rm_scope."""
    out = Written()
    b = _quote(build)
    try:
        if not packaged:
            _packages(conn, pg)
        _guard(conn, build)
        _incoming(conn, b, pg)
        _diff(conn, b, pg)
        _changes(conn, b)
        events = _event_ids(conn, pg)
        _write_findings(conn, b, now, pg)
        digests = list(conn.execute(sa.text(
            "SELECT DISTINCT image_digest FROM rm_diff WHERE kind <> 'update' "
            "ORDER BY image_digest")).scalars())
        if events:
            _context(conn, scans.image_contexts(conn, digests), pg)
            _write_events(conn, b, now, reason, pg)
            out.deliveries = _deliveries(conn, route, now) if route is not None else False
        _count(conn, now)
        scans.summaries_changed(conn, list(conn.execute(sa.text(
            "SELECT DISTINCT image_digest FROM rm_diff ORDER BY image_digest")).scalars()))
        out.changed, out.events = digests, events
    finally:
        if not pg:  # PostgreSQL drops them at commit (ON COMMIT DROP)
            for name in ("rm_scope", "rm_images", "rm_names", "rm_pkg", "rm_new", "rm_diff",
                         "rm_ctx"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
    return out


def _temp(conn: Connection, name: str, body: str, pg: bool) -> None:
    """A temporary table for this transaction; ``body``: its columns or ``AS SELECT``."""
    if pg:
        if body.split(None, 1)[0] == "AS":  # ON COMMIT goes before AS
            conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ON COMMIT DROP {body}")
        else:
            conn.exec_driver_sql(f"CREATE TEMP TABLE {name} {body} ON COMMIT DROP")
    else:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} {body}")


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
          pg: bool) -> None:
    """Rows into a temporary table through the driver: COPY (PostgreSQL) or executemany."""
    if not rows:
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(columns)
    try:
        if pg:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608
                               rows)
    finally:
        cursor.close()


def _analyze(conn: Connection, table: str, pg: bool) -> None:
    if pg:  # temporary tables have no statistics until analysed (autovacuum skips them)
        conn.exec_driver_sql(f"ANALYZE {table}")


def _scope(conn: Connection, scopes: Mapping[str, Sequence[str]], pg: bool) -> None:
    _temp(conn, "rm_scope", "(image_digest TEXT NOT NULL, purl TEXT NOT NULL, "
                            "PRIMARY KEY (image_digest, purl))", pg)
    rows = sorted({(d, p) for d, purls in scopes.items() for p in purls})
    _copy(conn, "rm_scope", ("image_digest", "purl"), rows, pg)
    _analyze(conn, "rm_scope", pg)
    # The images, to read their packages and findings by image first (CROSS JOIN: SQLite
    # keeps that order), each looked up in rm_scope by its key.
    _temp(conn, "rm_images", "(digest TEXT PRIMARY KEY)", pg)
    _copy(conn, "rm_images", ("digest",), [(d,) for d in sorted(scopes)], pg)
    _analyze(conn, "rm_images", pg)


def _within(digests: Sequence[str]) -> str:
    """``p.image_digest`` between the first and the last of ``digests``: PostgreSQL may
    merge-join the images with the packages' digest index, which then starts at the first
    image, not at the index's start (a job late in the fleet read every row before it)."""
    return (f"p.image_digest BETWEEN '{_quote(min(digests))}' "
            f"AND '{_quote(max(digests))}'")


def _packages(conn: Connection, pg: bool) -> None:
    """rm_pkg: the scoped package rows (id, image, purl, entry hash, type)."""
    digests = list(conn.execute(sa.text("SELECT min(digest), max(digest) FROM rm_images")
                                ).one())
    _temp(conn, "rm_pkg", f"""AS SELECT p.id, p.image_digest, p.purl, p.entry_hash, p.type
        FROM {_SCOPED_PACKAGES} WHERE p.image_digest = i.digest
        AND {_within(digests)}""", pg)  # noqa: S608
    _analyze(conn, "rm_pkg", pg)


class Unserved(DatabaseError):
    """A range re-match met scoped packages no stored entry match of its build serves
    (rows without an entry hash, programs found by version string, entries not matched
    yet): nothing was written; the job reads them and judges those images on its own."""


def _guard(conn: Connection, build: str) -> None:
    """Every scoped package has an entry matched for ``build`` (the job checked it before
    its write; a rescan or a newer update may have changed that since: then the job fails
    and its retry judges the images again, or finds itself superseded)."""
    missing = conn.execute(sa.text(
        "SELECT count(*) FROM rm_pkg k LEFT JOIN rematch_entries e "
        "ON e.build = :build AND e.entry_hash = k.entry_hash "
        "WHERE e.entry_hash IS NULL OR k.type = 'generic'"), {"build": build}).scalar_one()
    if missing:
        raise Unserved(f"re-match of build {build}: {missing} package(s) without a shared "
                       "match (rescanned, or a newer advisory update dropped them?)",
                       hint="the job is retried")


# The scoped package rows (with WHERE p.image_digest = i.digest): each image's packages by
# its index, each probed in rm_scope (not each scoped purl scanning its image's packages).
_SCOPED_PACKAGES = ("rm_images i CROSS JOIN packages p JOIN rm_scope s "
                    "ON s.image_digest = p.image_digest AND s.purl = p.purl")


def _incoming(conn: Connection, b: str, pg: bool) -> None:
    """rm_new: the findings each image gets on its scoped purls (keys and the entry they
    come from, not their values): one per key, the first in the matcher's order (rank),
    then the package rows' (as ``scans._image_diff`` keeps it)."""
    _temp(conn, "rm_new", f"""AS SELECT image_digest, advisory_id, package_purl, entry_hash
        FROM (SELECT k.image_digest, m.advisory_id, m.package_purl, m.entry_hash,
                     ROW_NUMBER() OVER (PARTITION BY k.image_digest, m.advisory_id,
                                        m.package_purl ORDER BY m.rank, k.id) AS n
              FROM rm_pkg k JOIN rematch_findings m ON m.build = '{b}'
                                                   AND m.entry_hash = k.entry_hash) x
        WHERE n = 1""", pg)  # noqa: S608
    conn.exec_driver_sql("CREATE INDEX rm_new_key ON rm_new (image_digest, advisory_id, "
                         "package_purl)")
    _analyze(conn, "rm_new", pg)


def _quote(text: str) -> str:
    """A literal inside '...' (a build id: hex; quoted anyway). CREATE TABLE AS takes no
    parameters in PostgreSQL's extended protocol."""
    return text.replace("'", "''")


def _differs(a: str, b: str, pg: bool, *, as_text: bool = False) -> str:
    if as_text:
        a, b = f"CAST({a} AS TEXT)", f"CAST({b} AS TEXT)"
    return f"({a} IS DISTINCT FROM {b})" if pg else f"({a} IS NOT {b})"


def _match(b: str, alias: str = "m", row: str = "d") -> str:
    """Join the entry finding a row of rm_new / rm_diff comes from."""
    return (f"rematch_findings {alias} ON {alias}.build = '{b}' "
            f"AND {alias}.entry_hash = {row}.entry_hash AND {alias}.advisory_id = "
            f"{row}.advisory_id AND {alias}.package_purl = {row}.package_purl")


def _diff(conn: Connection, b: str, pg: bool) -> None:
    """rm_diff: one row per finding to write (keys, its kind, the entry its new values come
    from, what the daily counts need of the old ones); later its event id and change list.
    JSON is compared as text (one serializer writes both sides)."""
    significant = " OR ".join(_differs(f"f.{c}", f"m.{c}", pg, as_text=c in _JSON)
                              for c in SIGNIFICANT)
    other = " OR ".join(_differs(f"f.{c}", f"m.{c}", pg, as_text=c in _JSON)
                        for c in _COLUMNS if c not in SIGNIFICANT)
    renamed = _differs("f.aliases", "m.aliases", pg, as_text=True)
    _temp(conn, "rm_diff", f"""AS
        SELECT n.image_digest, n.advisory_id, n.package_purl, n.entry_hash,
          CASE WHEN f.id IS NULL THEN 'new' WHEN f.state = 'fixed' THEN 'reopened'
               WHEN {significant} THEN 'changed' ELSE 'update' END AS kind,
          f.id AS old_id, f.severity AS old_severity, f.suppressed AS old_suppressed,
          CASE WHEN f.id IS NULL OR {renamed} THEN 1 ELSE 0 END AS renamed,
          m.severity AS severity, m.suppressed AS suppressed, m.severity AS ev_severity,
          CAST(NULL AS TEXT) AS changes, CAST(NULL AS BIGINT) AS event_id,
          CAST(NULL AS BIGINT) AS new_id
        FROM rm_new n JOIN {_match(b, row="n")}
        LEFT JOIN findings f ON f.image_digest = n.image_digest
          AND f.advisory_id = n.advisory_id AND f.package_purl = n.package_purl
        WHERE f.id IS NULL OR f.state = 'fixed' OR {significant} OR {other}
        UNION ALL
        SELECT f.image_digest, f.advisory_id, f.package_purl, NULL, 'fixed', f.id, f.severity,
          f.suppressed, 0, NULL, NULL, f.severity, NULL, NULL, NULL
        FROM rm_scope s JOIN findings f
          ON f.image_digest = s.image_digest AND f.package_purl = s.purl
        WHERE f.state = 'open' AND NOT EXISTS (
          SELECT 1 FROM rm_new n WHERE n.image_digest = f.image_digest
            AND n.advisory_id = f.advisory_id AND n.package_purl = f.package_purl)""", pg)  # noqa: S608
    _analyze(conn, "rm_diff", pg)


def _changes(conn: Connection, b: str) -> None:
    """The change list of each "changed" finding (field, before, after), as the per-image
    diff writes it: few rows, in Python."""
    c = ", ".join(f"CAST(f.{k} AS TEXT) AS old_{k}, CAST(m.{k} AS TEXT) AS new_{k}"
                  if k in _JSON else f"f.{k} AS old_{k}, m.{k} AS new_{k}" for k in SIGNIFICANT)
    rows = conn.execute(sa.text(
        f"SELECT d.old_id, {c} FROM rm_diff d JOIN findings f ON f.id = d.old_id "  # noqa: S608
        f"JOIN {_match(b)} WHERE d.kind = 'changed'")).mappings().all()
    params = []
    for r in rows:
        changes = []
        for k in SIGNIFICANT:
            before, after = r[f"old_{k}"], r[f"new_{k}"]
            if k in _JSON:
                before, after = json.loads(before), json.loads(after)
            elif k in ("kev", "suppressed"):
                before, after = bool(before), bool(after)
            if before != after:
                changes.append({"field": k, "before": before, "after": after})
        params.append({"b_id": r["old_id"], "b_changes": json.dumps(changes)})
    for batch in chunks(params):
        conn.execute(sa.text("UPDATE rm_diff SET changes = :b_changes "
                             "WHERE old_id = :b_id AND kind = 'changed'"), batch)


_EVENTFUL = "kind IN ('new', 'reopened', 'changed', 'fixed')"


def _event_ids(conn: Connection, pg: bool) -> int:
    """Each eventful row's event id, taken now (history rows quote it); how many."""
    if pg:
        return conn.exec_driver_sql(
            "UPDATE rm_diff SET event_id = nextval(pg_get_serial_sequence('events', 'id')) "  # noqa: S608
            f"WHERE {_EVENTFUL}").rowcount
    # SQLite: this transaction holds the write lock; events never reuse an id.
    top = max(conn.execute(sa.select(sa.func.max(t.events.c.id))).scalar() or 0,
              conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                           ).scalar() or 0)
    conn.exec_driver_sql(f"UPDATE rm_diff SET event_id = {int(top)} + rowid WHERE {_EVENTFUL}")  # noqa: S608
    return int(conn.execute(sa.text(f"SELECT count(*) FROM rm_diff WHERE {_EVENTFUL}")  # noqa: S608
                            ).scalar_one())


def _write_findings(conn: Connection, b: str, now: dt.datetime, pg: bool) -> None:
    columns = ", ".join(_COLUMNS)
    values = ", ".join(f"m.{c}" for c in _COLUMNS)
    when = {"now": now}
    _finding_ids(conn, pg)
    conn.execute(_timed(
        f"INSERT INTO findings (id, image_digest, advisory_id, package_purl, {columns}, "  # noqa: S608
        f"state, first_seen, fixed_at, updated_at) SELECT d.new_id, d.image_digest, "
        f"d.advisory_id, d.package_purl, {values}, 'open', :now, NULL, :now FROM rm_diff d "
        f"JOIN {_match(b)} WHERE d.kind = 'new' ORDER BY d.new_id"), when)
    sets = ", ".join(f"{c} = m.{c}" for c in _COLUMNS)
    conn.execute(_timed(
        f"UPDATE findings SET state = 'open', fixed_at = NULL, updated_at = :now, {sets} "  # noqa: S608
        f"FROM rm_diff d JOIN {_match(b)} WHERE findings.id = d.old_id "
        "AND d.kind IN ('reopened', 'changed', 'update')"), when)
    conn.execute(_timed(
        "UPDATE findings SET state = 'fixed', fixed_at = :now, updated_at = :now "
        "WHERE id IN (SELECT old_id FROM rm_diff WHERE kind = 'fixed')"), when)
    conn.exec_driver_sql(
        "DELETE FROM finding_names WHERE finding_id IN (SELECT old_id FROM rm_diff "
        "WHERE renamed = 1 AND old_id IS NOT NULL)")
    expand = ("json_array_elements_text(m.names) AS j(value)" if pg
              else "json_each(m.names) AS j")
    conn.exec_driver_sql(
        "INSERT INTO finding_names (finding_id, name) "  # noqa: S608
        f"SELECT DISTINCT {_FINDING_ID}, j.value FROM rm_diff d JOIN {_match(b)}, {expand} "
        "WHERE d.renamed = 1")


_FINDING_ID = "COALESCE(d.new_id, d.old_id)"  # the finding a row of rm_diff writes


def _finding_ids(conn: Connection, pg: bool) -> None:
    """The ids of the findings to insert, taken now in key order (their names and history
    rows then quote them without looking the findings up again by key)."""
    key = "image_digest, advisory_id, package_purl"
    if pg:
        taken = ("SELECT k.*, nextval(pg_get_serial_sequence('findings', 'id')) AS id "  # noqa: S608
                 f"FROM (SELECT {key} FROM rm_diff WHERE kind = 'new' ORDER BY {key}) k")
    else:  # SQLite: this transaction holds the write lock
        top = max(conn.execute(sa.select(sa.func.max(t.findings.c.id))).scalar() or 0,
                  conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = "
                                       "'findings'")).scalar() or 0)
        taken = (f"SELECT {key}, {int(top)} + ROW_NUMBER() OVER (ORDER BY {key}) AS id "  # noqa: S608
                 "FROM rm_diff WHERE kind = 'new'")
    conn.exec_driver_sql(
        f"UPDATE rm_diff SET new_id = x.id FROM ({taken}) x WHERE rm_diff.kind = 'new' "  # noqa: S608
        "AND rm_diff.image_digest = x.image_digest AND rm_diff.advisory_id = x.advisory_id "
        "AND rm_diff.package_purl = x.package_purl")


def _timed(sql: str) -> Any:
    """``sql`` with ``:now`` bound as the store binds times (aware UTC in, naive UTC text in
    SQLite)."""
    return sa.text(sql).bindparams(sa.bindparam("now", type_=t.Time()))


def _context(conn: Connection, found: dict[str, JSON], pg: bool) -> None:
    _temp(conn, "rm_ctx", f"(image_digest TEXT PRIMARY KEY, context {'json' if pg else 'TEXT'})",
          pg)
    _copy(conn, "rm_ctx", ("image_digest", "context"),
          [(d, json.dumps(c)) for d, c in sorted(found.items())], pg)
    _analyze(conn, "rm_ctx", pg)


_TYPE = (f"CASE d.kind WHEN 'fixed' THEN '{EventType.FIXED_FINDING.value}' "
         f"WHEN 'changed' THEN '{EventType.FINDING_CHANGED.value}' "
         f"ELSE '{EventType.NEW_FINDING.value}' END")


def _write_events(conn: Connection, b: str, now: dt.datetime, reason: str, pg: bool) -> None:
    """The events (payload as the per-image diff builds it, in the same key order) and the
    history rows quoting them."""
    if pg:
        obj, js, true = "json_build_object", "{}", "true"
        uid = "CAST(gen_random_uuid() AS TEXT)"
    else:
        obj, js, true = "json_object", "json({})", "json('true')"
        uid = ("lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
               "substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1)"
               " || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))")
    changes = js.format("d.changes" if not pg else "CAST(d.changes AS json)")
    base = (f"'event', {_TYPE}, 'image', {js.format('c.context')}, "
            f"'finding', {js.format('COALESCE(m.data, f.data)')}, "
            "'occurredAt', CAST(:when AS TEXT)")
    payload = (f"CASE d.kind WHEN 'reopened' THEN {obj}({base}, 'reopened', {true}) "
               f"WHEN 'changed' THEN {obj}({base}, 'changes', {changes}) "
               f"ELSE {obj}({base}) END")
    when = now.isoformat().replace("+00:00", "Z")
    conn.execute(_timed(
        "INSERT INTO events (id, uid, type, image_digest, payload, created_at) "  # noqa: S608
        f"SELECT d.event_id, {uid}, {_TYPE}, d.image_digest, {payload}, :now "
        f"FROM rm_diff d JOIN rm_ctx c ON c.image_digest = d.image_digest "
        f"LEFT JOIN {_match(b)} LEFT JOIN findings f ON f.id = d.old_id "
        f"WHERE d.{_EVENTFUL} ORDER BY d.event_id").bindparams(when=when), {"now": now})
    details = (f"CASE WHEN d.kind = 'changed' THEN {obj}('severity', d.ev_severity, "
               f"'changes', {changes}, 'event', d.event_id) "
               f"ELSE {obj}('severity', d.ev_severity, 'event', d.event_id) END")
    history = ("CASE d.kind WHEN 'new' THEN 'new' WHEN 'reopened' THEN 'reopened' "
               "WHEN 'fixed' THEN 'fixed' ELSE 'changed' END")
    conn.execute(_timed(
        "INSERT INTO finding_history (finding_id, at, change, reason, details) "  # noqa: S608
        f"SELECT {_FINDING_ID}, :now, {history}, :reason, {details} FROM rm_diff d "
        f"WHERE d.{_EVENTFUL} ORDER BY d.event_id"
    ).bindparams(reason=reason), {"now": now})


def _deliveries(conn: Connection, route: Router, now: dt.datetime) -> bool:
    """Deliveries of the events written, for the channels the alert rules choose (the
    rules judge the payload: read back, in Python)."""
    rows: list[dict[str, Any]] = []
    e = t.events.c
    ids = list(conn.execute(sa.text(f"SELECT event_id FROM rm_diff WHERE {_EVENTFUL}"))  # noqa: S608
               .scalars())
    for batch in chunks(sorted(ids)):
        for r in conn.execute(sa.select(e.id, e.type, e.payload).where(e.id.in_(batch))):
            rows.extend({"event_id": r.id, "channel": ch, "status": "pending", "attempts": 0,
                         "next_attempt_at": now, "locked_by": "", "last_error": ""}
                        for ch in dict.fromkeys(route(r.type, r.payload)))
    for batch in chunks(rows):
        conn.execute(t.deliveries.insert(), batch)
    return bool(rows)


def _count(conn: Connection, now: dt.datetime) -> None:
    """Today's new / fixed / open counts by severity, as ``scans._count_daily`` counts."""
    opened: Counter[str] = Counter()
    new: Counter[str] = Counter()
    fixed: Counter[str] = Counter()
    for kind, old_sev, old_sup, sev, sup, n in conn.execute(sa.text(
            "SELECT kind, old_severity, old_suppressed, severity, suppressed, count(*) "
            "FROM rm_diff GROUP BY kind, old_severity, old_suppressed, severity, suppressed")):
        if kind in ("new", "reopened"):
            new[sev] += n
            opened[sev] += 0 if sup else n
        elif kind == "fixed":
            fixed[old_sev] += n
            opened[old_sev] -= 0 if old_sup else n
        else:
            opened[old_sev] -= 0 if old_sup else n
            opened[sev] += 0 if sup else n
    rows = [{"day_": now.date(), "severity_": s, "opened": opened[s], "new_": new[s],
             "fixed_": fixed[s]} for s in sorted(set(opened) | set(new) | set(fixed))
            if opened[s] or new[s] or fixed[s]]
    if rows:
        scans.bump_daily(conn, rows)
