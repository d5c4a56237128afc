"""hullcheck db import|update|status|export — the advisory database."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from hullcheck import pipeline
from hullcheck.cli.common import add_timeout_option, emit
from hullcheck.errors import UsageError

EOL_URL_ENV = "HULLCHECK_EOL_URL"  # where 'db update' refreshes the end-of-life table from


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="manage the advisory database",
                       description="Build, update, inspect and move the advisory database.")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="database file (default: $HULLCHECK_DB, else the user cache)")
    dsub = p.add_subparsers(dest="db_command", metavar="COMMAND")
    dsub.required = True

    imp = dsub.add_parser("import", help="add advisory data (OSV dir/zip/tarball, Debian "
                          "tracker JSON, Alpine/Wolfi/Chainguard secdb, Amazon ALAS updateinfo, "
                          "CISA KEV) or a database bundle")
    imp.add_argument("paths", nargs="+", metavar="PATH|URL")
    imp.add_argument("--kind", choices=pipeline.source_kinds(),
                     help="the format of every PATH (default: detected)")
    imp.add_argument("--name", help="source name (default: derived from the path)")
    imp.add_argument("--replace", action="store_true",
                     help="build from these sources only, dropping the database's other sources")
    imp.set_defaults(func=run_import)

    upd = dsub.add_parser("update", help="fetch the public sources and rebuild if they changed")
    upd.add_argument("--sources", type=Path, metavar="FILE",
                     help="YAML/JSON list of sources (default: $HULLCHECK_DB_SOURCES, else the "
                          "public OSV (languages, Debian, Alpine, Ubuntu, Red Hat, Rocky, Alma, "
                          "SUSE), Debian tracker, Alpine/Wolfi/Chainguard secdb, Amazon ALAS "
                          "and CISA KEV feeds; see docs/databases.md)")
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


def _stale(args: argparse.Namespace) -> pipeline.OnStale:
    def say(removed: tuple[Path, ...]) -> None:
        _say(args, f"removed {len(removed)} temporary file(s) an interrupted import or "
                   f"update left: {', '.join(p.name for p in removed[:3])}")

    return say


def run_import(args: argparse.Namespace) -> int:
    req = pipeline.ImportRequest(items=tuple(args.paths), db=args.db, kind=args.kind,
                                 name=args.name, replace=args.replace)
    done = pipeline.import_advisories(req, on_stale=_stale(args))
    if done.bundle is not None:
        b = done.bundle
        _say(args, f"imported bundle {args.paths[0]}: {b.advisories} advisories, {b.kev} KEV "
                   f"entries (sha256 verified) into {done.path}")
    if done.build is not None:
        res = done.build
        for s in res.sources:
            _say(args, f"{s.name} ({s.kind.value}): {s.records} records, {s.errors} rejected")
        _say(args, f"{done.path}: {res.advisories} advisories, {res.affected} package entries, "
                   f"{res.kev} KEV entries")
    return 0


def run_update(args: argparse.Namespace) -> int:
    eol_url = args.eol_url or os.environ.get(EOL_URL_ENV, "").strip() or None
    if eol_url is not None and not eol_url.startswith(("http://", "https://")):
        where = "--eol-url" if args.eol_url else EOL_URL_ENV
        raise UsageError(f"{where}: {eol_url!r} is not an http(s) URL")
    req = pipeline.UpdateRequest(db=args.db, sources=args.sources, force=args.force)
    res = pipeline.update_database(req, on_stale=_stale(args))
    for f in res.fetches:
        _say(args, f"{f.source}: {f.location} {f.state.value}")
    _say(args, f"{res.path}: " + ("rebuilt" if res.rebuilt else "unchanged, nothing to rebuild"))
    if eol_url is not None:
        table = pipeline.update_eol_table(eol_url)
        releases = sum(len(r) for r in table.releases.values())
        _say(args, f"end-of-life table: {releases} releases of {len(table.releases)} distros "
                   f"from {eol_url} into {table.origin}")
    return 0


def _status_json(db: Path | None) -> dict[str, Any]:
    st = pipeline.database_status(db)
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
    doc = _status_json(args.db)
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
    res = pipeline.export_database(args.db, args.file)
    _say(args, f"wrote {res.bundle}: sha256 {res.sha256} ({res.advisories} advisories)")
    return 0


__all__ = ["register"]
