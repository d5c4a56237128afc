"""hullcheck secrets IMAGE [-o table|json] [--config FILE] [--include-package-files]
[--fail-on SEVERITY | --fail]"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from hullcheck import pipeline
from hullcheck.cli.common import (
    add_image_options,
    add_output_options,
    outputs,
    pull_options,
    write_outputs,
)
from hullcheck.cli.progress import LayerProgress
from hullcheck.cli.severity import add_severity_option, hidden_note, secret_report
from hullcheck.errors import UsageError
from hullcheck.model import RULE_SEVERITIES, Severity

# report.formats(SecretReport), named here: the report room (and misconfig's, which it
# imports) loads while the layers are read, not before the first worker starts (a test
# checks that the two agree).
FORMATS = ("table", "json")
SEVERITIES = tuple(s.value for s in RULE_SEVERITIES)


def add_package_files_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-package-files", action="store_true",
                   help="also report secrets in files an OS package installed and nobody "
                        "changed since (content as its dpkg/apk/rpm database recorded it): "
                        "the distro's own examples and test keys. By default they are "
                        "counted, not reported; changed package files are always reported")


def add_fail_options(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fail-on", metavar="SEVERITY", type=str.lower, choices=SEVERITIES,
                   help=f"exit 1 when a {what} is at or over this severity: "
                        f"{', '.join(SEVERITIES)}")
    g.add_argument("--fail", action="store_const", dest="fail_on", const="low",
                   help=f"exit 1 when there is any {what} (same as --fail-on low)")


def failed(severities: Iterable[Severity], fail_on: str | None) -> bool:
    """Whether any of ``severities`` reaches the ``--fail-on`` threshold."""
    if fail_on is None:
        return False
    threshold = Severity(fail_on)
    return any(s >= threshold for s in severities)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "secrets",
        help="find secrets in every layer of an image, its config and its history",
        description="Scan every file of every layer (also files a later layer deleted: they "
                    "still ship), the config's Env, Labels, Cmd and the history (build args). "
                    "Secrets are always redacted. Matches in an OS package's files as it "
                    "installed them are counted, not reported (--include-package-files); in "
                    "a language package's tests, examples or docs, reported with low "
                    "confidence. Exit codes: 0 no finding at or over "
                    "--fail-on (or no --fail-on); 1 findings at or over it; 2 usage or input "
                    "error.",
    )
    p.add_argument("image", metavar="IMAGE", help="an image (see 'hullcheck sbom --help')")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="YAML with user rules and allow-lists (paths, regexes, rule ids)")
    add_package_files_option(p)
    add_severity_option(p)
    add_fail_options(p, "secret")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    outs = outputs(args)
    if args.config is not None and not args.config.is_file():
        raise UsageError(f"--config: {args.config} is not a file")
    req = pipeline.SecretsRequest(image=args.image, platform=args.platform,
                                  pull=pull_options(args), config=args.config,
                                  include_package_files=args.include_package_files)
    with LayerProgress(args.quiet) as progress:
        everything = pipeline.secrets_scan(req, progress.callbacks)
    found = secret_report(everything, args.severity)
    from hullcheck import report  # loaded already, while the layers were read

    write_outputs(outs, lambda fmt, width: report.render(found, fmt, width=width))
    note = hidden_note(len(everything.findings), len(found.findings), args.severity)
    if note and not args.quiet:
        print(f"note: {note}", file=sys.stderr)
    return 1 if failed((f.severity for f in found.findings), args.fail_on) else 0
