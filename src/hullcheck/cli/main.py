"""The ``hullcheck`` command: parse arguments, dispatch, turn errors into one line + exit code.

Exit codes: 0 success / clean; 1 findings at or over --fail-on, or verification failed;
2 usage or input error (bad arguments, unreadable image or document); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hullcheck import __version__
from hullcheck.cli import attest as attest_cmd
from hullcheck.cli import base as base_cmd
from hullcheck.cli import config as config_cmd
from hullcheck.cli import db as db_cmd
from hullcheck.cli import key as key_cmd
from hullcheck.cli import policy as policy_cmd
from hullcheck.cli import sbom as sbom_cmd
from hullcheck.cli import scan as scan_cmd
from hullcheck.cli import secrets as secrets_cmd
from hullcheck.cli import serve as serve_cmd
from hullcheck.cli import sign as sign_cmd
from hullcheck.cli import verify as verify_cmd
from hullcheck.errors import HullcheckError

COMMANDS = (sbom_cmd, scan_cmd, db_cmd, key_cmd, sign_cmd, verify_cmd, attest_cmd, base_cmd,
            secrets_cmd, config_cmd, policy_cmd, serve_cmd)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"hullcheck: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hullcheck",
                     description="Container supply-chain security: SBOMs, vulnerabilities, "
                                 "signatures, base images and policy.")
    parser.add_argument("--version", action="version", version=f"hullcheck {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or notes on standard error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for cmd in COMMANDS:
        cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HullcheckError as exc:
        print(f"hullcheck: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hullcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    sys.exit(main())
