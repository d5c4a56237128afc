"""The advisory database: one SQLite file, written once by ``build`` and then only read.

Schema (``SCHEMA_VERSION``)::

    meta(key PRIMARY KEY, value)         schema_version, built_at, counts (JSON)
    sources(name PRIMARY KEY, kind, locations, records, errors, duplicates,
            fetched (JSON: [{url, etag, last_modified, sha256, size, fetched_at}]))
    advisories(rowid, id UNIQUE, source, kind, modified, withdrawn,
               aliases JSON, severity JSON, payload JSON)   -- payload without affected
    affected(advisory_rowid, position, ecosystem, package_key, package, data JSON)
        INDEX (advisory_rowid)                                -- ``advisory()`` only
    packages(ecosystem, package_key, records JSON, PRIMARY KEY (ecosystem, package_key))
        WITHOUT ROWID                                         -- the matcher's only query
    package_keys(ecosystem PRIMARY KEY, keys JSON)            -- the ecosystem's package_keys
    aliases(name, advisory_rowid)  INDEX (name)               -- includes each advisory's own id
    kev(cve PRIMARY KEY, date_added, due_date, ransomware, vendor, product, name)

``packages`` is what a lookup reads: one row per (ecosystem, package_key) holding every
advisory's statement about that package, already joined with the advisory's hot fields
and ordered by advisory id, as one compact JSON array of positional records
(``record_to_json``)::

    [id, kind, aliases, [rating, score, source, vector], withdrawn, source,
     package, purl, ranges, versions, all_versions, status, urgency]
    ranges: [[type, repo, event kind, event value, event kind, event value, ...], ...]
    versions: one string, the versions joined by newlines (a list if one holds a newline)

So a lookup is one primary-key read and one ``json.loads``, whatever the number of
records. ``package_keys`` lets a store answer "no advisories" for a name with a set lookup
(most packages of an image have none) after reading one row per ecosystem.

The file is never modified in place: ``build`` writes a new file and renames it over
the old one. So readers open it ``immutable`` (no locks, no -wal/-shm files that a
swap could confuse) and keep reading the old inode while a new database lands.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from hullcheck.errors import DatabaseError
from hullcheck.vulndb.model import (
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    KevEntry,
    Kind,
    Range,
    RangeType,
    advisory_from_json,
    affected_from_json,
)
from hullcheck.vulndb.severity import Rating, Score

SCHEMA_VERSION = 2  # 2: packages and package_keys tables

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, locations TEXT NOT NULL,
    records INTEGER NOT NULL, errors INTEGER NOT NULL, duplicates INTEGER NOT NULL,
    fetched TEXT NOT NULL
);
CREATE TABLE advisories (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    modified TEXT NOT NULL, withdrawn TEXT NOT NULL, aliases TEXT NOT NULL,
    severity TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE affected (
    advisory_rowid INTEGER NOT NULL, position INTEGER NOT NULL, ecosystem TEXT NOT NULL,
    package_key TEXT NOT NULL, package TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE packages (
    ecosystem TEXT NOT NULL, package_key TEXT NOT NULL, records TEXT NOT NULL,
    PRIMARY KEY (ecosystem, package_key)
) WITHOUT ROWID;
CREATE TABLE package_keys (ecosystem TEXT PRIMARY KEY, keys TEXT NOT NULL);
CREATE TABLE aliases (name TEXT NOT NULL, advisory_rowid INTEGER NOT NULL);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY, date_added TEXT NOT NULL, due_date TEXT NOT NULL,
    ransomware TEXT NOT NULL, vendor TEXT NOT NULL, product TEXT NOT NULL, name TEXT NOT NULL
);
"""

INDEXES = """
CREATE UNIQUE INDEX advisories_id ON advisories (id);
CREATE INDEX affected_advisory ON affected (advisory_rowid);
CREATE INDEX aliases_name ON aliases (name);
CREATE INDEX aliases_advisory ON aliases (advisory_rowid);
"""

_PEP503 = re.compile(r"[-_.]+")


def package_key(ecosystem: str, name: str) -> str:
    """The name under which a package is indexed: PyPI names are PEP 503-normalised,
    NuGet and Packagist names are case-insensitive; other ecosystems compare exactly."""
    base = ecosystem.split(":", 1)[0]
    if base == "PyPI":
        return _PEP503.sub("-", name).lower()
    if base in ("NuGet", "Packagist"):
        return name.lower()
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedRecord:
    """One advisory's statement about one package, as the matcher needs it."""

    advisory_id: str
    kind: Kind
    aliases: tuple[str, ...]
    severity: Score
    withdrawn: str  # "" unless withdrawn
    source: str
    affected: Affected

    @property
    def malicious(self) -> bool:
        return self.kind is Kind.MALICIOUS


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchInfo:
    """How one source URL was last fetched (kept so the next update can ask "changed?")."""

    url: str
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""
    size: int = 0
    fetched_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceStatus:
    name: str
    kind: str
    locations: tuple[str, ...]
    records: int
    errors: int
    duplicates: int
    fetched: tuple[FetchInfo, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DbStatus:
    path: Path
    schema_version: int
    built_at: str
    advisories: int
    affected: int
    kev: int
    size: int
    ecosystems: tuple[tuple[str, int], ...]  # (ecosystem, affected rows), sorted
    sources: tuple[SourceStatus, ...]


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise DatabaseError(f"no vulnerability database at {path}")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the vulnerability database {path}: {exc}") from None


def check_schema(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    """The meta table, or DatabaseError when the file is not a readable database of ours."""
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{path} is corrupt or not a hullcheck vulnerability database ({exc})"
        ) from None
    try:
        version = int(meta["schema_version"])
    except (KeyError, ValueError):
        raise DatabaseError(f"{path} has no schema version: not a hullcheck database") from None
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} has database schema {version}, newer than this hullcheck reads "
            f"({SCHEMA_VERSION})",
            hint="upgrade hullcheck, or run 'hullcheck db update' to rebuild the database",
        )
    if version < SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} has old database schema {version} (this hullcheck reads {SCHEMA_VERSION})",
            hint="run 'hullcheck db update' to rebuild the database",
        )
    return meta


class VulnStore:
    """Read access to a built database. Thread-safe; lookups are cached.

    Per ecosystem, the set of package keys with any record is read once (one row), so a
    name without advisories costs a set lookup. Decoded records are cached per (ecosystem,
    package key), LRU, ``cache_size`` names; the KEV catalog is read whole on first use.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, meta: dict[str, str], cache_size: int):
        self._conn = conn
        self._lock = threading.RLock()
        # (ecosystem, package_key) -> (all records, records not withdrawn)
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._cache_size = cache_size
        self._keys: dict[str, frozenset[str]] = {}
        self._ecosystems: tuple[str, ...] | None = None
        self._decoder = _Decoder()
        self._kev: dict[str, tuple[str, ...]] | None = None
        self._kev_entries: dict[str, KevEntry] = {}
        self.path = path
        self.meta = meta

    @classmethod
    def open(cls, path: Path | str, *, readonly: bool = True, cache_size: int = 65536) -> VulnStore:
        """Open a database; DatabaseError when missing, corrupt, or of another schema version.

        ``readonly=False`` opens it for writing (WAL); only tools that annotate a database in
        place need that, and no swap may happen while such a handle is open.
        """
        path = Path(path)
        if readonly:
            conn = _connect_readonly(path)
        else:
            if not path.is_file():
                raise DatabaseError(f"no vulnerability database at {path}")
            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                conn.close()
                raise DatabaseError(f"{path} is corrupt or locked ({exc})") from None
        try:
            meta = check_schema(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, meta, cache_size)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VulnStore:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path} is corrupt ({exc})") from None

    def _package_keys(self, ecosystem: str) -> frozenset[str]:
        keys = self._keys.get(ecosystem)
        if keys is None:
            rows = self._rows("SELECT keys FROM package_keys WHERE ecosystem = ?", (ecosystem,))
            keys = frozenset(json.loads(rows[0][0])) if rows else frozenset()
            self._keys[ecosystem] = keys
        return keys

    def ecosystems(self) -> tuple[str, ...]:
        """Every ecosystem the database has records for ("Debian:12", "Red Hat:...::baseos"),
        sorted: what a search pattern of ``ecosystem.DISTROS`` is matched against."""
        with self._lock:
            if self._ecosystems is None:
                rows = self._rows("SELECT ecosystem FROM package_keys ORDER BY ecosystem", ())
                self._ecosystems = tuple(r[0] for r in rows)
            return self._ecosystems

    def lookup(
        self, ecosystem: str, name: str, *, include_withdrawn: bool = False
    ) -> tuple[AffectedRecord, ...]:
        """What the database says about package ``name`` in ``ecosystem`` ("PyPI", "Debian:12").

        Names are compared as the ecosystem does (``package_key``). Withdrawn advisories are
        left out unless asked for. Ordered by advisory id.
        """
        return self.lookup_many(ecosystem, (name,), include_withdrawn=include_withdrawn)[name]

    def lookup_many(
        self, ecosystem: str, names: Iterable[str], *, include_withdrawn: bool = False
    ) -> dict[str, tuple[AffectedRecord, ...]]:
        """``lookup`` for many names of one ecosystem: {name: records} for every name given,
        reading the names not cached yet in a few queries; in the order given."""
        names = list(names)
        out: dict[str, tuple[AffectedRecord, ...]] = dict.fromkeys(names, ())
        want: dict[str, list[str]] = {}  # package_key -> names asking for it
        pick = 0 if include_withdrawn else 1
        with self._lock:
            known = self._package_keys(ecosystem)
            cache = self._cache
            for name in names:
                key = package_key(ecosystem, name)
                if key not in known:
                    continue
                hit = cache.get((ecosystem, key))
                if hit is not None:
                    cache.move_to_end((ecosystem, key))
                    out[name] = hit[pick]
                else:
                    want.setdefault(key, []).append(name)
            if not want:
                return out
            pending = list(want)
            for start in range(0, len(pending), _BATCH):
                chunk = pending[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))  # placeholders only, never data
                sql = f"SELECT package_key, records FROM packages WHERE ecosystem = ? AND package_key IN ({marks})"  # noqa: S608, E501
                for key, text in self._rows(sql, (ecosystem, *chunk)):
                    try:
                        records = self._decoder.records(ecosystem, text)
                    except (ValueError, TypeError, KeyError, IndexError) as exc:
                        raise DatabaseError(
                            f"{self.path} is corrupt (records of {ecosystem} {key}: {exc!r})"
                        ) from None
                    entry = (records, tuple(r for r in records if not r.withdrawn))
                    cache[(ecosystem, key)] = entry
                    for name in want.pop(key):
                        out[name] = entry[pick]
            while len(cache) > self._cache_size:
                cache.popitem(last=False)
        return out

    def advisory(self, advisory_id: str) -> Advisory | None:
        rows = self._rows("SELECT rowid, payload FROM advisories WHERE id = ?", (advisory_id,))
        if not rows:
            return None
        rowid, payload = rows[0]
        affected = tuple(
            affected_from_json(json.loads(d))
            for (d,) in self._rows(
                "SELECT data FROM affected WHERE advisory_rowid = ? ORDER BY position", (rowid,)
            )
        )
        return advisory_from_json(json.loads(payload), affected)

    def aliases(self, advisory_id: str) -> tuple[str, ...]:
        """Every other id naming the same issue: the record's aliases, and records that list
        this id (or share an alias with it) — one hop. Sorted, without ``advisory_id``."""
        rows = self._rows(
            "SELECT DISTINCT b.name FROM aliases a"
            " JOIN aliases b ON a.advisory_rowid = b.advisory_rowid"
            " WHERE a.name = ?",
            (advisory_id,),
        )
        return tuple(sorted({r[0] for r in rows} - {advisory_id}))

    def advisories_for(self, alias: str) -> tuple[str, ...]:
        """Ids of the advisories whose id or aliases include ``alias`` (e.g. a CVE)."""
        rows = self._rows(
            "SELECT a.id FROM aliases n JOIN advisories a ON a.rowid = n.advisory_rowid"
            " WHERE n.name = ? ORDER BY a.id",
            (alias,),
        )
        return tuple(dict.fromkeys(r[0] for r in rows))

    def alias_severities(self, ids: Iterable[str]) -> tuple[tuple[str, Score], ...]:
        """(advisory id, rating) of every advisory not withdrawn whose id or aliases include
        one of ``ids``: a GHSA record's CVSS, the Debian tracker's urgency, an NVD score...
        for a vulnerability whose matched records rate none. Ordered by advisory id."""
        names = sorted(set(ids))
        out: dict[str, Score] = {}
        for start in range(0, len(names), _BATCH):
            chunk = names[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))  # placeholders only, never data
            sql = ("SELECT a.id, a.severity FROM aliases n JOIN advisories a"  # noqa: S608
                   f" ON a.rowid = n.advisory_rowid WHERE n.name IN ({marks})"
                   " AND a.withdrawn = ''")
            for aid, text in self._rows(sql, tuple(chunk)):
                try:
                    out[aid] = _score_json(json.loads(text))
                except (ValueError, TypeError, KeyError) as exc:
                    raise DatabaseError(f"{self.path} is corrupt (severity of {aid}: "
                                        f"{exc!r})") from None
        return tuple(sorted(out.items()))

    def kev(self, cve: str) -> KevEntry | None:
        """The KEV catalog entry for ``cve``, if listed (the catalog is read once)."""
        with self._lock:
            if self._kev is None:
                self._kev = {
                    r[0]: tuple(r)
                    for r in self._rows(
                        "SELECT cve, date_added, due_date, ransomware, vendor, product, name"
                        " FROM kev",
                        (),
                    )
                }
            entry = self._kev_entries.get(cve)
            if entry is None:
                r = self._kev.get(cve)
                if r is None:
                    return None
                entry = self._kev_entries[cve] = KevEntry(
                    cve=r[0],
                    date_added=r[1],
                    due_date=r[2],
                    known_ransomware=r[3],
                    vendor=r[4],
                    product=r[5],
                    name=r[6],
                )
            return entry

    # --- Read helper for vulndb.delta (reads the schema above, changes nothing) -------------

    def iter_rows(
        self, sql: str, args: tuple[Any, ...] = (), *, batch: int = 2048
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of one read-only query, fetched ``batch`` at a time on this store's own
        connection: a store opened before a swap keeps streaming the file it opened."""
        try:
            with self._lock:
                cursor = self._conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path} is corrupt ({exc})") from None
        # Rows are handed out by chain (C), so Python runs once per batch, not once per row.
        return itertools.chain.from_iterable(self._batches(cursor, batch))

    def _batches(self, cursor: sqlite3.Cursor, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        try:
            while True:
                with self._lock:
                    rows = cursor.fetchmany(batch)
                if not rows:
                    return
                yield rows
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path} is corrupt ({exc})") from None
        finally:
            cursor.close()

    def status(self) -> DbStatus:
        counts = json.loads(self.meta.get("counts", "{}"))
        sources = tuple(
            SourceStatus(
                name=r[0],
                kind=r[1],
                locations=tuple(json.loads(r[2])),
                records=r[3],
                errors=r[4],
                duplicates=r[5],
                fetched=tuple(FetchInfo(**f) for f in json.loads(r[6])),
            )
            for r in self._rows(
                "SELECT name, kind, locations, records, errors, duplicates, fetched FROM sources"
                " ORDER BY rowid",
                (),
            )
        )
        try:
            size = self.path.stat().st_size
        except OSError:
            size = 0
        return DbStatus(
            path=self.path,
            schema_version=int(self.meta["schema_version"]),
            built_at=self.meta.get("built_at", ""),
            advisories=int(counts.get("advisories", 0)),
            affected=int(counts.get("affected", 0)),
            kev=int(counts.get("kev", 0)),
            size=size,
            ecosystems=tuple(
                sorted((str(k), int(v)) for k, v in counts.get("ecosystems", {}).items())
            ),
            sources=sources,
        )


_BATCH = 400  # names per query in lookup_many (SQLite allows 32766 parameters)

_Cached = tuple[tuple[AffectedRecord, ...], tuple[AffectedRecord, ...]]
_KINDS = {k.value: k for k in Kind}
_RATINGS = {r.value: r for r in Rating}
_RANGE_TYPES = {t.value: t for t in RangeType}
_EVENT_KINDS = {k.value: k for k in EventKind}
_STATUSES = {s.value: s for s in DistroStatus}


def record_to_json(
    *, advisory: Advisory, severity: Score, affected: Affected
) -> list[Any]:
    """One ``packages.records`` element: an advisory's statement about one package (the
    positional form in the module docstring; ``_Decoder`` reads it)."""
    return [
        advisory.id,
        advisory.kind.value,
        list(advisory.aliases),
        [severity.rating.value, severity.score, severity.source, severity.vector],
        advisory.withdrawn,
        advisory.source,
        affected.package,
        affected.purl,
        [[r.type.value, r.repo, *(x for e in r.events for x in (e.kind.value, e.value))]
         for r in affected.ranges],
        _versions_json(affected.versions),
        1 if affected.all_versions else 0,
        affected.status.value if affected.status is not None else "",
        affected.urgency,
    ]


def _versions_json(versions: tuple[str, ...]) -> str | list[str]:
    """Listed versions as one newline-joined string (much cheaper to decode than a list of
    strings, and records list hundreds); a list when a version holds a newline."""
    if versions and not any("\n" in v for v in versions):
        return "\n".join(versions)
    return list(versions)


class _Decoder:
    """Turns ``packages.records`` into records; equal severities and events are shared
    (they are frozen), which makes decoding cheaper and the cache smaller."""

    def __init__(self) -> None:
        self._severities: dict[tuple[Any, ...], Score] = {}
        self._events: dict[tuple[str, str], Event] = {}

    def _severity(self, s: list[Any]) -> Score:
        key = tuple(s)
        sev = self._severities.get(key)
        if sev is None:
            sev = self._severities[key] = Score(
                rating=_RATINGS[s[0]], score=s[1], source=s[2], vector=s[3]
            )
        return sev

    def _range(self, r: list[Any]) -> Range:
        events = self._events
        out = []
        for i in range(2, len(r), 2):
            key = (r[i], r[i + 1])
            ev = events.get(key)
            if ev is None:
                ev = events[key] = Event(kind=_EVENT_KINDS[key[0]], value=key[1])
            out.append(ev)
        return Range(type=_RANGE_TYPES[r[0]], events=tuple(out), repo=r[1])

    def records(self, ecosystem: str, text: str) -> tuple[AffectedRecord, ...]:
        rng = self._range
        return tuple([
            AffectedRecord(
                advisory_id=aid,
                kind=_KINDS[kind],
                aliases=tuple(aliases),
                severity=self._severity(sev),
                withdrawn=withdrawn,
                source=source,
                affected=Affected(
                    ecosystem=ecosystem,
                    package=package,
                    purl=purl,
                    ranges=tuple([rng(r) for r in ranges]) if ranges else (),
                    versions=tuple(versions.split("\n") if versions.__class__ is str
                                   else versions),
                    all_versions=bool(all_versions),
                    status=_STATUSES[status] if status else None,
                    urgency=urgency,
                ),
            )
            for (aid, kind, aliases, sev, withdrawn, source, package, purl, ranges, versions,
                 all_versions, status, urgency) in json.loads(text)
        ])


def _score_json(d: dict[str, Any]) -> Score:
    """The ``advisories.severity`` column (``severity_json``) read back."""
    score = d.get("score")
    return Score(rating=_RATINGS[d["rating"]], score=float(score) if score is not None else None,
                 source=str(d.get("source", "")), vector=str(d.get("vector", "")))


def severity_json(s: Score) -> str:
    d: dict[str, Any] = {"rating": s.rating.value}
    if s.score is not None:
        d["score"] = s.score
    if s.source:
        d["source"] = s.source
    if s.vector:
        d["vector"] = s.vector
    return json.dumps(d, separators=(",", ":"))
