"""Build a database from sources, atomically.

    result = build(Path("vuln.db"), [Source(name="osv-PyPI", kind=SourceKind.OSV,
                                            locations=("PyPI-all.zip",))])

The new database is written to ``<path>.tmp-<random>`` in the same directory, synced,
and renamed over ``path``; any failure (a hostile archive, an importer crash, a full
disk, Ctrl-C) removes the temporary file and leaves the previous database as it was.
Readers that already have the old file open keep reading it.

Duplicates: an advisory id already stored from an earlier source is skipped (so the
order of sources is the order of preference); within one source the record with the
later ``modified`` wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.vulndb import alpine, amazon, debian, kev, osv
from hullcheck.vulndb.model import Advisory, KevEntry, advisory_to_json, affected_to_json
from hullcheck.vulndb.store import (
    INDEXES,
    SCHEMA,
    SCHEMA_VERSION,
    FetchInfo,
    package_key,
    record_to_json,
    severity_json,
)

MAX_KEPT_ERRORS = 100  # per source, in the result; all are counted


class SourceKind(StrEnum):
    OSV = "osv"  # directory, .zip or tarball of OSV JSON/YAML records
    DEBIAN = "debian"  # Debian security tracker JSON export
    ALPINE = "alpine"  # Alpine secdb JSON/YAML files
    WOLFI = "wolfi"  # Wolfi's secdb (packages.wolfi.dev/os/security.json)
    CHAINGUARD = "chainguard"  # Chainguard's secdb (packages.cgr.dev/chainguard/security.json)
    ALAS = "alas"  # Amazon Linux updateinfo.xml[.gz] (ALAS advisories)
    KEV = "kev"  # CISA KEV catalog JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    name: str  # unique; shown in status, e.g. "osv-PyPI"
    kind: SourceKind
    locations: tuple[str, ...]  # local paths for build(); URLs (or paths) for update()


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceResult:
    name: str
    kind: SourceKind
    records: int  # advisories (or KEV entries) stored
    errors: int  # records rejected
    duplicates: int  # advisories skipped because another record with that id won
    first_errors: tuple[FormatError, ...] = ()  # up to MAX_KEPT_ERRORS


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    path: Path
    advisories: int
    affected: int
    kev: int
    sources: tuple[SourceResult, ...]
    seconds: float

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.sources)


# An importer turns a Source (with local paths) into advisories or KEV entries.
Importer = Callable[[Source, list[FormatError]], Iterable[Advisory | KevEntry]]


def _osv(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    for loc in src.locations:
        yield from osv.read(Path(loc), source=src.name, errors=errors)


def _debian(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    for loc in src.locations:
        yield from debian.read(Path(loc), source=src.name, errors=errors)


def _alpine(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    return alpine.read([Path(p) for p in src.locations], source=src.name, errors=errors)


def _wolfi(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    return alpine.read([Path(p) for p in src.locations], source=src.name, errors=errors,
                       distro="Wolfi")


def _chainguard(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    return alpine.read([Path(p) for p in src.locations], source=src.name, errors=errors,
                       distro="Chainguard")


def _alas(src: Source, errors: list[FormatError]) -> Iterator[Advisory]:
    return amazon.read([Path(p) for p in src.locations], source=src.name, errors=errors)


def _kev(src: Source, errors: list[FormatError]) -> Iterator[KevEntry]:
    for loc in src.locations:
        yield from kev.read(Path(loc), errors=errors)


IMPORTERS: dict[SourceKind, Importer] = {
    SourceKind.OSV: _osv,
    SourceKind.DEBIAN: _debian,
    SourceKind.ALPINE: _alpine,
    SourceKind.WOLFI: _wolfi,
    SourceKind.CHAINGUARD: _chainguard,
    SourceKind.ALAS: _alas,
    SourceKind.KEV: _kev,
}


@dataclass(slots=True)
class _Writer:
    conn: sqlite3.Connection
    seen: dict[str, tuple[int, str, str]] = field(
        default_factory=dict
    )  # id -> rowid, modified, source
    dead: list[int] = field(default_factory=list)
    next_rowid: int = 1
    affected: int = 0
    ecosystems: Counter[str] = field(default_factory=Counter)
    # (ecosystem, package_key) -> [(advisory id, position, rowid, packages.records element)]
    packages: dict[tuple[str, str], list[tuple[str, int, int, str]]] = field(
        default_factory=dict
    )

    def add(self, adv: Advisory) -> bool:
        """Store one advisory; False when it lost to a record with the same id."""
        prior = self.seen.get(adv.id)
        if prior is not None:
            rowid, modified, source = prior
            if source != adv.source or adv.modified <= modified:
                return False
            self.dead.append(rowid)  # same source, newer record: replace
        rowid = self.next_rowid
        self.next_rowid += 1
        self.seen[adv.id] = (rowid, adv.modified, adv.source)
        c = self.conn
        c.execute(
            "INSERT INTO advisories VALUES (?,?,?,?,?,?,?,?,?)",
            (
                rowid,
                adv.id,
                adv.source,
                adv.kind.value,
                adv.modified,
                adv.withdrawn,
                json.dumps(list(adv.aliases)),
                severity_json(adv.severity),
                json.dumps(advisory_to_json(adv, with_affected=False), separators=(",", ":")),
            ),
        )
        c.executemany(
            "INSERT INTO affected VALUES (?,?,?,?,?,?)",
            [
                (
                    rowid,
                    i,
                    a.ecosystem,
                    package_key(a.ecosystem, a.package),
                    a.package,
                    json.dumps(affected_to_json(a), separators=(",", ":")),
                )
                for i, a in enumerate(adv.affected)
            ],
        )
        c.executemany(
            "INSERT INTO aliases VALUES (?,?)",
            [(name, rowid) for name in dict.fromkeys((adv.id, *adv.aliases))],
        )
        severity = adv.severity
        for i, a in enumerate(adv.affected):
            record = record_to_json(advisory=adv, severity=severity, affected=a)
            self.packages.setdefault((a.ecosystem, package_key(a.ecosystem, a.package)), []).append(
                (adv.id, i, rowid, json.dumps(record, separators=(",", ":")))
            )
        self.affected += len(adv.affected)
        self.ecosystems.update(a.ecosystem for a in adv.affected)
        return True

    def finish_packages(self) -> None:
        """Write ``packages`` (each name's records, ordered by advisory id and position) and
        ``package_keys``; records of replaced advisories are left out."""
        dead = set(self.dead)
        keys: dict[str, list[str]] = {}
        rows = []
        for (ecosystem, key), recs in self.packages.items():
            live = sorted(r for r in recs if r[2] not in dead)
            if live:
                rows.append((ecosystem, key, "[" + ",".join(r[3] for r in live) + "]"))
                keys.setdefault(ecosystem, []).append(key)
        self.conn.executemany("INSERT INTO packages VALUES (?,?,?)", rows)
        self.conn.executemany(
            "INSERT INTO package_keys VALUES (?,?)",
            [(ecosystem, json.dumps(sorted(k), separators=(",", ":"))) for ecosystem, k in keys.items()],
        )

    def finish_dead(self) -> None:
        if not self.dead:
            return
        c = self.conn
        c.execute("CREATE TEMP TABLE dead (rowid INTEGER PRIMARY KEY)")
        c.executemany("INSERT INTO dead VALUES (?)", [(r,) for r in self.dead])
        for table in ("affected", "aliases"):
            # Recount the replaced rows' ecosystems before deleting them.
            if table == "affected":
                for (data,) in c.execute(
                    "SELECT ecosystem FROM affected"
                    " WHERE advisory_rowid IN (SELECT rowid FROM dead)"
                ):
                    self.ecosystems[data] -= 1
                    self.affected -= 1
            c.execute(f"DELETE FROM {table} WHERE advisory_rowid IN (SELECT rowid FROM dead)")  # noqa: S608
        c.execute("DELETE FROM advisories WHERE rowid IN (SELECT rowid FROM dead)")




def add_source(conn: sqlite3.Connection, writer: _Writer, src: Source,
               table: Mapping[SourceKind, Importer], *,
               fetched: Sequence[FetchInfo] = ()) -> SourceResult:
    """One source's records into the database being written, and its ``sources`` row;
    FormatError when the source has no usable record at all."""
    errors: list[FormatError] = []
    stored = dups = 0
    for item in table[src.kind](src, errors):
        if isinstance(item, KevEntry):
            conn.execute("INSERT OR REPLACE INTO kev VALUES (?,?,?,?,?,?,?)",
                         (item.cve, item.date_added, item.due_date, item.known_ransomware,
                          item.vendor, item.product, item.name))
            stored += 1
        elif writer.add(item):
            stored += 1
        else:
            dups += 1
    if errors and not stored and not dups:
        raise FormatError(f"source {src.name}: no usable records ({len(errors)} rejected; "
                          f"first: {errors[0]})")
    conn.execute("INSERT INTO sources VALUES (?,?,?,?,?,?,?)",
                 (src.name, src.kind.value, json.dumps(list(src.locations)), stored,
                  len(errors), dups, json.dumps([_fetch_json(f) for f in fetched])))
    return SourceResult(name=src.name, kind=src.kind, records=stored, errors=len(errors),
                        duplicates=dups, first_errors=tuple(errors[:MAX_KEPT_ERRORS]))


class Swap:
    """A database written under a temporary name beside ``path`` (``tmp``, through ``conn``)
    and moved over ``path`` by ``publish``: a reader never sees half of one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(6)}")
        self.conn: sqlite3.Connection | None = None

    def publish(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        _fsync(self.tmp)
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)


@contextlib.contextmanager
def swapped(path: Path) -> Iterator[Swap]:
    """A ``Swap`` for ``path``: errors writing it are one DatabaseError line, and whatever
    happens its connection is closed and the temporary file and journal are removed (``path``
    is left as it was unless ``publish`` ran)."""
    swap = Swap(path)
    try:
        yield swap
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot write the database {swap.tmp}: {exc}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot write the database {swap.tmp}: "
                            f"{exc.strerror or exc}") from None
    finally:
        if swap.conn is not None:
            swap.conn.close()
        for leftover in (swap.tmp, swap.tmp.with_name(swap.tmp.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def build(
    path: Path | str,
    sources: Sequence[Source],
    *,
    fetched: Mapping[str, tuple[FetchInfo, ...]] | None = None,
    importers: Mapping[SourceKind, Importer] | None = None,
) -> BuildResult:
    """Build a database at ``path`` from local sources and swap it in atomically.

    Raises FormatError when a source is unusable as a whole (hostile archive, not the
    expected format, no usable records) and DatabaseError when the file cannot be
    written; in both cases ``path`` is left as it was.
    """
    started = time.perf_counter()
    path = Path(path)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise DatabaseError("source names must be unique", hint="rename the duplicated source")
    table = {**IMPORTERS, **(importers or {})}
    fetched = fetched or {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    with swapped(path) as swap:
        conn = swap.conn = sqlite3.connect(swap.tmp, isolation_level=None)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "temp_store=MEMORY",
            "cache_size=-65536",
            "page_size=8192",
        ):
            conn.execute(f"PRAGMA {pragma}")
        conn.executescript(SCHEMA)
        conn.execute("BEGIN")
        writer = _Writer(conn)
        results: list[SourceResult] = []
        kev_count = 0
        for src in sources:
            result = add_source(conn, writer, src, table, fetched=fetched.get(src.name, ()))
            if src.kind is SourceKind.KEV:
                kev_count += result.records
            results.append(result)
        writer.finish_dead()
        writer.finish_packages()
        kev_count = conn.execute("SELECT count(*) FROM kev").fetchone()[0]
        counts = {
            "advisories": len(writer.seen),
            "affected": writer.affected,
            "kev": kev_count,
            "ecosystems": {k: v for k, v in sorted(writer.ecosystems.items()) if v > 0},
        }
        built_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        conn.executemany(
            "INSERT INTO meta VALUES (?,?)",
            [
                ("schema_version", str(SCHEMA_VERSION)),
                ("built_at", built_at),
                ("counts", json.dumps(counts)),
            ],
        )
        conn.executescript(INDEXES)  # also commits the open transaction
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=DELETE")
        swap.publish()
    return BuildResult(
        path=path,
        advisories=counts["advisories"],
        affected=counts["affected"],
        kev=counts["kev"],
        sources=tuple(results),
        seconds=time.perf_counter() - started,
    )


def _fetch_json(f: FetchInfo) -> dict[str, object]:
    return {
        "url": f.url,
        "etag": f.etag,
        "last_modified": f.last_modified,
        "sha256": f.sha256,
        "size": f.size,
        "fetched_at": f.fetched_at,
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        _fsync(path)
