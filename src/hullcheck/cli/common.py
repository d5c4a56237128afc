"""Options and helpers shared by subcommands: output, progress, image access."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hullcheck.errors import UsageError
from hullcheck.fileio import atomic_write
from hullcheck.image import PullOptions


def add_image_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image access")
    g.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="pick this platform from a multi-platform image (default: this machine's, "
                        "then linux/amd64)")
    g.add_argument("--insecure", action="store_true",
                   help="allow plain HTTP and unverified TLS to the registry")
    g.add_argument("--username", help="registry user name (or HULLCHECK_REGISTRY_USERNAME)")
    g.add_argument("--password-stdin", action="store_true",
                   help="read the registry password from standard input")


def pull_options(args: argparse.Namespace) -> PullOptions:
    password = None
    if args.password_stdin:
        if sys.stdin.isatty():
            raise UsageError("--password-stdin: standard input is a terminal; pipe the password in")
        password = sys.stdin.readline().rstrip("\r\n")
    elif args.username:
        password = os.environ.get("HULLCHECK_REGISTRY_PASSWORD")
    return PullOptions(insecure=args.insecure, username=args.username, password=password)


def add_output_options(p: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress or notes on standard error")
    p.add_argument("-o", "--output", metavar="FORMAT", choices=formats,
                   help=f"one of: {', '.join(formats)} (default: table on a terminal, else json)")
    p.add_argument("--file", metavar="PATH", type=Path,
                   help="write the output to PATH (atomically) instead of standard output")


def default_format(args: argparse.Namespace) -> str:
    if args.output:
        return str(args.output)
    to_terminal = args.file is None and sys.stdout.isatty()
    return "table" if to_terminal else "json"


def emit(data: bytes, dest: Path | None) -> None:
    """Write to stdout, or to ``dest`` via a temp file in the same directory and a rename, so a
    failure never leaves a half-written file."""
    if dest is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    atomic_write(dest, data)


def add_attestation_options(p: argparse.ArgumentParser, *, note: str = "") -> None:
    """``--from-attestation PUBKEY``, or ``--from-attestation --key PUBKEY`` as cosign users
    write it."""
    p.add_argument("--from-attestation", nargs="?", const="", metavar="PUBKEY",
                   help="take the packages from the image's CycloneDX/SPDX attestation verified "
                        "with this public key (or --key) instead of reading its layers" + note)
    p.add_argument("--key", metavar="PUBKEY", help="public key for --from-attestation")


def attestation_key(args: argparse.Namespace) -> Path | None:
    if args.from_attestation is None:
        if args.key:
            raise UsageError("--key is only used with --from-attestation")
        return None
    key = args.from_attestation or args.key
    if not key:
        raise UsageError("--from-attestation needs a public key: --from-attestation PUBKEY "
                         "or --from-attestation --key PUBKEY")
    return Path(key)
