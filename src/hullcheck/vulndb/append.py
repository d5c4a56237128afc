"""Add sources to a built database without reading its other sources again.

    result = append(Path("vuln.db"), [Source(name="alpine-v3.19", kind=SourceKind.ALPINE,
                                             locations=("main.json",))])

The database is copied (SQLite's backup API: a consistent copy even while others read it)
to ``<path>.tmp-<random>``, the new sources' records are added as ``build`` would add them
after the existing ones (an advisory id already stored wins: earlier sources are
preferred), and the copy is renamed over ``path``. The existing sources' files are never
opened, so they may be gone. Replacing a source (same name) needs ``build``: removing its
records could bring back records of later sources that lost to them.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hullcheck.vulndb.build import (
    IMPORTERS,
    BuildResult,
    Importer,
    Source,
    SourceKind,
    _Writer,
    add_source,
    swapped,
)
from hullcheck.vulndb.store import INDEXES, SCHEMA_VERSION

MAX_KEPT_ERRORS = 100
_INDEX_NAMES = ("advisories_id", "affected_advisory", "aliases_name", "aliases_advisory")


def can_append(path: Path, sources: Sequence[Source]) -> bool:
    """Whether ``sources`` can be added to the database at ``path`` as it is: it exists, has
    this schema, and holds no source of the same names."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            names = {row[0] for row in conn.execute("SELECT name FROM sources")}
    except sqlite3.Error:
        return False
    return (version is not None and version[0] == str(SCHEMA_VERSION)
            and not names & {s.name for s in sources})


def append(path: Path, sources: Sequence[Source], *,
           importers: Mapping[SourceKind, Importer] | None = None) -> BuildResult:
    """Add ``sources`` to the database at ``path`` (see the module docstring); FormatError
    when a source has no usable record, DatabaseError when the file cannot be written; in
    both cases ``path`` is left as it was. ``BuildResult.sources`` lists the added ones."""
    started = time.perf_counter()
    table = {**IMPORTERS, **(importers or {})}
    with swapped(path) as swap:
        conn = swap.conn = _copy(path, swap.tmp)
        writer = _resume(conn)
        results = [add_source(conn, writer, src, table) for src in sources]
        writer.finish_dead()
        _merge_packages(conn, writer)
        counts = _finish(conn, writer)
        swap.publish()
    return BuildResult(path=path, advisories=counts["advisories"], affected=counts["affected"],
                       kev=counts["kev"], sources=tuple(results),
                       seconds=time.perf_counter() - started)


def _copy(path: Path, tmp: Path) -> sqlite3.Connection:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as src:
        conn = sqlite3.connect(tmp, isolation_level=None)
        src.backup(conn)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY",
                   "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    # build() writes the indexes last, over rows a newer record of the same id replaced.
    for name in _INDEX_NAMES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.execute("BEGIN")
    return conn


def _resume(conn: sqlite3.Connection) -> _Writer:
    """A writer that knows every advisory already stored, as if it had written them."""
    writer = _Writer(conn)
    for rowid, aid, modified, source in conn.execute(
            "SELECT rowid, id, modified, source FROM advisories"):
        writer.seen[aid] = (rowid, modified, source)
        writer.next_rowid = max(writer.next_rowid, rowid + 1)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    counts = json.loads(meta.get("counts", "{}"))
    writer.affected = int(counts.get("affected", 0))
    writer.ecosystems = Counter({str(k): int(v) for k, v in counts.get("ecosystems", {}).items()})
    return writer


def _merge_packages(conn: sqlite3.Connection, writer: _Writer) -> None:
    """The new records joined to each package's stored ones (ordered by advisory id, as
    ``build`` orders them), and the new package names to each ecosystem's list."""
    dead = set(writer.dead)
    added: dict[str, set[str]] = {}
    for (ecosystem, key), recs in writer.packages.items():
        live = sorted(r for r in recs if r[2] not in dead)
        if not live:
            continue
        row = conn.execute("SELECT records FROM packages WHERE ecosystem=? AND package_key=?",
                           (ecosystem, key)).fetchone()
        records = [*(json.loads(row[0]) if row else []), *(json.loads(r[3]) for r in live)]
        records.sort(key=lambda rec: str(rec[0]))  # stable: positions keep their order
        conn.execute("INSERT OR REPLACE INTO packages VALUES (?,?,?)",
                     (ecosystem, key, json.dumps(records, separators=(",", ":"))))
        added.setdefault(ecosystem, set()).add(key)
    for ecosystem, keys in added.items():
        row = conn.execute("SELECT keys FROM package_keys WHERE ecosystem=?",
                           (ecosystem,)).fetchone()
        merged = sorted({*(json.loads(row[0]) if row else []), *keys})
        conn.execute("INSERT OR REPLACE INTO package_keys VALUES (?,?)",
                     (ecosystem, json.dumps(merged, separators=(",", ":"))))


def _finish(conn: sqlite3.Connection, writer: _Writer) -> dict[str, int]:
    kev = int(conn.execute("SELECT count(*) FROM kev").fetchone()[0])
    counts = {"advisories": len(writer.seen), "affected": writer.affected, "kev": kev,
              "ecosystems": {k: v for k, v in sorted(writer.ecosystems.items()) if v > 0}}
    built_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)",
                     [("built_at", built_at), ("counts", json.dumps(counts))])
    conn.executescript(INDEXES)  # also commits the open transaction
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=DELETE")
    return {k: v for k, v in counts.items() if isinstance(v, int)}
