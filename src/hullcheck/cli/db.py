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
MAX_SKIPPED_SHOWN = 10  # files of an imported folder named as skipped; the rest counted


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
    imp.add_argument("paths", nargs="+", metavar="PATH|URL",
                     help="advisory files, directories (each file's format is detected, so a "
                          "folder may mix them), archives or http(s) URLs; or one bundle")
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
    st.add_argument("-o", "--output", choices=("table", "json"), default="table",
                    help="table (default) or json")
    st.set_defaults(func=run_status)

    ex = dsub.add_parser("export", help="write the whole database as a bundle with its sha256")
    ex.add_argument("file", type=Path, metavar="FILE", help="e.g. vuln.tar.zst or vuln.tar.gz")
    ex.set_defaults(func=run_export)
    for sp in (imp, upd, st, ex):
        sp.add_argument("--db", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help="database file")
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress or notes on standard error")
    for sp in (imp, upd):  # they download
        add_timeout_option(sp)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _stale(args: argparse.Namespace) -> pipeline.OnStale:
    def say(removed: tuple[Path, ...]) -> None:
        _say(args, f"removed {_n(len(removed), 'temporary file')} an interrupted import or "
                   f"update left: {', '.join(p.name for p in removed[:3])}")

    return say


def run_import(args: argparse.Namespace) -> int:
    req = pipeline.ImportRequest(items=tuple(args.paths), db=args.db, kind=args.kind,
                                 name=args.name, replace=args.replace)
    done = pipeline.import_advisories(req, on_stale=_stale(args))
    if done.bundle is not None:
        b = done.bundle
        _say(args, f"imported bundle {args.paths[0]}: {_n(b.advisories, 'advisory', 'advisories')}"
                   f", {_n(b.kev, 'KEV entry', 'KEV entries')} (sha256 verified) into {done.path}")
    if done.skipped:
        verb = "holds" if len(done.skipped) == 1 else "hold"
        _say(args, f"skipped {_n(len(done.skipped), 'file')} that {verb} no advisory data "
                   "hullcheck reads:")
        for exc in done.skipped[:MAX_SKIPPED_SHOWN]:  # each file on its line, with why
            _say(args, f"  {exc}")
        if len(done.skipped) > MAX_SKIPPED_SHOWN:
            _say(args, f"  and {len(done.skipped) - MAX_SKIPPED_SHOWN} more")
    if done.build is not None:
        res = done.build
        for s in res.sources:
            line = (f"{s.name} ({s.kind.value}): {_n(s.records, 'record')}, {s.errors} rejected"
                    + (f", {s.duplicates} already in the database" if s.duplicates else ""))
            if s.first_errors:
                line += f"; first rejected: {s.first_errors[0]}"
            _say(args, line)
        how = " (added; the other sources were not read again)" if done.appended else ""
        _say(args, f"{done.path}: {_n(res.advisories, 'advisory', 'advisories')}, "
                   f"{_n(res.affected, 'package entry', 'package entries')}, "
                   f"{_n(res.kev, 'KEV entry', 'KEV entries')}{how}")
    return 0


def _n(count: int, noun: str, plural: str = "") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


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
             f"records    {_n(doc['advisories'], 'advisory', 'advisories')}, "
             f"{_n(doc['affected'], 'package entry', 'package entries')}, "
             f"{_n(doc['kev'], 'KEV entry', 'KEV entries')}", "sources:"]
    rows = [("NAME", "KIND", "RECORDS", "REJECTED")] + [
        (s["name"], s["kind"], str(s["records"]), str(s["errors"])) for s in doc["sources"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:  # names and kinds to the left, counts to the right, each column aligned
        lines.append(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                     f"{r[3]:>{widths[3]}}")
    emit(("\n".join(lines) + "\n").encode(), None)
    return 0


def run_export(args: argparse.Namespace) -> int:
    res = pipeline.export_database(args.db, args.file)
    _say(args, f"wrote {res.bundle}: sha256 {res.sha256} ({res.advisories} advisories)")
    return 0


__all__ = ["register"]
