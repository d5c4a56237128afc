"""hullcheck policy check IMAGE --policy FILE [--db PATH] [-o table|json|sarif|junit]"""

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
from hullcheck.cli.progress import LayerProgress
from hullcheck.policy import Outcome, load
from hullcheck.report import PolicyReport
from hullcheck.report.table import decision_line

FORMATS = report.formats(PolicyReport)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "policy",
        help="judge an image against a policy: pass, warn or fail, with reasons",
        description="Policy files (YAML, apiVersion hullcheck/v1) hold rules over an image's "
                    "vulnerabilities, secrets, configuration, licences, SBOM, signatures and "
                    "base image, plus CEL rules and waivers. See docs/policy.md.",
    )
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION")
    psub.required = True
    check = psub.add_parser(
        "check",
        help="evaluate IMAGE against a policy file",
        description="Gather the evidence the policy needs and evaluate it. Exit codes: 0 pass "
                    "or warn; 1 fail; 2 usage or input error (including a broken policy file).",
    )
    check.add_argument("image", metavar="IMAGE", help="an image (see 'hullcheck sbom --help')")
    check.add_argument("--policy", type=Path, required=True, metavar="FILE",
                       help="the policy file (YAML)")
    check.add_argument("--db", type=Path, metavar="PATH",
                       help="advisory database (default: $HULLCHECK_DB, else the user cache)")
    check.add_argument("--vex", type=Path, action="append", default=[], metavar="FILE",
                       help="OpenVEX or CycloneDX VEX document (repeatable)")
    check.add_argument("--base-trust", type=Path, metavar="FILE",
                       help="trust file for the base-image rules")
    add_output_options(check, FORMATS)
    add_image_options(check)
    check.set_defaults(func=run_check)

    validate = psub.add_parser("validate", help="check that a policy file is well formed",
                               description="Exit 0 when the file loads, 2 with the line and "
                                           "field of the first problem otherwise.")
    validate.add_argument("policy", type=Path, metavar="FILE", help="the policy file (YAML)")
    validate.set_defaults(func=run_validate)


def run_check(args: argparse.Namespace) -> int:
    policy = load(args.policy)  # before any image or network work: a broken file fails fast
    outs = outputs(args)
    req = pipeline.evidence_request(policy, args.image, db=args.db, platform=args.platform,
                                    pull=pull_options(args), vex=tuple(args.vex),
                                    base_trust=args.base_trust)
    with LayerProgress(args.quiet) as progress:
        _, decision = pipeline.policy_check(policy, req, progress.callbacks)
    judged = PolicyReport(decision=decision, policy=policy)
    write_outputs(outs, lambda fmt, width: report.render(judged, fmt, width=width))
    if not shows_table(outs) and not args.quiet:
        print(decision_line(decision), file=sys.stderr)
    return 1 if decision.outcome is Outcome.FAIL else 0


def run_validate(args: argparse.Namespace) -> int:
    policy = load(args.policy)
    needs = ", ".join(sorted(n.value for n in policy.needs())) or "image identity only"
    print(f"{args.policy}: policy {policy.name!r} is valid: {len(policy.rules)} rules, "
          f"{len(policy.waivers)} waivers; needs {needs}")
    return 0
