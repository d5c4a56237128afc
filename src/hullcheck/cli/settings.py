"""Every option also from the environment and a settings file, as Trivy takes its flags.

    HULLCHECK_FAIL_ON=high hullcheck scan IMAGE          # --fail-on high
    hullcheck --config ci.yaml scan IMAGE                # or ./hullcheck.yaml, if present

An option ``--NAME`` is ``HULLCHECK_NAME`` (upper case, ``-`` as ``_``) and the key ``NAME``
of the settings file: at its top (for every command that has the option) or under the
command's name (``scan:``; ``db:`` then ``import:`` for a subcommand), the more specific
winning. Precedence: the command line, then the environment, then the file, then the
option's default. Values are checked as the command line's are (a bad one is one line
naming where it came from). Switches take true/false (yes/no, on/off, 1/0); repeatable
options take a YAML list, or a comma-separated variable. ``--config`` (the settings file
itself), ``--help`` and ``--version`` are not settings. Done by hand over argparse's own
option table (configargparse and friends do not map subcommands' options): the values
become the parser's defaults, so the command line still wins and every check still runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import UsageError

ENV_PREFIX = "HULLCHECK_"
DEFAULT_FILE = "hullcheck.yaml"  # read from the working directory when --config is not given
MAX_SETTINGS = 1 << 20
ORIGIN = "settings_origin"  # the namespace attribute: option -> where its value came from
_NOT_SETTINGS = frozenset({"help", "version", "config", "settings_file"})
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0", ""})


class Settings:
    """The environment and a settings file, looked up per option."""

    def __init__(self, env: Mapping[str, str], path: Path | None) -> None:
        self.env = env
        self.path = path
        self.doc: dict[str, Any] = _read(path) if path is not None else {}

    def lookup(self, chain: Sequence[str], key: str) -> tuple[Any, str] | None:
        """The value of option ``key`` for the command ``chain`` and where it came from."""
        var = ENV_PREFIX + key.upper().replace("-", "_")
        if var in self.env:
            return self.env[var], var
        found: tuple[Any, str] | None = None
        section: Any = self.doc
        where: list[str] = []
        for name in ("", *chain):  # the top, then each command's section: the last wins
            if name:
                section = section.get(name) if isinstance(section, dict) else None
                where.append(name)
                if not isinstance(section, dict):
                    break
            for spelled in (key, key.replace("-", "_")):
                value = section.get(spelled)
                if value is not None and not isinstance(value, dict):
                    found = value, f"{self.path}: {'.'.join([*where, spelled])}"
        return found

    def check_sections(self, chain: Sequence[str], known: set[str], subcommands: set[str]
                       ) -> None:
        """A command's own section names only its options (and its subcommands' sections):
        a misspelt setting there is an error, not silently nothing."""
        section: Any = self.doc
        for name in chain:
            section = section.get(name) if isinstance(section, dict) else None
            if not isinstance(section, dict):  # none, or a value: "db: PATH" is --db's
                return
        unknown = sorted(k for k in section if str(k).replace("_", "-") not in known
                         and k not in subcommands)
        if unknown:
            raise UsageError(f"{self.path}: {'.'.join(chain)}: unknown setting "
                             f"{untrusted_name(unknown[0])}",
                             hint=f"'hullcheck {' '.join(chain)} --help' lists its options")


def untrusted_name(key: object) -> str:
    text = str(key)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _read(path: Path) -> dict[str, Any]:
    data = untrusted.read_file(path, what="settings file", limit=MAX_SETTINGS, error=UsageError)
    doc = untrusted.yaml_document(data, what=str(path), error=UsageError, strings_only=True)
    if doc is None or doc == "":
        return {}
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a mapping of settings (option: value)")
    return doc


def settings_file(argv: list[str], own_config: bool, cwd: Path) -> tuple[Path | None, list[str]]:
    """The settings file and the arguments without it: ``--config FILE`` before the command
    (or after it, for a command that has no ``--config`` of its own), else
    ``./hullcheck.yaml`` when it exists."""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    for i, arg in enumerate(argv):
        if i > command and own_config:
            break
        if arg == "--config" or arg.startswith("--config="):
            value = arg.partition("=")[2] if "=" in arg else (
                argv[i + 1] if i + 1 < len(argv) else "")
            if not value:
                raise UsageError("--config: name the settings file")
            path = Path(value)
            if not path.exists():
                raise UsageError(f"--config: no such file: {path}")
            rest = argv[:i] + argv[i + (1 if "=" in arg else 2):]
            return path, rest
    default = cwd / DEFAULT_FILE
    return (Path(DEFAULT_FILE) if default.is_file() else None), argv


def apply(parser: argparse.ArgumentParser, argv: Sequence[str], settings: Settings) -> None:
    """Set the defaults of the options of the command ``argv`` runs (and of the top-level
    parser) from ``settings``, for the options not on the command line."""
    given = _given(argv)
    origin: dict[str, str] = {}  # one dict, shared by every parser of the chain
    for chain, p in command_chain(parser, argv):
        _apply_to(p, chain, given, settings, origin)


def command_chain(parser: argparse.ArgumentParser, argv: Sequence[str]
                  ) -> list[tuple[list[str], argparse.ArgumentParser]]:
    """The parsers ``argv`` goes through, each with the command words leading to it."""
    out: list[tuple[list[str], argparse.ArgumentParser]] = [([], parser)]
    while (sub := _subcommand(out[-1][1], argv)) is not None:
        out.append(([*out[-1][0], sub[0]], sub[1]))
    return out


def _apply_to(p: argparse.ArgumentParser, chain: list[str], given: set[str],
              settings: Settings, origin: dict[str, str]) -> None:
    options = [a for a in p._actions if a.option_strings and a.dest not in _NOT_SETTINGS]
    subs = {n for a in p._actions if isinstance(a, argparse._SubParsersAction)
            for n in a.choices}
    if chain:
        settings.check_sections(chain, {_key(a) for a in options}, subs)
    values: dict[str, Any] = {}
    for action in options:
        if given & set(action.option_strings):
            continue
        found = settings.lookup(chain, _key(action))
        if found is None:
            continue
        raw, where = found
        values[action.dest] = _convert(action, raw, where)
        origin[_flag(action)] = where
        action.required = False  # given, through the environment or the file
    if values:
        p.set_defaults(**values, **{ORIGIN: origin})


def _flag(action: argparse.Action) -> str:
    long = [o for o in action.option_strings if o.startswith("--")]
    return long[0] if long else action.option_strings[0]


def _key(action: argparse.Action) -> str:
    return _flag(action).lstrip("-")


def _convert(action: argparse.Action, raw: Any, where: str) -> Any:
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction
                  | argparse._StoreConstAction):
        on = _switch(raw, where)
        if isinstance(action, argparse._StoreFalseAction):
            return not on
        return action.const if on else action.default
    if isinstance(action, argparse._AppendAction):
        items = raw if isinstance(raw, list) else [s for s in str(raw).split(",") if s.strip()]
        return [_one(action, item, where) for item in items]
    if isinstance(raw, list):
        raise UsageError(f"{where}: one value, not a list")
    if action.nargs == "?" and str(raw).strip().lower() in _TRUE | {""}:
        return action.const  # an option whose value may be left out, given without one
    return _one(action, raw, where)


def _switch(raw: Any, where: str) -> bool:
    text = str(raw).strip().lower() if not isinstance(raw, list | dict) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{where}: {untrusted_name(raw)} is neither true nor false")


def _one(action: argparse.Action, raw: Any, where: str) -> Any:
    if not isinstance(raw, str):
        kind = "list" if isinstance(raw, list) else "mapping"
        raise UsageError(f"{where}: one value, not a {kind}")
    text = raw.strip()
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise UsageError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise UsageError(f"{where}: {untrusted_name(text)} is not one of "
                         f"{', '.join(map(str, action.choices))}")
    return value


def _given(argv: Sequence[str]) -> set[str]:
    """The options on the command line (``--name``, ``--name=value``, ``-o``, ``-ojson``)."""
    out = set()
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("--"):
            out.add(arg.partition("=")[0])
        elif arg.startswith("-") and len(arg) > 1:
            out.add(arg[:2])
    return out


def _subcommand(p: argparse.ArgumentParser, argv: Sequence[str]
                ) -> tuple[str, argparse.ArgumentParser] | None:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = next((a for a in argv if a in action.choices), None)
            return (name, action.choices[name]) if name is not None else None
    return None


def attribute(args: argparse.Namespace | None, message: str) -> str:
    """``message`` about an option (``--fail-on: ...``) naming where its value came from
    when that was the environment or the settings file, not the command line."""
    found: dict[str, str] = getattr(args, ORIGIN, None) or {}
    for flag, where in found.items():
        if message.startswith((f"{flag}:", f"{flag} ")):
            return f"{where} ({flag}){message[len(flag):]}"
    return message
