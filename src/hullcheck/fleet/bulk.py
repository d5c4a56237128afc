"""Loading many images at once: an inventory imported from elsewhere, a migration, a bench.

``load`` writes images that are not in the store yet with their SBOMs, layers, tags,
owners, packages and findings (state ``open``, history ``new``), as ``record_scan`` would
for a first scan, but set-based: PostgreSQL through ``COPY``, SQLite through one
``executemany`` per table. It writes no events (an import is not news: nothing was found
*now*) and counts the findings in today's trend row.

An image already in the store makes the load fail (its primary key), and the transaction
with it: rescans go through ``record_scan``, which diffs. Tags are recorded as current and
are not moved away from other stored images (an import names each tag once).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hullcheck.errors import DatabaseError
from hullcheck.fleet import schema as t
from hullcheck.fleet import summary
from hullcheck.fleet.model import FindingRow, FindingState, ImageRecord, ImageStatus, PackageRow
from hullcheck.fleet.scans import _bump_statement, note_build
from hullcheck.fleet.sql import name_key, purl_base

HISTORY_REASON = "bulk load"


@dataclass(frozen=True, slots=True)
class Loaded:
    """One image to load: its record, packages and findings (as a first scan found them)."""

    image: ImageRecord
    packages: Sequence[PackageRow]
    findings: Sequence[FindingRow] = field(default=())


@dataclass(slots=True)
class _Rows:
    """The rows of every table, gathered before writing (one batch of images)."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: sa.Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(table.name, []).append(row)


def load(conn: Connection, items: Iterable[Loaded], *, now: dt.datetime, build: str = "") -> int:
    """Write ``items`` (new images) in the caller's transaction; the number of images."""
    batch = list(items)
    if not batch:
        return 0
    rows = _Rows()
    for item in batch:
        _image_rows(rows, item, now, build)
        for p in item.packages:
            rows.add(t.packages, _package_row(item.image.digest, p))
    findings = [(item.image.digest, f) for item in batch
                for f in dict((f.key, f) for f in item.findings).values()]
    ids = _finding_ids(conn, len(findings))
    opened: Counter[str] = Counter()
    new: Counter[str] = Counter()
    for fid, (digest, f) in zip(ids, findings, strict=True):
        _finding_rows(rows, fid, digest, f, now)
        new[f.severity] += 1
        opened[f.severity] += 0 if f.suppressed else 1
    # Parents before children: the foreign keys are checked row by row.
    integrity = conn.dialect.loaded_dbapi.IntegrityError
    for table in (t.images, t.sboms, t.layers, t.tags, t.owners, t.packages, t.findings,
                  t.finding_names, t.finding_history):
        try:
            _write(conn, table, rows.tables.get(table.name, []))
        except integrity as exc:  # the driver's own: written past SQLAlchemy
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(f"bulk load: {table.name}: {first}",
                                hint="bulk_load takes new images only; rescans go "
                                     "through record_scan") from None
    if build:
        note_build(conn, build, now)
    summary.refresh_many(conn, [item.image.digest for item in batch])
    counts = [{"day_": now.date(), "severity_": s, "opened": opened[s], "new_": new[s],
               "fixed_": 0} for s in sorted(new)]
    if counts:
        conn.execute(_bump_statement(conn.dialect.name), counts)
    return len(batch)


def _image_rows(rows: _Rows, item: Loaded, now: dt.datetime, build: str) -> None:
    image, d = item.image, item.image.digest
    rows.add(t.images, {
        "digest": d, "repository": image.repository, "status": ImageStatus.SCANNED.value,
        "error": "", "media_type": image.media_type, "created": image.created,
        "labels": dict(image.labels), "base": image.base, "policy": image.policy,
        "signatures": list(image.signatures), "first_seen": now, "first_scanned": now,
        "last_scanned": now, "matched_build": build})
    if image.sbom:
        rows.add(t.sboms, {"image_digest": d, "encoding": image.sbom_encoding,
                           "data": image.sbom})
    for i, la in enumerate(image.layers):
        rows.add(t.layers, {"image_digest": d, "position": i, "digest": la.digest,
                            "diff_id": la.diff_id, "size": la.size,
                            "created_by": la.created_by})
    for tag in sorted(set(image.tags)):
        rows.add(t.tags, {"repository": image.repository, "tag": tag, "image_digest": d,
                          "first_seen": now, "last_seen": now, "current": True})
    for owner in dict.fromkeys(image.owners):
        rows.add(t.owners, {"image_digest": d, "owner": owner})


def _package_row(digest: str, p: PackageRow) -> dict[str, Any]:
    return {"image_digest": digest, "purl": p.purl, "purl_base": purl_base(p.purl),
            "type": p.type, "ecosystem": p.ecosystem, "name": p.name,
            "name_key": name_key(p.ecosystem, p.name), "version": p.version,
            "source_name": p.source_name, "source_key": name_key(p.ecosystem, p.source_name),
            "source_version": p.source_version, "licence": p.licence, "layer": p.layer,
            "visible": p.visible, "entry_hash": p.entry_hash}


def _finding_rows(rows: _Rows, fid: int, digest: str, f: FindingRow, now: dt.datetime) -> None:
    rows.add(t.findings, {
        "id": fid, "image_digest": digest, "advisory_id": f.advisory_id,
        "package_purl": f.package_purl, "aliases": list(f.aliases), "severity": f.severity,
        "cvss": f.cvss, "kev": f.kev, "fixed_versions": list(f.fixed_versions),
        "status": f.status, "suppressed": f.suppressed, "suppressed_reason": f.suppressed_reason,
        "data": f.data, "state": FindingState.OPEN.value, "first_seen": now, "fixed_at": None,
        "updated_at": now})
    for name in dict.fromkeys(n.upper() for n in (f.advisory_id, *f.aliases)):
        rows.add(t.finding_names, {"finding_id": fid, "name": name})
    rows.add(t.finding_history, {"finding_id": fid, "at": now, "change": "new",
                                 "reason": HISTORY_REASON, "details": {"severity": f.severity}})


def _finding_ids(conn: Connection, n: int) -> list[int]:
    """``n`` finding ids taken now (the names and history rows refer to them)."""
    if n == 0:
        return []
    if conn.dialect.name == "postgresql":
        return list(conn.execute(sa.text(
            "SELECT nextval(pg_get_serial_sequence('findings', 'id')) "
            "FROM generate_series(1, :n)"), {"n": n}).scalars())
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE): nobody else inserts.
    top = conn.execute(sa.select(sa.func.max(t.findings.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


def _write(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Rows as SQLAlchemy would bind them (each column type's own bind processor: aware
    datetimes, JSON, NUL in text), written through the driver: COPY (PostgreSQL) or one
    ``executemany`` (SQLite). The Core ``insert()`` costs more per row than the row."""
    if not rows:
        return
    dialect = conn.dialect
    columns = list(rows[0])
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                  for c in columns]
    values = ([row[c] if p is None or row[c] is None else p(row[c])
               for c, p in zip(columns, processors, strict=True)] for row in rows)
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join("?" * len(columns))  # names: the schema's, never input
            cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',  # noqa: S608
                               list(values))
    finally:
        cursor.close()
