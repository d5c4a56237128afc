"""hullcheck key generate [--output-prefix NAME]"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from hullcheck.sign import keys


def prompt_or_none() -> object:
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
        "COSIGN_PASSWORD, then HULLCHECK_PASSWORD, else a prompt) and NAME.pub. "
        "Existing files are never overwritten.",
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
    source = keys.password_source(prompt=prompt_or_none(), confirm=True)  # type: ignore[arg-type]
    key = keys.generate()
    private, public = keys.write_key_pair(args.output_prefix, key, source())
    if not getattr(args, "quiet", False):
        print(f"Private key written to {private}", file=sys.stderr)
        print(f"Public key written to {public}", file=sys.stderr)
    print(key.public.fingerprint)
    return 0
