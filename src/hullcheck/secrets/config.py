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

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.model import RULE_SEVERITIES
from hullcheck.secrets.rules import RULES, Rule

DEFAULT_MAX_FILE = 10 << 20
MAX_CONFIG = 1 << 20  # rules and allow-lists: real files are a few KiB


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


def _unknown(doc: dict[Any, Any], known: set[str]) -> str | None:
    """The first key of ``doc`` that is not ``known`` (YAML keys may be numbers, dates...)."""
    return min((str(k) for k in doc if k not in known), default=None)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{what}: expected a list of strings")
    return tuple(value)


def _keywords(value: Any, what: str) -> tuple[str, ...]:
    """Lower-cased keywords; each must be non-empty UTF-8 (the prefilter matches their bytes,
    and an empty one would match everywhere, or be refused by the matching engine)."""
    out = []
    for k in _strings(value, what):
        try:
            k.encode()
        except UnicodeEncodeError:
            raise FormatError(f"{what}: {k!r:.60} is not valid text") from None
        if not k:
            raise FormatError(f"{what}: an empty keyword")
        out.append(k.lower())
    return tuple(out)


def _regex(text: str, what: str, *, on_paths: bool = False, joined: bool = False) -> str:
    """``text`` once it compiles as the scanner compiles it: over bytes (contents) or text
    (``on_paths``), alone or ``joined`` with others as ``(?:...)|(?:...)`` (where a global
    flag such as ``(?i)`` is an error)."""
    pattern = f"(?:{text})" if joined else text
    try:
        re.compile(pattern if on_paths else pattern.encode())
    except (re.error, ValueError, OverflowError, RecursionError) as exc:
        raise FormatError(f"{what}: invalid regular expression ({exc})"[:300]) from None
    return text


def _rule(doc: Any, what: str) -> Rule:
    if not isinstance(doc, dict):
        raise FormatError(f"{what}: expected a mapping")
    unknown = _unknown(doc, {"id", "title", "severity", "regex", "keywords", "entropy", "paths"})
    if unknown:
        raise FormatError(f"{what}: unknown field {unknown!r:.80}")
    for key in ("id", "regex"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise FormatError(f"{what}: '{key}' is required (a string)")
    rid = doc["id"]
    severity = next((s for s in RULE_SEVERITIES
                     if s.value == str(doc.get("severity", "medium")).lower()), None)
    if severity is None:
        raise FormatError(f"{what} ({rid}): severity must be one of "
                          f"{', '.join(s.value for s in RULE_SEVERITIES)}")
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
        keywords=_keywords(doc.get("keywords"), f"{what} ({rid}) keywords"),
        entropy=float(entropy),
        paths=_regex(paths, f"{what} ({rid}) paths", on_paths=True) if paths else "",
    )


def parse_config(doc: Any, *, name: str = "secret config") -> SecretConfig:
    if doc is None:
        return SecretConfig()
    if not isinstance(doc, dict):
        raise FormatError(f"{name}: expected a mapping at the top level")
    unknown = _unknown(doc, {"rules", "allow", "max-file-size"})
    if unknown:
        raise FormatError(f"{name}: unknown field {unknown!r:.80}")
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
    unknown = _unknown(allow, {"paths", "regexes", "rules"})
    if unknown:
        raise FormatError(f"{name}: allow: unknown field {unknown!r:.80}")
    paths = tuple(_regex(p, f"{name}: allow.paths", on_paths=True, joined=True) for p in
                  _strings(allow.get("paths"), f"{name}: allow.paths"))
    regexes = tuple(_regex(p, f"{name}: allow.regexes", joined=True) for p in
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
    text = untrusted.read_text(path, what="secret config", limit=MAX_CONFIG)
    return parse_config(untrusted.yaml_document(text, what=str(path)), name=str(path))
