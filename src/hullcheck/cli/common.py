"""Options and helpers shared by subcommands: output, progress, image access, --timeout."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck import deadline
from hullcheck.errors import UsageError
from hullcheck.fileio import atomic_write
from hullcheck.pipeline import PullOptions, registry_of

if TYPE_CHECKING:
    from hullcheck.signers import Keyless

ENV_USERNAME = "HULLCHECK_REGISTRY_USERNAME"
ENV_PASSWORD = "HULLCHECK_REGISTRY_PASSWORD"  # noqa: S105 (a variable's name, not a secret)


def add_image_options(p: argparse.ArgumentParser, *, timeout: bool = True) -> None:
    """--platform, --insecure, --username, --password-stdin and (unless ``timeout`` is
    False: a server, whose deadlines are per request) --timeout."""
    g = p.add_argument_group("image access")
    g.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="pick this platform from a multi-platform image (default: this machine's, "
                        "then linux/amd64)")
    g.add_argument("--insecure", action="store_true",
                   help="allow plain HTTP and unverified TLS to the registry")
    g.add_argument("--username",
                   help=f"user name for the registry of IMAGE (or {ENV_USERNAME}); never sent to "
                        "another registry, which gets only what Docker's config.json holds for it")
    g.add_argument("--password-stdin", action="store_true",
                   help=f"read the password for the registry of IMAGE from standard input (or "
                        f"{ENV_PASSWORD})")
    if timeout:
        add_timeout_option(g)
        add_cache_options(p)


def add_cache_options(p: argparse.ArgumentParser) -> None:
    """``--cache-dir DIR`` and ``--no-cache``: where each layer's analysis is kept between
    runs (``cli.main`` applies them)."""
    g = p.add_argument_group("layer cache")
    g.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="keep each layer's analysis in DIR and reuse it: a layer is read once, "
                        "whatever image or command brings it again (default: $HULLCHECK_CACHE_DIR, "
                        "else the user cache directory, ~/.cache/hullcheck/layers on Linux)")
    g.add_argument("--no-cache", action="store_true",
                   help="read every layer, and keep nothing for later runs")


@contextlib.contextmanager
def layer_cache(args: argparse.Namespace) -> Iterator[None]:
    """The layer cache the command's options ask for (none unless it has them)."""
    if not hasattr(args, "no_cache"):
        yield
        return
    from hullcheck.layercache import LayerCache
    from hullcheck.pipeline.images import layer_cache as using

    if args.no_cache and args.cache_dir is not None:
        raise UsageError("--cache-dir and --no-cache: choose one")
    with using(None if args.no_cache else LayerCache(args.cache_dir)):
        yield


def add_timeout_option(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--timeout DURATION``: the deadline of the whole command (cli.main applies it)."""
    p.add_argument("--timeout", type=_duration, default=deadline.DEFAULT_TIMEOUT,
                   metavar="DURATION",
                   help="give up after DURATION in all, however slowly servers answer "
                        "(e.g. 30s, 5m, 1h; default 5m)")


def _duration(text: str) -> float:
    try:
        return deadline.parse_duration(text)
    except UsageError as exc:  # argparse reports ArgumentTypeError as a usage error
        raise argparse.ArgumentTypeError(str(exc)) from None


def pull_options(args: argparse.Namespace, images: Sequence[str] | None = None) -> PullOptions:
    """How to reach registries. Explicit (--username, --password-stdin) and environment
    credentials belong to the registry of the image named on the command line (``images``,
    default ``args.image`` or ``args.target``); every other host gets Docker's config only.
    --username with no registry image to belong to is a usage error."""
    if images is None:
        images = [t for t in (getattr(args, "image", None), getattr(args, "target", None)) if t]
    hosts = {registry_of(text) for text in images}
    registry = next(iter(hosts)) if len(hosts) == 1 else None
    username = getattr(args, "username", None)
    password_stdin = getattr(args, "password_stdin", False)
    if (username or password_stdin) and registry is None:
        raise _nowhere_to_send(images, hosts)
    if password_stdin and not username:
        username = os.environ.get(ENV_USERNAME)
        if not username:
            raise UsageError(f"--password-stdin needs --username (or {ENV_USERNAME})")
    password = None
    if password_stdin:
        if sys.stdin.isatty():
            raise UsageError("--password-stdin: standard input is a terminal; pipe the password in")
        password = sys.stdin.readline().rstrip("\r\n")
    elif username:
        password = os.environ.get(ENV_PASSWORD)
    return PullOptions(insecure=getattr(args, "insecure", False), username=username,
                       password=password, registry=registry)


def _nowhere_to_send(images: Sequence[str], hosts: set[str | None]) -> UsageError:
    hint = ("registry credentials go only to the registry of the image named on the command "
            "line; for other registries (a base image's, say) use 'docker login' or Docker's "
            "config.json, which apply by host")
    if not images:
        return UsageError("--username/--password-stdin: this command names no registry image "
                          "for the credentials to belong to", hint=hint)
    local = next((text for text in images if registry_of(text) is None), None)
    if local is not None:
        return UsageError(f"--username/--password-stdin: {local} is not a registry reference "
                          "(a file or directory source), so the credentials belong to no "
                          "registry", hint=hint)
    named = ", ".join(sorted(h for h in hosts if h))
    return UsageError(f"--username/--password-stdin: the images are on different registries "
                      f"({named}); credentials belong to one", hint=hint)


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
    write it, or ``--from-attestation`` with cosign's keyless identity flags."""
    from hullcheck.cli.keyless import add_keyless_options

    p.add_argument("--from-attestation", nargs="?", const="", metavar="PUBKEY",
                   help="take the packages from the image's CycloneDX/SPDX attestation verified "
                        "with this public key (or --key, or keylessly with the --certificate-* "
                        "flags) instead of reading its layers" + note)
    p.add_argument("--key", metavar="PUBKEY", help="public key for --from-attestation")
    add_keyless_options(p)


def attestation_key(args: argparse.Namespace) -> Path | Keyless | None:
    """How to verify the attestation --from-attestation takes packages from."""
    from hullcheck.cli.keyless import keyless_from

    keyless = keyless_from(args)
    if args.from_attestation is None:
        if args.key or keyless:
            raise UsageError("--key and the --certificate-* flags are only used with "
                             "--from-attestation")
        return None
    key = args.from_attestation or args.key
    if key and keyless:
        raise UsageError("--from-attestation: give a public key or the --certificate-* "
                         "identity flags, not both")
    if keyless:
        return keyless
    if not key:
        raise UsageError("--from-attestation needs a public key: --from-attestation PUBKEY "
                         "or --from-attestation --key PUBKEY (or, keyless, "
                         "--certificate-identity and --certificate-oidc-issuer)")
    return Path(key)
