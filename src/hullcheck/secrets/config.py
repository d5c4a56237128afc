"""User rules and allow-lists for the secret scanner, from a YAML file.

    rules:                       # added to the built-in rules
      - id: acme-api-token       # stable id; must not clash with a built-in one
        title: ACME API token
        severity: high           # critical | high | medium | low
        regex: 'acme_(?P<secret>[0-9a-f]{32})'   # Python re; group "secret" is the secret
        keywords: [acme_]        # optional; without keywords the rule runs on every file
        entropy: 3.0             # optional minimum Shannon entropy of the secret
        paths: '\\.env$'         # optional: only files whose path matches
    allow:
      paths: ['^/usr/share/doc/']         # regexes over the file path: not scanned at all
      regexes: ['EXAMPLE', '^AKIAI44QH']  # regexes over the secret or the whole match
      rules: [jwt]                        # rule ids switched off
    max-file-size: 10485760               # bytes; larger files are skipped and counted

A malformed file is a ``FormatError`` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hullcheck.errors import FormatError
from hullcheck.model import Severity
from hullcheck.secrets.rules import RULES, Rule

DEFAULT_MAX_FILE = 10 << 20
MAX_CONFIG = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretConfig:
    rules: tuple[Rule, ...] = RULES
    allow_paths: tuple[str, ...] = ()
    allow_regexes: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.id not in self.disabled)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{what}: expected a list of strings")
    return tuple(value)


def _regex(text: str, what: str) -> str:
    try:
        re.compile(text.encode())
    except re.error as exc:
        raise FormatError(f"{what}: invalid regular expression ({exc})") from None
    return text


def _rule(doc: Any, what: str) -> Rule:
    if not isinstance(doc, dict):
        raise FormatError(f"{what}: expected a mapping")
    unknown = set(doc) - {"id", "title", "severity", "regex", "keywords", "entropy", "paths"}
    if unknown:
        raise FormatError(f"{what}: unknown field {sorted(unknown)[0]!r}")
    for key in ("id", "regex"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise FormatError(f"{what}: '{key}' is required (a string)")
    rid = doc["id"]
    try:
        severity = Severity(str(doc.get("severity", "medium")).lower())
    except ValueError:
        raise FormatError(f"{what} ({rid}): severity must be one of "
                          f"{', '.join(s.value for s in Severity)}") from None
    entropy = doc.get("entropy", 0.0)
    if not isinstance(entropy, int | float) or isinstance(entropy, bool) or entropy < 0:
        raise FormatError(f"{what} ({rid}): entropy must be a non-negative number")
    paths = doc.get("paths", "")
    if not isinstance(paths, str):
        raise FormatError(f"{what} ({rid}): paths must be one regular expression")
    return Rule(
        id=rid,
        title=str(doc.get("title", rid)),
        severity=severity,
        regex=_regex(doc["regex"], f"{what} ({rid}) regex"),
        keywords=tuple(k.lower() for k in _strings(doc.get("keywords"), f"{what} ({rid}) keywords")),
        entropy=float(entropy),
        paths=_regex(paths, f"{what} ({rid}) paths") if paths else "",
    )


def parse_config(doc: Any, *, name: str = "secret config") -> SecretConfig:
    if doc is None:
        return SecretConfig()
    if not isinstance(doc, dict):
        raise FormatError(f"{name}: expected a mapping at the top level")
    unknown = set(doc) - {"rules", "allow", "max-file-size"}
    if unknown:
        raise FormatError(f"{name}: unknown field {sorted(unknown)[0]!r}")
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise FormatError(f"{name}: 'rules' must be a list")
    user = tuple(_rule(r, f"{name}: rules[{i}]") for i, r in enumerate(raw_rules))
    ids = [r.id for r in RULES] + [r.id for r in user]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise FormatError(f"{name}: rule id {dupes[0]!r} is defined twice")
    allow = doc.get("allow") or {}
    if not isinstance(allow, dict):
        raise FormatError(f"{name}: 'allow' must be a mapping")
    unknown = set(allow) - {"paths", "regexes", "rules"}
    if unknown:
        raise FormatError(f"{name}: allow: unknown field {sorted(unknown)[0]!r}")
    paths = tuple(_regex(p, f"{name}: allow.paths") for p in
                  _strings(allow.get("paths"), f"{name}: allow.paths"))
    regexes = tuple(_regex(p, f"{name}: allow.regexes") for p in
                    _strings(allow.get("regexes"), f"{name}: allow.regexes"))
    disabled = _strings(allow.get("rules"), f"{name}: allow.rules")
    missing = [d for d in disabled if d not in ids]
    if missing:
        raise FormatError(f"{name}: allow.rules: unknown rule id {missing[0]!r}")
    max_size = doc.get("max-file-size", DEFAULT_MAX_FILE)
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size <= 0:
        raise FormatError(f"{name}: max-file-size must be a positive number of bytes")
    return SecretConfig(rules=RULES + user, allow_paths=paths, allow_regexes=regexes,
                        disabled=disabled, max_file_size=max_size)


def load_config(path: Path) -> SecretConfig:
    try:
        if path.stat().st_size > MAX_CONFIG:
            raise FormatError(f"{path}: secret config larger than {MAX_CONFIG} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the secret config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: the secret config is not UTF-8") from None
    import yaml  # ~10 ms; only a user's secret config file needs it

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise FormatError(f"{path}: not valid YAML{where}") from None
    return parse_config(doc, name=str(path))
