"""hullcheck key generate [--output-prefix NAME]"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from hullcheck import pipeline


def prompt_or_none() -> Callable[[str], str] | None:
    """getpass when standard input is a terminal; None (no prompting) otherwise."""
    return getpass.getpass if sys.stdin.isatty() else None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "key", help="generate signing keys (cosign-compatible)", description="Manage signing keys."
    )
    keysub = p.add_subparsers(dest="key_command", metavar="COMMAND")
    keysub.required = True
    g = keysub.add_parser(
        "generate",
        help="generate an ECDSA P-256 key pair",
        description="Write NAME.key (encrypted in cosign's format; the password comes from "
        "COSIGN_PASSWORD, then HULLCHECK_PASSWORD, else a prompt) and NAME.pub, and print "
        "the public key's fingerprint (as 'sign' and 'verify' name keys). Existing files are "
        "never overwritten.",
    )
    g.add_argument(
        "--output-prefix",
        metavar="NAME",
        default="cosign",
        type=Path,
        help="write NAME.key and NAME.pub (default: cosign)",
    )
    g.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    pair = pipeline.generate_key_pair(args.output_prefix, prompt_or_none())
    if not getattr(args, "quiet", False):
        print(f"Private key written to {pair.private}", file=sys.stderr)
        print(f"Public key written to {pair.public}", file=sys.stderr)
    # Labelled: the sha256 of the public key (SubjectPublicKeyInfo DER), as 'verify' and
    # 'sign' name the key that signed.
    print(f"Public key fingerprint: {pair.fingerprint}")
    return 0
