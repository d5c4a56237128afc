"""The ``hullcheck`` command: parse arguments, dispatch, turn errors into one line + exit code.

Exit codes: 0 success / clean; 1 findings at or over --fail-on, or verification failed;
2 usage or input error (bad arguments, unreadable image or document, registry refused,
deadline passed); 3 internal error (a bug: one line, ``--debug`` for the traceback);
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from hullcheck import __version__, deadline
from hullcheck.cli import settings
from hullcheck.errors import INTERNAL_ERROR_EXIT, HullcheckError, printable

# name -> (module that registers it, one-line help). Only the module of the command being
# run is imported: all of them (cryptography, httpx, cyclonedx, cel...) would take longer to
# import than a small image's SBOM takes to make (bench/README.md).
COMMANDS: dict[str, tuple[str, str]] = {
    "sbom": ("sbom", "list what is inside an image (SBOM)"),
    "scan": ("scan", "find vulnerabilities and malicious packages in an image or an SBOM"),
    "secrets": ("secrets", "find secrets in every layer of an image, its config and history"),
    "config": ("config", "check an image's configuration (root user, healthcheck, set-id files)"),
    "db": ("db", "manage the advisory database"),
    "base": ("base", "which base image an image was built on: trust, freshness, end of life"),
    "key": ("key", "generate signing keys (cosign-compatible)"),
    "sign": ("sign", "sign an image (cosign-compatible)"),
    "verify": ("verify", "verify an image's signatures (cosign-compatible)"),
    "attest": ("attest", "attach a signed in-toto attestation to an image"),
    "verify-attestation": ("attest", "verify an image's attestations, print their predicates"),
    "policy": ("policy", "judge an image against a policy: pass, warn or fail, with reasons"),
    "serve": ("serve", "run a hullcheck service (admission webhook, monitoring service)"),
    "worker": ("worker", "run the monitoring service's jobs (scans, re-matches, deliveries)"),
    "token": ("token", "manage the monitoring service's API tokens"),
    "push": ("push", "scan an image here and upload the result to a monitoring service"),
    "query": ("query", "ask a monitoring service where a package or advisory ships"),
    "cache": ("cache", "show or empty the layer cache (each layer's analysis, kept between runs)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"hullcheck: error: {message}", file=sys.stderr)
        sys.exit(2)


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first argument that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(prog="hullcheck",
                     description="Container supply-chain security: SBOMs, vulnerabilities, "
                                 "signatures, base images and policy.")
    parser.add_argument("--version", action="version", version=f"hullcheck {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or notes on standard error")
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an internal error (also after the command)")
    parser.add_argument("--config", metavar="FILE", dest="settings_file",
                        help=f"settings file (default: ./{settings.DEFAULT_FILE} if present): "
                             "any option as 'name: value', at the top or under a command's "
                             "name; every option also as HULLCHECK_NAME in the environment. "
                             "The command line wins, then the environment, then the file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    wanted = _command_in(argv)
    modules = [COMMANDS[wanted][0]] if wanted else sorted({m for m, _ in COMMANDS.values()})
    registered: set[str] = set()
    for module in modules:
        importlib.import_module(f"hullcheck.cli.{module}").register(sub)
        registered.update(sub.choices)
    for name, (_, help_text) in COMMANDS.items():
        if name not in registered:  # listed in --help; its module loads when it is run
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _deadline_label(args: argparse.Namespace) -> str:
    """What a --timeout message names: the command and what it was given ("sbom IMAGE")."""
    words = [str(args.command)]
    words += [str(getattr(args, a)) for a in ("policy_command", "db_command")
              if getattr(args, a, None)]
    for attr in ("image", "target", "words", "paths"):
        value = getattr(args, attr, None)
        if value:
            words += [str(v) for v in value] if isinstance(value, list) else [str(value)]
            break
    return " ".join(words)


def _settings(parser: argparse.ArgumentParser, argv: list[str]
              ) -> tuple[list[str], Path | None]:
    """Option defaults from HULLCHECK_* variables and the settings file (``cli.settings``);
    the arguments without ``--config FILE``, and the file when it was found, not named."""
    command = settings.command_chain(parser, argv)[-1][1]
    own = any("--config" in a.option_strings for a in command._actions)
    path, rest = settings.settings_file(argv, own, Path.cwd())
    settings.apply(parser, rest, settings.Settings(os.environ, path))
    return rest, (path if path is not None and len(rest) == len(argv) else None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line, as Trivy accepts it.
    debug = "--debug" in argv or os.environ.get("HULLCHECK_DEBUG", "").lower() in ("1", "true")
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser(argv)
    try:
        argv, implicit = _settings(parser, argv)
    except HullcheckError as exc:
        print(f"hullcheck: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    args = parser.parse_args(argv)
    if implicit is not None and not getattr(args, "quiet", False):
        print(f"hullcheck: note: settings read from ./{implicit} (--config FILE names "
              "another)", file=sys.stderr)
    try:
        # --timeout (commands that touch the network): one deadline for the whole command,
        # which every network wait below honours (hullcheck.deadline).
        with deadline.within(getattr(args, "timeout", None), _deadline_label(args)), \
                _layer_cache(args):
            return int(args.func(args))
    except HullcheckError as exc:
        print(f"hullcheck: error: {settings.attribute(args, str(exc))}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hullcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, never as a result
        if debug:
            traceback.print_exc()
        # Escaped like every HullcheckError: the text may quote what a server sent.
        detail = printable(" ".join(str(exc).split())[:300])
        print(f"hullcheck: internal error: {type(exc).__name__}"
              + (f": {detail}" if detail else ""), file=sys.stderr)
        print("hint: this is a bug in hullcheck; run again with --debug for the traceback "
              "and report it", file=sys.stderr)
        return INTERNAL_ERROR_EXIT


def _layer_cache(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """--cache-dir / --no-cache (commands that read images; see cli.common)."""
    if not hasattr(args, "no_cache"):
        return contextlib.nullcontext()
    from hullcheck.cli.common import layer_cache

    return layer_cache(args)


def tune_gc() -> None:
    """A scan allocates hundreds of thousands of small objects that form no cycles (file
    entries, packages): collect young objects less often (bench/README.md)."""
    gc.set_threshold(50_000, 20, 20)


def freeze_imports(argv: Sequence[str]) -> None:
    """Import the module of the command in ``argv``, then move every object the imports made
    (modules, classes, functions: ~34,000 for ``sbom``) out of the collector's sight: they
    live as long as the process, and each collection would otherwise walk them again
    (bench/README.md: a small image's SBOM)."""
    wanted = _command_in(argv)
    if wanted is not None:
        importlib.import_module(f"hullcheck.cli.{COMMANDS[wanted][0]}")
    gc.freeze()


def entry() -> None:
    tune_gc()
    freeze_imports(sys.argv[1:])
    code = main()
    # Leave without the interpreter's teardown, which frees a read image's file tree object by
    # object: every file we write is closed by now, thread pools are joined and spool files
    # are unlinked; only the standard streams are still buffered.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (hullcheck ... | head): not an error
        pass
    os._exit(code)
