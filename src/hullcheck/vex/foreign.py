"""Trivy's and Grype's ignore files, read as hullcheck ignore rules so a user can switch
without rewriting them. The mapping (docs/ignore-files.md):

``.trivyignore`` (text): one id a line, ``exp:YYYY-MM-DD`` after it, ``#`` comments; a
block of comment lines is the reason of the ids right under it.

``.trivyignore.yaml``: ``vulnerabilities`` entries: ``id``; ``statement`` (the reason);
``purls`` (any of); ``paths`` (globs on the package's location); ``expired_at``. Entries
under ``misconfigurations``, ``secrets`` and ``licenses`` are noted, not applied.

``.grype.yaml``: the ``ignore`` list (its other settings are not read): ``vulnerability``;
``reason``; ``fix-state`` (fixed, not-fixed, wont-fix; ``unknown`` matches nothing: hullcheck
knows each finding's state); ``package`` ``name``/``version``/``type``/``language``/
``location`` (glob)/``upstream-name``; ``match-type`` (exact-direct-match,
exact-indirect-match; ``cpe-match`` matches nothing: hullcheck does not match by CPE).
Aliases always count (as ``include-aliases: true``). Rules with ``namespace``,
``vex-status`` or ``vex-justification`` are noted, not applied.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hullcheck.errors import FormatError
from hullcheck.vex.model import IgnoreRule

MAX_ID = 256  # longer is no vulnerability id
TRIVY_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
_TRIVY_FIELDS = ("id", "paths", "purls", "expired_at", "statement")
_GRYPE_FIELDS = ("vulnerability", "reason", "fix-state", "package", "match-type", "namespace",
                 "vex-status", "vex-justification", "include-aliases")
_GRYPE_ONLY = set(_GRYPE_FIELDS) - {"reason", "package"}  # hullcheck's own rules have those
_GRYPE_PACKAGE = ("name", "version", "type", "language", "location", "upstream-name")
# Grype's fix states as hullcheck's finding statuses (hullcheck's "deferred" is not fixed yet).
_FIX_STATES = {"fixed": ("fixed",), "not-fixed": ("not-fixed", "deferred"),
               "wont-fix": ("wont-fix",), "unknown": ("unknown",)}
_MATCH_TYPES = {"exact-direct-match": "direct", "exact-indirect-match": "source-package",
                "cpe-match": "cpe"}
# Grype's package types and languages as purl types (the others are compared as written).
_GRYPE_TYPES = {"python": "pypi", "go-module": "golang", "go": "golang",
                "java-archive": "maven", "jenkins-plugin": "maven", "java": "maven",
                "rust-crate": "cargo", "rust": "cargo", "php-composer": "composer",
                "php": "composer", "dotnet": "nuget", "binary": "generic", "ruby": "gem",
                "javascript": "npm"}


def is_grype(doc: dict[str, Any], name: str) -> bool:
    """Whether a YAML ignore file is Grype's: named so, or its rules use Grype's fields."""
    if "grype" in name.lower():
        return True
    items = doc.get("ignore")
    return isinstance(items, list) and any(
        isinstance(i, dict) and "id" not in i and (
            set(i) & _GRYPE_ONLY or isinstance(i.get("package"), dict)) for i in items)


def is_trivy_yaml(doc: dict[str, Any]) -> bool:
    return "ignore" not in doc and bool(set(doc) & set(TRIVY_SECTIONS))


def trivy_text(text: str, source: str) -> list[IgnoreRule]:
    """``.trivyignore``: as Trivy reads it (fields split on blanks, the first the id)."""
    rules: list[IgnoreRule] = []
    comments: list[str] = []  # the comment block over the ids that follow it
    after_id = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            comments, after_id = [], False
            continue
        if line.startswith("#"):
            comments = [*([] if after_id else comments), line.lstrip("#").strip()]
            after_id = False
            continue
        after_id = True
        vid, *rest = line.split()
        where = f"{source}:{n}"
        _check_id(vid, where)
        expires = None
        for word in rest:
            if word.startswith("exp:"):
                expires = _date(word[4:], f"{where}: exp")
        reason = " ".join(c for c in comments if c) or f"listed in {source}"
        rules.append(IgnoreRule(id=vid, reason=reason, expires=expires, source=source))
    return rules


def trivy_yaml(doc: dict[str, Any], source: str) -> list[IgnoreRule]:
    unknown = set(doc) - set(TRIVY_SECTIONS)
    if unknown:
        raise FormatError(f"{source}: unknown section(s) {', '.join(sorted(unknown)[:5])} "
                          f"(Trivy's ignore file has {', '.join(TRIVY_SECTIONS)})")
    rules: list[IgnoreRule] = []
    for section in TRIVY_SECTIONS:
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise FormatError(f"{source}: {section} must be a list")
        for i, item in enumerate(items):
            rules.extend(_trivy_entry(item, f"{source}: {section}[{i}]", source, section))
    return rules


def _trivy_entry(item: Any, where: str, source: str, section: str) -> list[IgnoreRule]:
    fields = _mapping(item, where, _TRIVY_FIELDS)
    vid = _text(fields, "id", where)
    if not vid:
        raise FormatError(f"{where}: 'id' is required")
    _check_id(vid, where)
    expired = _text(fields, "expired_at", where)
    expires = _date(expired[:10], f"{where}: expired_at") if expired else None
    purls = _texts(fields, "purls", where)
    inert = "" if section == "vulnerabilities" else (
        f"Trivy's {section} entries: hullcheck's ignore files mark vulnerabilities only")
    base = IgnoreRule(id=vid, reason=_text(fields, "statement", where) or f"listed in {source}",
                      expires=expires, source=source, paths=_texts(fields, "paths", where),
                      inert=inert)
    if not purls:
        return [base]
    return [_replace(base, package=p) for p in purls]  # any of the purls


def grype(doc: dict[str, Any], source: str) -> list[IgnoreRule]:
    items = doc.get("ignore") or []
    if not isinstance(items, list):
        raise FormatError(f"{source}: ignore must be a list of rules")
    return [_grype_rule(item, f"{source}: ignore[{i}]", source) for i, item in enumerate(items)]


def _grype_rule(item: Any, where: str, source: str) -> IgnoreRule:
    fields = _mapping(item, where, _GRYPE_FIELDS)
    pkg = _mapping(fields.get("package") or {}, f"{where}: package", _GRYPE_PACKAGE)
    vid = _text(fields, "vulnerability", where)
    if vid:
        _check_id(vid, where)
    state = _text(fields, "fix-state", where)
    if state and state not in _FIX_STATES:
        raise FormatError(f"{where}: fix-state {state[:40]!r} is not one of "
                          f"{', '.join(_FIX_STATES)}")
    match_type = _text(fields, "match-type", where)
    if match_type and match_type not in _MATCH_TYPES:
        raise FormatError(f"{where}: match-type {match_type[:40]!r} is not one of "
                          f"{', '.join(_MATCH_TYPES)}")
    at = f"{where}: package"
    kinds = [_GRYPE_TYPES.get(t, t) for t in (_text(pkg, "type", at),
                                              _text(pkg, "language", at)) if t]
    location = _text(pkg, "location", at)
    rule = IgnoreRule(
        id=vid, reason=_text(fields, "reason", where) or f"listed in {source}", source=source,
        package=_text(pkg, "name", at), version=_text(pkg, "version", at),
        types=tuple(dict.fromkeys(kinds)), paths=(location,) if location else (),
        upstream=_text(pkg, "upstream-name", at),
        statuses=_FIX_STATES.get(state, ()), via=_MATCH_TYPES.get(match_type, ""))
    unread = [f for f in ("namespace", "vex-status", "vex-justification") if fields.get(f)]
    if unread:
        return _replace(rule, inert=f"Grype rules with {unread[0]}: hullcheck cannot tell "
                                    "which findings they mean")
    if len(kinds) == 2 and kinds[0] != kinds[1]:
        return _replace(rule, inert="Grype rules whose package type and language disagree")
    if not (vid or rule.package or rule.version or rule.types or rule.paths or rule.upstream
            or rule.statuses or rule.via):
        return _replace(rule, inert="Grype rules that name nothing to match")
    return rule


def _replace(rule: IgnoreRule, **changes: Any) -> IgnoreRule:
    import dataclasses

    return dataclasses.replace(rule, **changes)


def _mapping(item: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    if item == "":  # "package:" with nothing under it
        return {}
    if not isinstance(item, dict):
        raise FormatError(f"{where} must be a mapping")
    unknown = set(item) - set(known)
    if unknown:
        raise FormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown)[:5])}")
    return item


def _text(fields: dict[str, Any], key: str, where: str) -> str:
    value = fields.get(key, "")
    if not isinstance(value, str):
        kind = "a list" if isinstance(value, list) else "a mapping"
        raise FormatError(f"{where}: {key} must be a single value, not {kind}")
    return value.strip()


def _texts(fields: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = fields.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{where}: {key} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _check_id(vid: str, where: str) -> None:
    if len(vid) > MAX_ID or not vid.isprintable() or any(c.isspace() for c in vid):
        raise FormatError(f"{where}: {vid[:40]!r} is not a vulnerability id")


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormatError(f"{where} {text[:40]!r} is not a YYYY-MM-DD date") from None
