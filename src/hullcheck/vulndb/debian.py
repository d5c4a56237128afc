"""The Debian security tracker's JSON export (``/tracker/data/json``).

Shape: ``{source_package: {CVE-or-TEMP-id: {description, releases: {codename: {status,
fixed_version, urgency, nodsa, nodsa_reason, repositories}}}}}``.

Each tracker id becomes one advisory ``DEBIAN-<id>`` (OSV.dev's spelling, alias the
CVE) with one ``Affected`` per (source package, release): ecosystem ``Debian:<major>``
(``Debian:unstable`` for sid), package = the *source* package, and a status:

    resolved + fixed_version "0"   -> not-affected (no ranges)
    resolved + fixed_version V     -> fixed, range introduced 0 / fixed V
    open (+ nodsa / nodsa_reason)  -> unfixed | no-dsa | postponed | ignored, range introduced 0
    open + urgency end-of-life     -> end-of-life, range introduced 0
    undetermined                   -> undetermined, range introduced 0
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vulndb.model import (
    MAX_DETAILS,
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    Range,
    RangeType,
)

MAX_FILE = 2 * 1024 * 1024 * 1024

CODENAMES = {
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "sid": "unstable",
}

_URGENCY_SEVERITY = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
_URGENCY_ORDER = ("LOW", "MEDIUM", "HIGH")


def ecosystem_for(codename: str) -> str | None:
    version = CODENAMES.get(codename)
    return f"Debian:{version}" if version else None


@dataclass(slots=True)
class _Acc:
    description: str = ""
    severity: str = ""
    affected: list[Affected] = field(default_factory=list)


def read(path: Path, *, source: str, errors: list[FormatError]) -> Iterator[Advisory]:
    """Advisories from one tracker JSON export; malformed entries go to ``errors``."""
    doc = _load(path)
    by_id: dict[str, _Acc] = {}
    for package, entries in doc.items():
        if not isinstance(entries, dict):
            errors.append(FormatError(f"{path}: package {package!r}: expected an object of issues"))
            continue
        for issue, entry in entries.items():
            try:
                _add(by_id, package, issue, entry, path)
            except FormatError as exc:
                errors.append(exc)
    for issue in sorted(by_id):
        acc = by_id[issue]
        details = acc.description
        if len(details) > MAX_DETAILS:
            details = details[: MAX_DETAILS - 1] + "…"
        yield Advisory(
            id=f"DEBIAN-{issue}",
            source=source,
            aliases=(issue,) if issue.startswith("CVE-") else (),
            details=details,
            database_severity=acc.severity,
            affected=tuple(acc.affected),
        )


def _load(path: Path) -> dict[str, Any]:
    data = untrusted.read_file(path, what="Debian tracker export", limit=MAX_FILE)
    doc = untrusted.json_document(data, what=str(path))
    del data  # the export can be large: do not hold its bytes and its objects at once
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: not a Debian tracker export (expected an object of packages)")
    return doc


def _add(by_id: dict[str, _Acc], package: str, issue: str, entry: Any, path: Path) -> None:
    where = f"{path}: DEBIAN-{issue} ({package})"
    if not isinstance(entry, dict):
        raise FormatError(f"{where}: expected an object")
    releases = entry.get("releases") or {}  # the tracker writes [] for "no releases"
    if not isinstance(releases, dict):
        raise FormatError(f"{where}: 'releases' must be an object")
    acc = by_id.setdefault(issue, _Acc())
    description = entry.get("description")
    if isinstance(description, str) and not acc.description:
        acc.description = description
    for codename, rel in sorted(releases.items()):
        eco = ecosystem_for(codename)
        if eco is None:
            raise FormatError(f"{where}: unknown Debian release {codename!r}")
        if not isinstance(rel, dict) or not isinstance(rel.get("status"), str):
            raise FormatError(f"{where}: release {codename!r} needs a string 'status'")
        affected = _release(package, eco, rel, where)
        acc.affected.append(affected)
        word = _URGENCY_SEVERITY.get(affected.urgency.rstrip("*").strip())
        if word and (
            not acc.severity or _URGENCY_ORDER.index(word) > _URGENCY_ORDER.index(acc.severity)
        ):
            acc.severity = word


def _release(package: str, eco: str, rel: dict[str, Any], where: str) -> Affected:
    status_word = rel["status"]
    fixed = rel.get("fixed_version", "")
    urgency = rel.get("urgency", "")
    if not isinstance(fixed, str) or not isinstance(urgency, str):
        raise FormatError(f"{where}: 'fixed_version' and 'urgency' must be strings")
    everything = Range(
        type=RangeType.ECOSYSTEM, events=(Event(kind=EventKind.INTRODUCED, value="0"),)
    )
    if status_word == "resolved":
        if fixed == "0":
            return Affected(
                ecosystem=eco, package=package, status=DistroStatus.NOT_AFFECTED, urgency=urgency
            )
        if not fixed:
            raise FormatError(f"{where}: resolved without a fixed_version")
        rng = Range(
            type=RangeType.ECOSYSTEM,
            events=(
                Event(kind=EventKind.INTRODUCED, value="0"),
                Event(kind=EventKind.FIXED, value=fixed),
            ),
        )
        return Affected(
            ecosystem=eco,
            package=package,
            ranges=(rng,),
            status=DistroStatus.FIXED,
            urgency=urgency,
        )
    if status_word == "open":
        reason = rel.get("nodsa_reason", "")
        if urgency == "end-of-life":
            status = DistroStatus.END_OF_LIFE
        elif reason == "postponed":
            status = DistroStatus.POSTPONED
        elif reason == "ignored":
            status = DistroStatus.IGNORED
        elif rel.get("nodsa") is not None:
            status = DistroStatus.NO_DSA
        else:
            status = DistroStatus.UNFIXED
    elif status_word == "undetermined":
        status = DistroStatus.UNDETERMINED
    else:
        raise FormatError(f"{where}: unknown status {status_word!r}")
    return Affected(
        ecosystem=eco,
        package=package,
        ranges=(everything,),
        all_versions=True,
        status=status,
        urgency=urgency,
    )
