"""THE table: package type -> purl type, version scheme, OSV ecosystem.

Adding an ecosystem is one row here, one cataloger module and one registration
line, never a set of parallel switches.
"""

from __future__ import annotations

from dataclasses import dataclass

from hullcheck.model import Distro, PackageType


@dataclass(frozen=True, slots=True, kw_only=True)
class Ecosystem:
    type: PackageType
    purl_type: str
    version_scheme: str  # key of hullcheck.versions
    osv_ecosystem: str  # "" for OS packages: it depends on the distro (see osv_ecosystem())


ECOSYSTEMS: dict[PackageType, Ecosystem] = {
    e.type: e
    for e in (
        Ecosystem(type=PackageType.DEB, purl_type="deb", version_scheme="dpkg", osv_ecosystem=""),
        Ecosystem(type=PackageType.APK, purl_type="apk", version_scheme="apk", osv_ecosystem=""),
        Ecosystem(type=PackageType.RPM, purl_type="rpm", version_scheme="rpm", osv_ecosystem=""),
        Ecosystem(
            type=PackageType.PYTHON, purl_type="pypi", version_scheme="pep440", osv_ecosystem="PyPI"
        ),
        Ecosystem(type=PackageType.NPM, purl_type="npm", version_scheme="semver", osv_ecosystem="npm"),
        Ecosystem(type=PackageType.GO, purl_type="golang", version_scheme="go", osv_ecosystem="Go"),
        Ecosystem(
            type=PackageType.MAVEN, purl_type="maven", version_scheme="maven", osv_ecosystem="Maven"
        ),
        Ecosystem(
            type=PackageType.CARGO, purl_type="cargo", version_scheme="semver",
            osv_ecosystem="crates.io",
        ),
        Ecosystem(
            type=PackageType.GEM, purl_type="gem", version_scheme="rubygems",
            osv_ecosystem="RubyGems",
        ),
        Ecosystem(
            type=PackageType.COMPOSER, purl_type="composer", version_scheme="packagist",
            osv_ecosystem="Packagist",
        ),
        Ecosystem(
            type=PackageType.NUGET, purl_type="nuget", version_scheme="nuget", osv_ecosystem="NuGet"
        ),
        Ecosystem(
            type=PackageType.BINARY, purl_type="generic", version_scheme="", osv_ecosystem=""
        ),
    )
}

# Distro id (os-release ID) -> (OSV ecosystem name, how the release is written in it).
_DISTRO_OSV = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alpine": "Alpine",
    "wolfi": "Wolfi",
    "chainguard": "Chainguard",
    "rhel": "Red Hat",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "opensuse-leap": "openSUSE",
    "sles": "SUSE",
}


def osv_ecosystem(ptype: PackageType, distro: Distro | None) -> str:
    """The OSV ecosystem string for a package type on a distro ("" when none applies).

    Debian uses the major release ("Debian:12"), Alpine the branch ("Alpine:v3.18").
    """
    eco = ECOSYSTEMS[ptype]
    if eco.osv_ecosystem:
        return eco.osv_ecosystem
    if distro is None or distro.id not in _DISTRO_OSV:
        return ""
    base = _DISTRO_OSV[distro.id]
    if not distro.version_id:
        return base
    if distro.id == "alpine":
        major_minor = ".".join(distro.version_id.split(".")[:2])
        return f"{base}:v{major_minor}"
    if distro.id == "debian":
        return f"{base}:{distro.version_id.split('.')[0]}"
    return f"{base}:{distro.version_id}"
