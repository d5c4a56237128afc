"""Options and helpers shared by subcommands: output, progress, image access, --timeout."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck import deadline
from hullcheck.errors import UsageError
from hullcheck.fileio import write_output
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

    with using(None if _no_cache(args) else LayerCache(args.cache_dir)):
        yield


def _no_cache(args: argparse.Namespace) -> bool:
    """Whether ``--no-cache`` wins over a ``--cache-dir``: the one on the command line wins
    over the other from the environment or settings file ($HULLCHECK_CACHE_DIR names the
    default directory); both from the same place are a usage error."""
    from hullcheck.cli.settings import ORIGIN, attribute

    if not (args.no_cache and args.cache_dir is not None):
        return bool(args.no_cache)
    origin: dict[str, str] = getattr(args, ORIGIN, None) or {}
    dir_given, no_given = "--cache-dir" not in origin, "--no-cache" not in origin
    if dir_given == no_given:
        raise UsageError(attribute(args, "--cache-dir and --no-cache: choose one"))
    return no_given


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


@dataclass(frozen=True, slots=True)
class Output:
    """One ``-o FORMAT[=FILE]``: a format and where it goes (None: standard output)."""

    format: str
    path: Path | None = None


def _output_type(formats: tuple[str, ...]) -> Callable[[str], Output]:
    def parse(text: str) -> Output:
        fmt, eq, file = text.partition("=")
        if fmt not in formats:
            raise argparse.ArgumentTypeError(
                f"unknown format {fmt!r}: choose from {', '.join(formats)}")
        if eq and not file:
            raise argparse.ArgumentTypeError(f"{text!r}: name the file after '='")
        return Output(fmt, Path(file) if file else None)

    return parse


def add_output_options(p: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    """-q, -o FORMAT[=FILE] (repeatable, as Syft's and Grype's) and --file."""
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress or notes on standard error")
    p.add_argument("-o", "--output", metavar="FORMAT[=FILE]", action="append", default=[],
                   type=_output_type(formats),
                   help=f"one of: {', '.join(formats)} (default: table); =FILE writes it to "
                        "FILE; repeat for several outputs of one run (-o table -o json=out.json)")
    p.add_argument("--file", metavar="PATH", type=Path,
                   help="write the output named without =FILE to PATH (atomically) instead of "
                        "standard output")


def outputs(args: argparse.Namespace) -> tuple[Output, ...]:
    """The outputs asked for: each -o, those without a file going to --file or standard
    output (only one may); a table when none is named, as Trivy, Grype and Syft print."""
    chosen = [o if o.path is not None else Output(o.format, args.file)
              for o in (args.output or [Output("table")])]
    if args.file is not None and args.file not in (o.path for o in chosen):
        raise UsageError("--file: every -o names its own file; --file is for the output "
                         "named without one")
    if sum(o.path is None for o in chosen) > 1:
        raise UsageError("-o: only one output can go to standard output; write the others to "
                         "files (-o FORMAT=FILE)")
    files = [o.path.resolve() for o in chosen if o.path is not None]
    if len(set(files)) != len(files):
        raise UsageError("-o: two outputs name the same file")
    return tuple(chosen)


def shows_table(outs: Sequence[Output]) -> bool:
    """Whether a table goes to standard output (it holds the notes a command would print)."""
    return any(o.format == "table" and o.path is None for o in outs)


def terminal_width(dest: Path | None) -> int | None:
    """The width a table written to ``dest`` should fit: the terminal's (or $COLUMNS) on
    standard output, None (the renderer's default) for a file or a pipe."""
    if dest is None and (sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()):
        return shutil.get_terminal_size().columns
    return None


def write_outputs(outs: Sequence[Output], render: Callable[[str, int | None], bytes]) -> None:
    """Render and write each output; ``render(format, width)``."""
    for o in outs:
        emit(render(o.format, terminal_width(o.path)), o.path)


def emit(data: bytes, dest: Path | None) -> None:
    """Write to stdout, or to ``dest`` via a temp file in the same directory and a rename, so a
    failure never leaves a half-written file (a FIFO or device, e.g. /dev/null, as it is)."""
    if dest is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_output(dest, data)


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
