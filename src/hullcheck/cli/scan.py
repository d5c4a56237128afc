"""hullcheck scan IMAGE|SBOM [--scanners vuln,secret,config] [--from-attestation PUB] [-o FORMAT]
[--fail-on SEVERITY] [--fail-on-unknown] [--only-fixed] [--vex FILE] [--ignore FILE]..."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hullcheck import pipeline, report
from hullcheck.cli.common import (
    add_attestation_options,
    add_image_options,
    add_output_options,
    attestation_key,
    outputs,
    pull_options,
    shows_table,
    write_outputs,
)
from hullcheck.cli.progress import LayerProgress
from hullcheck.cli.severity import add_severity_option, scan_report
from hullcheck.errors import UsageError
from hullcheck.model import Severity
from hullcheck.pipeline.scan import DB_MAX_AGE_DAYS
from hullcheck.report import ScanReport

FORMATS = report.formats(ScanReport)
SCANNER_ALIASES = {"misconfig": "config"}  # Trivy's names
# Read from the working directory when no --ignore is given, as Trivy and Grype read theirs.
IGNORE_FILES = (".trivyignore", ".trivyignore.yaml", ".grype.yaml")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scan",
        help="find vulnerabilities and malicious packages in an image or an SBOM",
        description="Match an image's packages (or an SBOM's) against the advisory database; "
                    "with --scanners, also find secrets in every layer and check the image's "
                    "configuration, reading the layers once. Formats: table, json and sarif "
                    "show every scanner's findings; cyclonedx-json holds the SBOM and its "
                    "vulnerabilities only. Exit codes: 0 no finding at or "
                    "over --fail-on; 1 findings of any scanner at or over --fail-on (or of "
                    "unknown severity, with --fail-on-unknown), or --from-attestation found "
                    "no verified SBOM; 2 usage or input error.",
    )
    p.add_argument("target", metavar="IMAGE|SBOM",
                   help="an image (see 'hullcheck sbom --help') or an SBOM file: CycloneDX JSON "
                        "or XML, SPDX JSON, hullcheck JSON")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="advisory database (default: $HULLCHECK_DB, else the user cache)")
    p.add_argument("--scanners", metavar="LIST", default="vuln",
                   help="comma-separated, any of: vuln (default), secret (every file of every "
                        "layer, config and history; secrets always redacted), config (image "
                        "configuration checks; also 'misconfig', as Trivy names it). secret and "
                        "config need an image, not an SBOM")
    add_severity_option(p)
    p.add_argument("--secret-config", type=Path, metavar="FILE",
                   help="YAML with user secret rules and allow-lists (as 'hullcheck secrets "
                        "--config')")
    p.add_argument("--include-package-files", action="store_true",
                   help="with the secret scanner: also report secrets in OS packages' unchanged "
                        "files (as 'hullcheck secrets --include-package-files')")
    add_attestation_options(p, note=" (vuln only)")
    p.add_argument("--fail-on", metavar="SEVERITY",
                   help="exit 1 when a finding of any scanner is at or over this severity: "
                        + ", ".join(s.value for s in Severity) + ". A vulnerability no record "
                        "rates (nor any alias of it) is 'unknown', the lowest: it fails only "
                        "--fail-on unknown, or with --fail-on-unknown")
    p.add_argument("--fail-on-unknown", action="store_true",
                   help="also exit 1 for a vulnerability of unknown severity (with or without "
                        "--fail-on)")
    p.add_argument("--db-max-age", type=_days, default=DB_MAX_AGE_DAYS, metavar="DAYS",
                   help="note when the advisory database was built more than DAYS days ago "
                        f"(default {DB_MAX_AGE_DAYS}; 0 never notes it)")
    p.add_argument("--only-fixed", action="store_true",
                   help="report only findings that have a fixed version")
    p.add_argument("--vex", type=Path, action="append", default=[], metavar="FILE",
                   help="OpenVEX or CycloneDX VEX document; not_affected/fixed statements "
                        "suppress findings (repeatable)")
    p.add_argument("--ignore", type=Path, action="append", default=[], metavar="FILE",
                   help="ignore rules (repeatable): hullcheck's YAML (id, reason, optional "
                        "package and expires date), Trivy's .trivyignore (text or YAML) or "
                        "Grype's .grype.yaml (docs/ignore-files.md). Default: those of "
                        + ", ".join(IGNORE_FILES) + " in the working directory")
    p.add_argument("--scope", choices=pipeline.SCOPES, default="squashed",
                   help="squashed (default) or all-layers: also packages hidden by later layers")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (0 or more)")
    return days


def run(args: argparse.Namespace) -> int:
    threshold = None
    if args.fail_on:
        try:
            threshold = Severity.parse(args.fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
    scanners = tuple(dict.fromkeys(SCANNER_ALIASES.get(s, s) for s in (
        w.strip().lower() for w in args.scanners.split(",")) if s))
    if args.include_package_files and "secret" not in scanners:
        raise UsageError("--include-package-files needs --scanners with secret")
    if args.secret_config is not None:
        if "secret" not in scanners:
            raise UsageError("--secret-config needs --scanners with secret")
        if not args.secret_config.is_file():
            raise UsageError(f"--secret-config: {args.secret_config} is not a file")
    outs = outputs(args)
    ignore = tuple(args.ignore) or _found_ignore_files(args.quiet)
    req = pipeline.ScanRequest(target=args.target, db=args.db, scope=args.scope,
                               platform=args.platform, pull=pull_options(args),
                               vex=tuple(args.vex), ignore=ignore,
                               only_fixed=args.only_fixed, scanners=scanners,
                               secret_config=args.secret_config,
                               db_max_age=args.db_max_age or None,
                               include_package_files=args.include_package_files,
                               from_attestation=attestation_key(args))
    with LayerProgress(args.quiet) as progress:
        scanned = scan_report(pipeline.scan(req, progress.callbacks), args.severity)
    write_outputs(outs, lambda fmt, width: report.render(scanned, fmt, width=width))
    if not shows_table(outs) and not args.quiet:
        for note in scanned.notes:
            print(f"note: {note}", file=sys.stderr)
    cyclonedx = any(o.format == "cyclonedx-json" for o in outs)
    if cyclonedx and not args.quiet and set(scanned.scanners) - {"vuln"}:
        print(f"note: cyclonedx-json holds vulnerabilities only: {len(scanned.secret_findings)}"
              f" secret and {len(scanned.config_findings)} config findings are not in it "
              "(use -o json or sarif)", file=sys.stderr)
    return 1 if scanned.fails(threshold, unknown=args.fail_on_unknown) else 0


def _found_ignore_files(quiet: bool) -> tuple[Path, ...]:
    """Trivy's and Grype's ignore files in the working directory, each said as read."""
    found = tuple(Path(name) for name in IGNORE_FILES if Path(name).is_file())
    if found and not quiet:
        print(f"note: ignore rules read from {', '.join(map(str, found))} in the working "
              "directory (--ignore FILE names others)", file=sys.stderr)
    return found
