"""hullcheck db import|update|status|export — the advisory database."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hullcheck.cli.common import add_timeout_option, emit
from hullcheck.errors import DatabaseError, HullcheckError, UsageError
from hullcheck.vulndb import (
    DEFAULT_SOURCES,
    Source,
    SourceKind,
    VulnStore,
    build,
    db_path,
    export,
    import_bundle,
    update,
)
from hullcheck.vulndb.detect import BUNDLE, detect
from hullcheck.vulndb.paths import cache_dir
from hullcheck.vulndb.update import download, exclusive, load_sources, resolve_sources

EOL_URL_ENV = "HULLCHECK_EOL_URL"  # where 'db update' refreshes the end-of-life table from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="manage the advisory database",
                       description="Build, update, inspect and move the advisory database.")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="database file (default: $HULLCHECK_DB, else the user cache)")
    dsub = p.add_subparsers(dest="db_command", metavar="COMMAND")
    dsub.required = True

    imp = dsub.add_parser("import", help="add advisory data (OSV dir/zip/tarball, Debian "
                          "tracker JSON, Alpine secdb, CISA KEV) or a database bundle")
    imp.add_argument("paths", nargs="+", metavar="PATH|URL")
    imp.add_argument("--kind", choices=[k.value for k in SourceKind],
                     help="the format of every PATH (default: detected)")
    imp.add_argument("--name", help="source name (default: derived from the path)")
    imp.add_argument("--replace", action="store_true",
                     help="build from these sources only, dropping the database's other sources")
    imp.set_defaults(func=run_import)

    upd = dsub.add_parser("update", help="fetch the public sources and rebuild if they changed")
    upd.add_argument("--sources", type=Path, metavar="FILE",
                     help="YAML/JSON list of sources (default: $HULLCHECK_DB_SOURCES, else the "
                          "public OSV, Debian, Alpine and CISA KEV feeds)")
    upd.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    upd.add_argument("--eol-url", metavar="URL",
                     help="also refresh the distro end-of-life table (used by 'hullcheck base' "
                          "and policies) from URL, a JSON table in the bundled format (default: "
                          f"${EOL_URL_ENV}; without either the table is left as it is)")
    upd.set_defaults(func=run_update)

    st = dsub.add_parser("status", help="sources, record counts, last update, schema version")
    st.add_argument("-o", "--output", choices=("table", "json"), default="table")
    st.set_defaults(func=run_status)

    ex = dsub.add_parser("export", help="write the whole database as a bundle with its sha256")
    ex.add_argument("file", type=Path, metavar="FILE", help="e.g. vuln.tar.zst or vuln.tar.gz")
    ex.set_defaults(func=run_export)
    for sp in (imp, upd, st, ex):
        sp.add_argument("--db", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help="database file")
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    for sp in (imp, upd):  # they download
        add_timeout_option(sp)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _download(url: str, db: Path) -> Path:
    """Fetch an advisory file once into the cache beside the database (kept while the
    database's sources point at it), capped and within --timeout as 'db update' is."""
    dest_dir = cache_dir(db) / "imports"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create {dest_dir}: {exc.strerror or exc}") from None
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    return download(url, dest_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}")


@contextlib.contextmanager
def _writing(args: argparse.Namespace, path: Path) -> Iterator[None]:
    """The database's writer lock for the command; says what a killed writer left."""
    with exclusive(path) as removed:
        if removed:
            _say(args, f"removed {len(removed)} temporary file(s) an interrupted import or "
                       f"update left: {', '.join(p.name for p in removed[:3])}")
        yield


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
        import urllib.parse

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
    if not path.exists():
        return []
    with VulnStore.open(path) as store:
        return [Source(name=s.name, kind=SourceKind(s.kind), locations=s.locations)
                for s in store.status().sources]


def run_import(args: argparse.Namespace) -> int:
    path = db_path(args.db)
    downloads: list[Path] = []
    with _writing(args, path):
        try:
            return _import(args, path, downloads)
        finally:
            _drop_unused(downloads, path)


def _import(args: argparse.Namespace, path: Path, downloads: list[Path]) -> int:
    local: list[tuple[str, Path]] = []
    for item in args.paths:
        if item.startswith(("http://", "https://")):
            downloads.append(p := _download(item, path))
        else:
            p = Path(item)
        local.append((item, p))
    kinds = {item: (SourceKind(args.kind) if args.kind else detect(p)) for item, p in local}
    bundles = [item for item, k in kinds.items() if k == BUNDLE]
    if bundles:
        if len(local) > 1:
            raise UsageError("a database bundle must be imported on its own")
        bres = import_bundle(local[0][1], path)
        _say(args, f"imported bundle {local[0][0]}: {bres.advisories} advisories, {bres.kev} KEV "
                   f"entries (sha256 verified) into {path}")
        return 0
    new: list[Source] = []
    taken: set[str] = set()
    for i, (item, p) in enumerate(local, 1):
        kind = SourceKind(kinds[item])
        if args.name:
            name = args.name if len(local) == 1 else f"{args.name}-{i}"
        else:
            base = name = _source_name(item, p, kind)
            n = 1
            while name in taken:  # two paths with the same name: number the later ones
                n += 1
                name = f"{base}-{n}"
        taken.add(name)
        new.append(Source(name=name, kind=kind, locations=(str(p.resolve()),)))
    names = {s.name for s in new}
    sources = [] if args.replace else [s for s in _existing_sources(path) if s.name not in names]
    missing = [s for s in sources if any(not Path(loc).exists() for loc in s.locations)]
    if missing:
        raise DatabaseError(
            f"{path}: source {missing[0].name} was built from {missing[0].locations[0]}, "
            "which is gone", hint="import it again, or pass --replace to drop other sources")
    res = build(path, [*sources, *new])
    for s in res.sources:
        _say(args, f"{s.name} ({s.kind.value}): {s.records} records, {s.errors} rejected")
    _say(args, f"{path}: {res.advisories} advisories, {res.affected} package entries, "
               f"{res.kev} KEV entries")
    return 0


def run_update(args: argparse.Namespace) -> int:
    eol_url = args.eol_url or os.environ.get(EOL_URL_ENV, "").strip() or None
    if eol_url is not None and not eol_url.startswith(("http://", "https://")):
        where = "--eol-url" if args.eol_url else EOL_URL_ENV
        raise UsageError(f"{where}: {eol_url!r} is not an http(s) URL")
    path = db_path(args.db)
    sources = load_sources(args.sources) if args.sources else (resolve_sources() or DEFAULT_SOURCES)
    with _writing(args, path):
        res = update(path, sources=sources, force=args.force)
    for f in res.fetches:
        _say(args, f"{f.source}: {f.location} {f.state.value}")
    _say(args, f"{path}: " + ("rebuilt" if res.rebuilt else "unchanged, nothing to rebuild"))
    if eol_url is not None:
        from hullcheck.base import eol

        table = eol.update(eol_url)  # validated before it replaces the previous table
        releases = sum(len(r) for r in table.releases.values())
        _say(args, f"end-of-life table: {releases} releases of {len(table.releases)} distros "
                   f"from {eol_url} into {table.origin}")
    return 0


def _status_json(path: Path) -> dict[str, Any]:
    with VulnStore.open(path) as store:
        st = store.status()
    return {
        "path": str(st.path), "schemaVersion": st.schema_version, "builtAt": st.built_at,
        "advisories": st.advisories, "affected": st.affected, "kev": st.kev, "size": st.size,
        "ecosystems": dict(st.ecosystems),
        "sources": [{"name": s.name, "kind": s.kind, "locations": list(s.locations),
                     "records": s.records, "errors": s.errors,
                     "fetched": [{"url": f.url, "etag": f.etag, "lastModified": f.last_modified,
                                  "fetchedAt": f.fetched_at} for f in s.fetched]}
                    for s in st.sources],
    }


def run_status(args: argparse.Namespace) -> int:
    doc = _status_json(db_path(args.db))
    if args.output == "json":
        emit(json.dumps(doc, indent=2).encode() + b"\n", None)
        return 0
    lines = [f"database   {doc['path']}", f"schema     {doc['schemaVersion']}",
             f"built at   {doc['builtAt']}",
             f"records    {doc['advisories']} advisories, {doc['affected']} package entries, "
             f"{doc['kev']} KEV entries", "sources:"]
    for s in doc["sources"]:
        lines.append(f"  {s['name']:<22} {s['kind']:<7} {s['records']:>7} records  "
                     f"{s['errors']} rejected")
    emit(("\n".join(lines) + "\n").encode(), None)
    return 0


def run_export(args: argparse.Namespace) -> int:
    res = export(db_path(args.db), args.file)
    _say(args, f"wrote {res.bundle}: sha256 {res.sha256} ({res.advisories} advisories)")
    return 0


__all__ = ["register"]
