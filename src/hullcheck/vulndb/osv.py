"""OSV records from a directory tree, a ``.zip`` (OSV's per-ecosystem ``all.zip``) or a tarball.

    errors: list[FormatError] = []
    for advisory in osv.read(Path("all.zip"), source="osv-PyPI", errors=errors): ...

Files ending ``.json``, ``.yaml`` or ``.yml`` are read; anything else, and JSON documents
that are not records (no ``id``: indexes, ``all.json`` lists), is skipped. A record
whose shape is wrong is not guessed at: it becomes a ``FormatError`` naming the file
and the record id in ``errors``, and reading goes on. A hostile archive raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vulndb import distros
from hullcheck.vulndb.archive import DEFAULT_LIMITS, Limits, members
from hullcheck.vulndb.model import (
    MAX_DETAILS,
    MAX_REFERENCES,
    Advisory,
    Affected,
    Event,
    EventKind,
    Kind,
    Range,
    RangeType,
    Reference,
    SeverityScore,
)

RECORD_SUFFIXES = (".json", ".yaml", ".yml")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$")
_EVENT_KINDS = {k.value: k for k in EventKind}
CVSS_TYPES = frozenset({"CVSS_V2", "CVSS_V3", "CVSS_V4"})
_RANGE_TYPES = {t.value: t for t in RangeType}


class Skip(Exception):
    """A document that is well-formed but not an OSV record."""


def read(
    path: Path,
    *,
    source: str,
    errors: list[FormatError],
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Advisory]:
    """Advisories from every record file under ``path``; per-record problems go to ``errors``."""
    label = str(path)
    single = not path.is_dir()
    for member in members(path, limits=limits):
        if not member.name.lower().endswith(RECORD_SUFFIXES):
            continue
        origin = label if single and member.name == path.name else f"{label}:{member.name}"
        if member.data is None:
            errors.append(FormatError(f"{origin}: {member.error}"))
            continue
        try:
            doc = load_document(member.data, member.name, what=origin)
        except FormatError as exc:
            errors.append(exc)
            continue
        try:
            advisory = distros.normalise(parse_record(doc, source=source, origin=origin))
        except Skip:
            continue
        except FormatError as exc:
            errors.append(exc)
            continue
        if advisory is not None:
            yield advisory


def load_document(data: bytes, name: str, *, what: str = "") -> Any:
    """The JSON or YAML document of the record file ``name``; FormatError (one line, naming
    ``what``) when it is not one, is nested too deeply, or its YAML aliases would expand."""
    if name.lower().endswith(".json"):
        return untrusted.json_document(data, what=what or name)
    # Strings only: every scalar stays a string, so versions like 1.10 stay "1.10".
    return untrusted.yaml_document(data, what=what or name, strings_only=True)


def parse_record(doc: Any, *, source: str, origin: str) -> Advisory:
    """One OSV record (already decoded) as an ``Advisory``; FormatError when malformed."""
    if not isinstance(doc, dict) or "id" not in doc:
        raise Skip
    rid = doc["id"]
    if not isinstance(rid, str) or not _ID.match(rid):
        raise FormatError(f"{origin}: invalid record id {rid!r}"[:300])
    try:
        return _parse(doc, rid, source)
    except _Bad as exc:
        raise FormatError(f"{origin}: {rid}: {exc}") from None


class _Bad(Exception):
    pass


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be a string")
    return value


def _strs(doc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"'{key}' must be a list of strings")
    return tuple(value)


def _dicts(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _Bad(f"'{key}' must be a list of objects")
    return value


def _parse(doc: dict[str, Any], rid: str, source: str) -> Advisory:
    kind = Kind.MALICIOUS if rid.startswith("MAL-") else Kind.VULNERABILITY
    severities = tuple(
        SeverityScore(
            type=_need_str(s, "type", "severity"), score=_need_str(s, "score", "severity")
        )
        for s in _dicts(doc, "severity")
    )
    dbs = doc.get("database_specific")
    db_severity = dbs.get("severity", "") if isinstance(dbs, dict) else ""
    if not isinstance(db_severity, str) or not db_severity:
        # A database's own word as a severity entry of its own type ("Ubuntu": "medium").
        db_severity = next((s.score for s in severities if s.type not in CVSS_TYPES), "")
    refs = [
        Reference(type=_need_str(r, "type", "references"), url=_need_str(r, "url", "references"))
        for r in _dicts(doc, "references")
    ]
    refs.sort(key=lambda r: r.type != "ADVISORY")  # stable: advisories first
    affected = tuple(
        a for a in (_affected(x, kind, i) for i, x in enumerate(_dicts(doc, "affected"))) if a
    )
    details = _str(doc, "details")
    if len(details) > MAX_DETAILS:
        details = details[: MAX_DETAILS - 1] + "…"
    aliases, related = _upstream(_strs(doc, "aliases"), _strs(doc, "related"),
                                 _strs(doc, "upstream"))
    return Advisory(
        id=rid,
        source=source,
        kind=kind,
        aliases=aliases,
        related=related,
        summary=_str(doc, "summary")[:1000],
        details=details,
        published=_str(doc, "published"),
        modified=_str(doc, "modified"),
        withdrawn=_str(doc, "withdrawn"),
        severities=severities,
        database_severity=db_severity if isinstance(db_severity, str) else "",
        references=tuple(refs[:MAX_REFERENCES]),
        affected=affected,
    )


_CVE = re.compile(r"CVE-\d{4}-\d+")


def _upstream(aliases: tuple[str, ...], related: tuple[str, ...], upstream: tuple[str, ...]
              ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``upstream`` (OSV 1.7: the vulnerabilities a distro record derives from) joins the
    aliases when it names one vulnerability (UBUNTU-CVE-2025-1 -> CVE-2025-1; a CGA record's
    CVE and GHSA), so the records merge into one finding; an advisory fixing several
    (an RHSA, a USN) only relates to them."""
    if not upstream:
        return aliases, related
    cves = {m.group(0) for u in upstream if (m := _CVE.search(u))}
    if len(cves) <= 1:
        return tuple(dict.fromkeys((*aliases, *upstream))), related
    return aliases, tuple(dict.fromkeys((*related, *upstream)))


def _need_str(d: dict[str, Any], key: str, where: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value:
        raise _Bad(f"'{where}' entry needs a string '{key}'")
    return value


def _affected(d: dict[str, Any], kind: Kind, index: int) -> Affected | None:
    where = f"affected[{index}]"
    pkg = d.get("package")
    if pkg is None:
        return None  # GIT-only entries (no package) cannot be matched by package
    if not isinstance(pkg, dict):
        raise _Bad(f"{where}.package must be an object")
    eco, name = pkg.get("ecosystem"), pkg.get("name")
    if not isinstance(eco, str) or not eco or not isinstance(name, str) or not name:
        raise _Bad(f"{where}.package needs string 'ecosystem' and 'name'")
    purl = pkg.get("purl", "")
    ranges = d.get("ranges") or []
    if not isinstance(ranges, list):
        raise _Bad(f"{where}.ranges must be a list")
    parsed = tuple(_range(r, f"{where}.ranges[{i}]") for i, r in enumerate(ranges))
    versions = d.get("versions") or []
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise _Bad(f"{where}.versions must be a list of strings")
    everything = any(r.covers_everything for r in parsed) or (
        kind is Kind.MALICIOUS and not parsed and not versions
    )
    return Affected(
        ecosystem=eco,
        package=name,
        purl=purl if isinstance(purl, str) else "",
        ranges=parsed,
        versions=tuple(versions),
        all_versions=everything,
    )


def _range(r: Any, where: str) -> Range:
    if not isinstance(r, dict):
        raise _Bad(f"{where} must be an object")
    kind = r.get("type")
    rtype = _RANGE_TYPES.get(kind) if isinstance(kind, str) else None
    if rtype is None:
        raise _Bad(f"{where}.type {kind!r:.60} is not ECOSYSTEM, SEMVER or GIT")
    events = r.get("events")
    if not isinstance(events, list) or not events:
        raise _Bad(f"{where}.events must be a non-empty list")
    out: list[Event] = []
    for j, e in enumerate(events):
        if not isinstance(e, dict) or len(e) != 1:
            raise _Bad(f"{where}.events[{j}] must be an object with exactly one key")
        ((key, value),) = e.items()
        ekind = _EVENT_KINDS.get(key)
        if ekind is None or not isinstance(value, str) or not value:
            raise _Bad(f"{where}.events[{j}] has an unknown event or a non-string value")
        out.append(Event(kind=ekind, value=value))
    if not any(e.kind is EventKind.INTRODUCED for e in out):
        raise _Bad(f"{where} has no 'introduced' event")
    repo = r.get("repo", "")
    if rtype is RangeType.GIT and (not isinstance(repo, str) or not repo):
        raise _Bad(f"{where} is a GIT range without a 'repo'")
    return Range(type=rtype, events=tuple(out), repo=repo if isinstance(repo, str) else "")
