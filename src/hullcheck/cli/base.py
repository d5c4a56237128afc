"""hullcheck base IMAGE | base add REF... | base catalog | base update-eol

    hullcheck base IMAGE [-o table|json] [--trust FILE] [--catalog FILE] [--db PATH]
                         [--fail-untrusted] [--max-age DAYS] [--fail-eol]
    hullcheck base add REF... [--catalog FILE]
    hullcheck base catalog [-o table|json] [--catalog FILE]
    hullcheck base update-eol --eol-url URL

An image literally named ``add``, ``catalog`` or ``update-eol`` is written ``registry:add``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hullcheck import pipeline, report
from hullcheck.cli.common import (
    add_image_options,
    add_output_options,
    outputs,
    pull_options,
    shows_table,
    write_outputs,
)
from hullcheck.errors import UsageError
from hullcheck.report import BaseCatalog, BaseReport
from hullcheck.report.table import distro_label

FORMATS = report.formats(BaseReport)
ACTIONS = ("add", "catalog", "update-eol")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "base",
        help="which base image an image was built on: trust, freshness, end of life, rebuild advice",
        description="'hullcheck base IMAGE' identifies the base image (OCI base annotations, else "
                    "the catalog entry whose layers begin the image), checks it against a trust "
                    "file, asks the registry whether its tag moved, checks the distro's end of "
                    "life and, when a newer base exists, what rebuilding on it would fix. "
                    "'base add REF...' records bases in the catalog; 'base catalog' lists them; "
                    "'base update-eol --eol-url URL' refreshes the end-of-life table. "
                    "Exit codes: 0 fine; 1 a --fail-* condition holds; 2 usage or input error.",
        usage="hullcheck base IMAGE [options] | base add REF... | base catalog | "
              "base update-eol --eol-url URL",
    )
    p.add_argument("words", nargs="+", metavar="IMAGE | add REF... | catalog | update-eol",
                   help=argparse.SUPPRESS)
    p.add_argument("--catalog", type=Path, metavar="FILE",
                   help="base catalog (default: $HULLCHECK_BASE_CATALOG, else the user data dir)")
    p.add_argument("--trust", type=Path, metavar="FILE",
                   help="YAML trust file: allowed registry/repository globs, pinned digests, keys")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="advisory database for rebuild advice (default: $HULLCHECK_DB, else the "
                        "user cache; advice is skipped when there is none)")
    p.add_argument("--no-advice", action="store_true",
                   help="do not scan the image and the newer base")
    p.add_argument("--fail-untrusted", action="store_true",
                   help="exit 1 unless the trust file says the base is trusted (needs --trust)")
    p.add_argument("--max-age", type=int, metavar="DAYS",
                   help="exit 1 when the base is more than DAYS days behind its tag's current image")
    p.add_argument("--fail-eol", action="store_true",
                   help="exit 1 when the distro release is past its end of security support")
    p.add_argument("--eol-url", metavar="URL",
                   help="update-eol: where to fetch the end-of-life table (hullcheck's eol.json format)")
    p.add_argument("--eol-table", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    action, rest = args.words[0], args.words[1:]
    if action == "add":
        if not rest:
            raise UsageError("base add: name at least one base image reference")
        entries = pipeline.add_bases(rest, catalog_file=args.catalog, platform=args.platform,
                                     pull=pull_options(args, rest))
        if not getattr(args, "quiet", False):
            for e in entries:
                n = len(e.diff_ids)
                print(f"added {e.reference} ({n} layer{'' if n == 1 else 's'}, "
                      f"{distro_label(e)}) to the base catalog", file=sys.stderr)
        return 0
    if action == "catalog":
        if rest:
            raise UsageError("base catalog takes no arguments")
        listed = BaseCatalog(entries=pipeline.base_catalog_entries(args.catalog))
        write_outputs(outputs(args), lambda fmt, width: report.render(listed, fmt, width=width))
        return 0
    if action == "update-eol":
        if not args.eol_url:
            raise UsageError("base update-eol needs --eol-url URL")
        table = pipeline.update_eol_table(args.eol_url)
        count = sum(len(r) for r in table.releases.values())
        if not getattr(args, "quiet", False):
            print(f"end-of-life table updated from {args.eol_url}: {len(table.releases)} "
                  f"distributions, {count} releases ({table.origin})", file=sys.stderr)
        return 0
    if rest:
        raise UsageError(f"base: one image at a time (got {len(args.words)} arguments)")
    image = action.removeprefix("registry:") if action.removeprefix("registry:") in ACTIONS else action
    outs = outputs(args)
    if args.fail_untrusted and args.trust is None:
        raise UsageError("--fail-untrusted needs --trust FILE")
    if args.max_age is not None and args.max_age < 0:
        raise UsageError("--max-age must be 0 or more days")
    req = pipeline.BaseRequest(image=image, catalog=args.catalog, trust=args.trust, db=args.db,
                               platform=args.platform, pull=pull_options(args, [image]),
                               advice=not args.no_advice, eol_table=args.eol_table,
                               require_freshness=args.max_age is not None)
    assessment = pipeline.assess_base(req)
    failed = pipeline.base_failures(assessment, fail_untrusted=args.fail_untrusted, max_age=args.max_age,
                      fail_eol=args.fail_eol)
    assessed = BaseReport(assessment=assessment, failures=tuple(failed))
    write_outputs(outs, lambda fmt, width: report.render(assessed, fmt, width=width))
    if not shows_table(outs) and not getattr(args, "quiet", False):
        for note in assessment.notes:
            print(f"note: {note}", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["register"]
