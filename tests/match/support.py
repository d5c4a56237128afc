"""Building blocks for the matching, scanning and VEX tests.

Databases are built from the real records under tests/fixtures/advisories (see its README),
plus, where a case is missing from that snapshot, records written here in the same real
format (OSV JSON, the Debian tracker's JSON export) and saying so in their test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hullcheck.model import (
    Distro,
    ImageSource,
    Inventory,
    Location,
    Package,
    PackageType,
    SourcePackage,
)
from hullcheck.vulndb import Source, SourceKind, build
from tests.vulndb.conftest import FIXTURES, fixture_sources

SITE = "usr/lib/python3/dist-packages"
OS_RELEASE = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                                'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'}
BOOKWORM = Distro(id="debian", version_id="12", codename="bookworm", name="Debian GNU/Linux",
                  pretty_name="Debian GNU/Linux 12 (bookworm)")

__all__ = ["FIXTURES", "fixture_sources"]


def dist_info(name: str, version: str, site: str = SITE) -> dict[str, str]:
    """A real-shaped installed Python distribution (``*.dist-info/METADATA``)."""
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {name} test install\n\nLong description.\n")
    return {f"{site}/{name}-{version}.dist-info/METADATA": meta}


def npm_package(name: str, version: str, root: str = "srv/app") -> dict[str, str]:
    doc = {"name": name, "version": version, "description": "test", "license": "MIT"}
    return {f"{root}/node_modules/{name}/package.json": json.dumps(doc)}


def dpkg_status(*stanzas: Mapping[str, str]) -> dict[str, str]:
    """``var/lib/dpkg/status`` with these packages (Package, Version and optional Source)."""
    out = []
    for s in stanzas:
        lines = [f"Package: {s['Package']}", "Status: install ok installed",
                 "Priority: optional", "Section: libs", "Maintainer: Test <t@example.org>",
                 "Architecture: amd64", f"Version: {s['Version']}"]
        if "Source" in s:
            lines.append(f"Source: {s['Source']}")
        lines.append(f"Description: {s['Package']}")
        out.append("\n".join(lines) + "\n")
    return {"var/lib/dpkg/status": "\n".join(out)}


def write_osv(directory: Path, *records: Mapping[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for r in records:
        (directory / f"{r['id']}.json").write_text(json.dumps(r, indent=2))
    return directory


def write_tracker(path: Path, doc: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def make_db(path: Path, *extra: Source, fixtures: bool = True) -> Path:
    build(path, [*(fixture_sources() if fixtures else []), *extra])
    return path


def osv_source(name: str, *locations: Path) -> Source:
    return Source(name=name, kind=SourceKind.OSV, locations=tuple(str(p) for p in locations))


def debian_source(name: str, path: Path) -> Source:
    return Source(name=name, kind=SourceKind.DEBIAN, locations=(str(path),))


def pkg(ptype: PackageType, name: str, version: str, *, purl: str = "",
        source: tuple[str, str] | None = None) -> Package:
    purl_type = {"deb": "deb/debian", "pypi": "pypi", "npm": "npm", "golang": "golang",
                 "cargo": "cargo"}.get(ptype.value, ptype.value)
    return Package(
        type=ptype, name=name, version=version,
        purl=purl or f"pkg:{purl_type}/{name}@{version}",
        found_by="test", locations=(Location(path=f"/test/{name}", layer=0),),
        source=SourcePackage(name=source[0], version=source[1]) if source else None,
    )


def inventory(*packages: Package, distro: Distro | None = None) -> Inventory:
    return Inventory(source=ImageSource(kind="oci", name="test"), distro=distro,
                     packages=tuple(packages))


def ids_of(findings: Iterable[Any]) -> dict[tuple[str, str], Any]:
    """{(package name, primary id): finding}."""
    return {(f.package.name, f.id): f for f in findings}


# The tracker sample has no bookworm entry that is <unfixed> or no-dsa, and no sudo entry for
# the KEV case; these are written here in the tracker's own JSON shape (status "open", no
# fixed_version = <unfixed>; a "nodsa" text = no-dsa), with real CVE ids.
TRACKER_EXTRA = {
    "tiff": {"CVE-2023-52356": {"description": "segfault in TIFFReadRGBATileExt",
                                "releases": {"bookworm": {"status": "open", "repositories": {
                                    "bookworm": "4.5.0-6+deb12u1"}, "urgency": "low"}}}},
    "openssl": {"CVE-2023-5678": {"description": "DH key checks slow",
                                  "releases": {"bookworm": {
                                      "status": "open", "repositories": {"bookworm": "3.0.11-1"},
                                      "urgency": "not yet assigned",
                                      "nodsa": "Minor issue", "nodsa_reason": ""}}}},
    "sudo": {"CVE-2021-3156": {"description": "Baron Samedit",
                               "releases": {"bookworm": {
                                   "status": "resolved", "repositories": {"bookworm": "1.9.13p3-1"},
                                   "fixed_version": "1.9.5p2-1", "urgency": "high"}}}},
}

# A GHSA record in OSV format aliasing the same CVE as the real PYSEC-2018-28 (as the real
# GHSA-x84v-xcm2-53pg does), with a CVSS v3.1 vector the PYSEC record lacks.
GHSA_REQUESTS = {
    "schema_version": "1.4.0",
    "id": "GHSA-x84v-xcm2-53pg",
    "modified": "2023-11-08T03:59:57Z",
    "published": "2018-10-29T19:06:46Z",
    "aliases": ["CVE-2018-18074"],
    "summary": "Insufficiently Protected Credentials in Requests",
    "severity": [{"type": "CVSS_V3",
                  "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                  "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}]}],
    "database_specific": {"severity": "HIGH"},
}


def build_match_db(directory: Path) -> Path:
    """The real fixture records plus the test-written GHSA and tracker entries above."""
    write_osv(directory / "ghsa", GHSA_REQUESTS)
    write_tracker(directory / "tracker-extra.json", TRACKER_EXTRA)
    return make_db(directory / "vuln.db",
                   osv_source("test-ghsa", directory / "ghsa"),
                   debian_source("test-tracker", directory / "tracker-extra.json"))


def build_fixture_db(directory: Path) -> Path:
    """Only the real fixture records, nothing written by the tests."""
    return make_db(directory / "vuln.db")
