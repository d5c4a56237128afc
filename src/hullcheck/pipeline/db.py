"""The advisory database and the end-of-life table: import (files, URLs, bundles), update
from the public feeds, status, export. Each writer holds the database's lock; what an
interrupted writer left is removed and reported through ``on_stale``."""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.errors import DatabaseError, FormatError, HullcheckError, UsageError

if TYPE_CHECKING:
    from hullcheck.base.eol import EolTable
    from hullcheck.vulndb import BuildResult, BundleResult, DbStatus, Source, SourceKind
    from hullcheck.vulndb.update import UpdateResult

# Told the temporary files an interrupted import or update left, once they are removed.
OnStale = Callable[[tuple[Path, ...]], None]


def source_kinds() -> tuple[str, ...]:
    """The advisory formats ``db import --kind`` takes."""
    from hullcheck.vulndb import SourceKind

    return tuple(k.value for k in SourceKind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRequest:
    items: tuple[str, ...]  # paths or http(s) URLs
    db: Path | None = None
    kind: str | None = None  # every item's format; None: detected
    name: str | None = None  # source name; None: derived from each item
    replace: bool = False  # build from these sources only


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    path: Path
    bundle: BundleResult | None = None  # a database bundle swapped in (items[0])
    build: BuildResult | None = None  # what was built; appended: only the new sources
    appended: bool = False  # added to the database without reading its other sources
    # Data files of imported folders that are no advisory data hullcheck reads, and why.
    skipped: tuple[FormatError, ...] = ()


@contextmanager
def _writing(path: Path, on_stale: OnStale | None) -> Iterator[None]:
    """The database's writer lock; says what a killed writer left."""
    from hullcheck.vulndb.update import exclusive

    with exclusive(path) as removed:
        if removed and on_stale is not None:
            on_stale(removed)
        yield


def import_advisories(req: ImportRequest, on_stale: OnStale | None = None) -> Imported:
    """Add advisory files, folders or URLs to the database, or swap in a bundle. A folder's
    files are each read as the kind they are (one source per kind). New sources are added
    to the database as it is; a source imported again (same name), or --replace, rebuilds
    it from its sources' files. URLs are downloaded beside the database and kept only while
    the database is built from them."""
    from hullcheck.vulndb import db_path

    path = db_path(req.db)
    downloads: list[Path] = []
    with _writing(path, on_stale):
        try:
            return _import(req, path, downloads)
        finally:
            _drop_unused(downloads, path)


def _import(req: ImportRequest, path: Path, downloads: list[Path]) -> Imported:
    from hullcheck.vulndb import build, import_bundle
    from hullcheck.vulndb.append import append, can_append
    from hullcheck.vulndb.detect import BUNDLE, detect

    local: list[tuple[str, Path]] = []
    for item in req.items:
        if item.startswith(("http://", "https://")):
            downloads.append(p := _download(item, path))
        else:
            p = Path(item)
        local.append((item, p))
    if not req.kind and any(not p.is_dir() and detect(p) == BUNDLE for _, p in local):
        if len(local) > 1:
            raise UsageError("a database bundle must be imported on its own")
        return Imported(path=path, bundle=import_bundle(local[0][1], path))
    new, skipped = _sources(req, local)
    if not req.replace and can_append(path, new):
        return Imported(path=path, build=append(path, new), appended=True,
                        skipped=skipped)
    names = {s.name for s in new}
    sources = [] if req.replace else [s for s in _existing_sources(path) if s.name not in names]
    missing = [s for s in sources if any(not Path(loc).exists() for loc in s.locations)]
    if missing:
        raise DatabaseError(
            f"{path}: source {missing[0].name} was built from {missing[0].locations[0]}, "
            "which is gone; importing a source again rebuilds the database from all of them",
            hint="import it under another --name, or pass --replace to drop other sources")
    return Imported(path=path, build=build(path, [*sources, *new]), skipped=skipped)


def _sources(req: ImportRequest, local: list[tuple[str, Path]]
             ) -> tuple[list[Source], tuple[FormatError, ...]]:
    """One source per item, or per kind of file in an item that is a folder."""
    from hullcheck.vulndb import Source, SourceKind
    from hullcheck.vulndb.detect import detect, detect_tree

    found: list[tuple[str, Path, SourceKind, tuple[Path, ...]]] = []
    skipped: list[FormatError] = []
    for item, p in local:
        if req.kind:
            found.append((item, p, SourceKind(req.kind), (p,)))
        elif p.is_dir():
            tree = detect_tree(p)
            skipped.extend(tree.skipped)
            if not tree.kinds:
                raise FormatError(f"{p}: no advisory data found in this folder"
                                  + (f" (first: {tree.skipped[0]})" if tree.skipped else ""))
            for kind, files in tree.kinds.items():
                # A folder of one kind and nothing else stays one location (read as a tree).
                whole = len(tree.kinds) == 1 and not tree.skipped
                found.append((item, p, kind, (p,) if whole else files))
        else:
            found.append((item, p, SourceKind(detect(p)), (p,)))
    new: list[Source] = []
    taken: set[str] = set()
    for i, (item, p, kind, files) in enumerate(found, 1):
        if req.name:
            name = req.name if len(found) == 1 else f"{req.name}-{i}"
        else:
            base = name = _source_name(item, p, kind)
            n = 1
            while name in taken:  # two paths with the same name: number the later ones
                n += 1
                name = f"{base}-{n}"
        taken.add(name)
        new.append(Source(name=name, kind=kind, locations=tuple(str(f.resolve()) for f in files)))
    return new, tuple(skipped)


def _download(url: str, db: Path) -> Path:
    """Fetch an advisory file once into the cache beside the database (kept while the
    database's sources point at it), capped and within the deadline as 'db update' is."""
    from hullcheck.vulndb.paths import cache_dir
    from hullcheck.vulndb.update import download

    dest_dir = cache_dir(db) / "imports"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {dest_dir}: {exc.strerror or exc}") from None
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    return download(url, dest_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}")


def _drop_unused(downloads: list[Path], path: Path) -> None:
    """Remove what this import downloaded unless the database (as it now is) was built from
    it: a failed or interrupted import, or a bundle, keeps nothing."""
    try:
        used = {loc for s in _existing_sources(path) for loc in s.locations}
    except HullcheckError:
        used = set()
    for p in downloads:
        if str(p.resolve()) not in used:
            p.unlink(missing_ok=True)


_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.zst", ".tgz", ".tzst", ".tar", ".zip", ".json", ".yaml",
                     ".yml")
_GENERIC = {"", "all", "data", "json", "index", "osv", "feed", "download", "latest"}


def _source_name(item: str, local: Path, kind: SourceKind) -> str:
    """A source name from what the user typed: ``osv-PyPI-all`` for ``.../PyPI/all.zip``,
    ``osv-pypa`` for a directory ``pypa``; a generic last part takes its parent's name."""
    if item.startswith(("http://", "https://")):
        parts = [x for x in urllib.parse.urlsplit(item).path.split("/") if x]
    else:
        parts = list(local.resolve().parts[1:])
    stem = parts[-1] if parts else ""
    for suffix in _ARCHIVE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if stem.lower() in _GENERIC and len(parts) > 1:
        stem = f"{parts[-2]}-{stem}" if stem else parts[-2]
    stem = stem or "source"
    return stem if stem.lower().startswith(kind.value) else f"{kind.value}-{stem}"


def _existing_sources(path: Path) -> list[Source]:
    from hullcheck.vulndb import Source, SourceKind, VulnStore

    if not path.exists():
        return []
    with VulnStore.open(path) as store:
        return [Source(name=s.name, kind=SourceKind(s.kind), locations=s.locations)
                for s in store.status().sources]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequest:
    db: Path | None = None
    sources: Path | None = None  # a YAML/JSON source list; None: $HULLCHECK_DB_SOURCES or the feeds
    force: bool = False  # rebuild even when nothing changed


def update_database(req: UpdateRequest, on_stale: OnStale | None = None) -> UpdateResult:
    """Fetch the sources (conditionally) and rebuild the database when they changed."""
    from hullcheck.vulndb import DEFAULT_SOURCES, db_path, load_sources, resolve_sources, update

    path = db_path(req.db)
    sources = load_sources(req.sources) if req.sources else (resolve_sources() or DEFAULT_SOURCES)
    with _writing(path, on_stale):
        return update(path, sources=sources, force=req.force)


def update_eol_table(url: str) -> EolTable:
    """Install the end-of-life table served at ``url`` in the user cache (validated before
    it replaces the previous one)."""
    from hullcheck.base import eol

    return eol.update(url)


def database_status(db: Path | None = None) -> DbStatus:
    from hullcheck.vulndb import VulnStore, db_path

    with VulnStore.open(db_path(db)) as store:
        return store.status()


def export_database(db: Path | None, dest: Path) -> BundleResult:
    """The whole database as a bundle at ``dest`` with its sha256."""
    from hullcheck.vulndb import db_path, export

    return export(db_path(db), dest)
