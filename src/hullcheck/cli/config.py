"""hullcheck config IMAGE [-o table|json] [--fail-on SEVERITY | --fail]"""

from __future__ import annotations

import argparse
import sys

from hullcheck import pipeline, report
from hullcheck.cli.common import (
    add_image_options,
    add_output_options,
    outputs,
    pull_options,
    write_outputs,
)
from hullcheck.cli.progress import LayerProgress
from hullcheck.cli.secrets import add_fail_options, failed
from hullcheck.cli.severity import add_severity_option, config_report, hidden_note
from hullcheck.misconfig import ConfigReport

FORMATS = report.formats(ConfigReport)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "config",
        help="check an image's configuration (root user, healthcheck, set-id files, ...)",
        description="Run the image configuration checks (ids HC-Cnnn, mapped to CIS Docker "
                    "Benchmark sections). Exit codes: 0 no failed check at or over --fail-on "
                    "(or no --fail-on); 1 failed checks at or over it; 2 usage or input error.",
    )
    p.add_argument("image", metavar="IMAGE", help="an image (see 'hullcheck sbom --help')")
    add_severity_option(p)
    add_fail_options(p, "failed check")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    outs = outputs(args)
    req = pipeline.ConfigRequest(image=args.image, platform=args.platform,
                                 pull=pull_options(args))
    with LayerProgress(args.quiet) as progress:
        everything = pipeline.config_check(req, progress.callbacks)
    checked = config_report(everything, args.severity)
    note = hidden_note(len(everything.findings), len(checked.findings), args.severity)
    if note and not args.quiet:
        print(f"note: {note}", file=sys.stderr)
    write_outputs(outs, lambda fmt, width: report.render(checked, fmt, width=width))
    return 1 if failed((f.severity for f in checked.findings), args.fail_on) else 0
