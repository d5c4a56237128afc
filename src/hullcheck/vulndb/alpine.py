"""Alpine secdb files (``secdb.alpinelinux.org/v3.NN/{main,community}.json``, or the YAML form),
and the same format as Wolfi and Chainguard publish it (``packages.wolfi.dev/os/security.json``,
``packages.cgr.dev/chainguard/security.json``): one file for the whole distro, with no
``distroversion``, read with ``distro="Wolfi"`` / ``"Chainguard"`` (records ``WOLFI-<CVE>``,
ecosystem ``Wolfi``).

Shape: ``{distroversion: "v3.11", reponame, packages: [{pkg: {name, secfixes:
{"1.2.3-r0": ["CVE-..."]}}}]}``. Each CVE becomes one advisory ``ALPINE-<CVE>`` (OSV.dev's
spelling) with one ``Affected`` per (package, branch): ecosystem ``Alpine:v3.11``,
status fixed with range introduced 0 / fixed V; the fixed version ``0`` means the
package was never affected (status not-affected, no ranges). The packages are *origin*
(source) package names. Several files are merged, so pass all of a source's files at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vulndb.archive import DEFAULT_LIMITS, Limits, members
from hullcheck.vulndb.model import (
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    Range,
    RangeType,
)

_BRANCH = re.compile(r"^(v\d+\.\d+|edge)$")
_ID = re.compile(r"^(CVE-\d{4}-\d+|[A-Z][A-Za-z0-9]*-[A-Za-z0-9._-]+)$")


def read(
    paths: Path | Iterable[Path],
    *,
    source: str,
    errors: list[FormatError],
    limits: Limits = DEFAULT_LIMITS,
    distro: str = "",
) -> Iterator[Advisory]:
    """Advisories from secdb files (or directories/archives of them), merged by id.
    ``distro``: the ecosystem of a release-less secdb (Wolfi, Chainguard); "" for Alpine,
    whose files each name their branch."""
    by_id: dict[str, dict[tuple[str, str, str], Affected]] = {}
    for path in [paths] if isinstance(paths, Path) else paths:
        for member in members(path, limits=limits):
            if not member.name.lower().endswith((".json", ".yaml", ".yml")):
                continue
            origin = str(path) if member.name == path.name else f"{path}:{member.name}"
            if member.data is None:
                errors.append(FormatError(f"{origin}: {member.error}"))
                continue
            _file(member.data, member.name, origin, by_id, errors, distro=distro)
    prefix = (distro or "Alpine").upper()
    for fid in sorted(by_id):
        yield Advisory(
            id=f"{prefix}-{fid}",
            source=source,
            aliases=(fid,) if fid.startswith("CVE-") else (),
            affected=tuple(by_id[fid][k] for k in sorted(by_id[fid])),
        )


def _file(
    data: bytes,
    name: str,
    origin: str,
    by_id: dict[str, dict[tuple[str, str, str], Affected]],
    errors: list[FormatError],
    *,
    distro: str,
) -> None:
    try:
        doc: Any = (
            untrusted.json_document(data, what=origin)
            if name.lower().endswith(".json")
            else untrusted.yaml_document(data, what=origin, strings_only=True)
        )
    except FormatError as exc:
        errors.append(exc)
        return
    if isinstance(doc, dict) and doc.get("packages") in (None, ""):
        doc["packages"] = []  # an empty repository is written "packages: null"
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        errors.append(FormatError(f"{origin}: not an Alpine secdb file (no 'packages' list)"))
        return
    eco = _ecosystem(doc, origin, distro, errors)
    if not eco:
        return
    for i, entry in enumerate(doc["packages"]):
        pkg = entry.get("pkg") if isinstance(entry, dict) else None
        name_ = pkg.get("name") if isinstance(pkg, dict) else None
        fixes = pkg.get("secfixes") if isinstance(pkg, dict) else None
        if not isinstance(name_, str) or not name_ or not isinstance(fixes, dict | None):
            errors.append(FormatError(f"{origin}: packages[{i}]: needs pkg.name and pkg.secfixes"))
            continue
        for version, listed in (fixes or {}).items():
            ids = None if listed == "" else listed  # YAML "7.4.0-r0:" with nothing under it
            if not isinstance(version, str) or not isinstance(ids, list | None):
                errors.append(FormatError(f"{origin}: {name_}: bad secfixes entry {version!r:.80}"))
                continue
            for raw in ids or ():
                if not isinstance(raw, str):
                    errors.append(FormatError(f"{origin}: {name_} {version}: non-string fix id"))
                    continue
                # Entries are "CVE-2019-1 CVE-2019-2" or "CVE-2019-1 (some note)".
                for token in raw.split():
                    if _ID.match(token):
                        _put(by_id, token, eco, name_, version)


def _ecosystem(doc: dict[str, Any], origin: str, distro: str, errors: list[FormatError]) -> str:
    """``Alpine:<branch>`` from the file, or the release-less ``distro`` ("" when wrong)."""
    branch = doc.get("distroversion")
    if distro:
        if branch not in (None, ""):
            errors.append(FormatError(f"{origin}: a {distro} secdb has no 'distroversion' "
                                      f"(this one names {branch!r:.40}: an Alpine secdb?)"))
            return ""
        return distro
    if not isinstance(branch, str) or not _BRANCH.match(branch):
        errors.append(FormatError(f"{origin}: invalid 'distroversion' {branch!r:.80}"))
        return ""
    return f"Alpine:{branch}"


def _put(
    by_id: dict[str, dict[tuple[str, str, str], Affected]],
    fid: str,
    eco: str,
    package: str,
    version: str,
) -> None:
    if version == "0":
        affected = Affected(ecosystem=eco, package=package, status=DistroStatus.NOT_AFFECTED)
    else:
        rng = Range(
            type=RangeType.ECOSYSTEM,
            events=(
                Event(kind=EventKind.INTRODUCED, value="0"),
                Event(kind=EventKind.FIXED, value=version),
            ),
        )
        affected = Affected(
            ecosystem=eco, package=package, ranges=(rng,), status=DistroStatus.FIXED
        )
    by_id.setdefault(fid, {})[(eco, package, version)] = affected
