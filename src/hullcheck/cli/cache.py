"""hullcheck cache status|clean [--cache-dir DIR] [-o table|json]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hullcheck.cli.common import emit

FORMATS = ("table", "json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cache",
        help="show or empty the layer cache (each layer's analysis, kept between runs)",
        description="Each layer an image command reads is analysed once and kept in the "
                    "layer cache (by the layer's digest, what was looked for and the hullcheck "
                    "version), so a later run, of any image or command with that layer, does "
                    "not read it again. Least recently used entries go first once the cache is "
                    "over its size; a damaged entry is noticed, removed and the layer read again.",
    )
    what = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for name, help_text in (("status", "where the cache is, its entries and size"),
                            ("clean", "remove every entry")):
        q = what.add_parser(name, help=help_text, description=help_text)
        q.add_argument("--cache-dir", type=Path, metavar="DIR",
                       help="the cache directory (default: $HULLCHECK_CACHE_DIR, else the user "
                            "cache directory)")
        if name == "status":
            q.add_argument("-o", "--output", choices=FORMATS, default="table",
                           help="table (default) or json")
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hullcheck.layercache import LayerCache

    cache = LayerCache(args.cache_dir)
    if args.cache_command == "clean":
        removed = cache.clean()
        emit(f"removed {removed} entries from {cache.directory}\n".encode(), None)
        return 0
    s = cache.status()
    if args.output == "json":
        doc = {"directory": str(s.directory), "entries": s.entries, "bytes": s.bytes,
               "maxBytes": s.max_bytes, "versions": dict(s.versions)}
        emit((json.dumps(doc, indent=2) + "\n").encode(), None)
        return 0
    versions = ", ".join(f"{v} ({n})" for v, n in s.versions) or "-"
    emit((f"directory  {s.directory}\n"
          f"entries    {s.entries}\n"
          f"size       {_mb(s.bytes)} of {_mb(s.max_bytes)}\n"
          f"versions   {versions}\n").encode(), None)
    return 0


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"
