"""THE table: package type -> purl type, OS or language package, how the purl namespace
joins the name, version scheme, OSV ecosystem; and per distro, its OSV ecosystem.

Adding an ecosystem is one row here (with its ``model.PackageType`` member), a comparator
in ``versions/`` if its scheme is new, one cataloger module and one registration line in
``catalog/registry.py``, never a set of parallel switches: every room asks this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from packageurl import PackageURL

from hullcheck.model import Distro, PackageType


@dataclass(frozen=True, slots=True, kw_only=True)
class Ecosystem:
    type: PackageType
    purl_type: str
    version_scheme: str  # key of hullcheck.versions
    osv_ecosystem: str  # "" for OS packages: it depends on the distro (see osv_ecosystem())
    # An OS package (installed by the distro's package manager, matched through the distro's
    # advisories, owning the files it lists) rather than a language or binary package.
    os: bool = False
    # Where the ecosystem's own name holds the purl namespace, the text between them
    # ("@scope/pkg", "org.group:artifact"); "" when the name is the purl name.
    namespace_separator: str = ""


ECOSYSTEMS: dict[PackageType, Ecosystem] = {
    e.type: e
    for e in (
        Ecosystem(type=PackageType.DEB, purl_type="deb", version_scheme="dpkg", osv_ecosystem="",
                  os=True),
        Ecosystem(type=PackageType.APK, purl_type="apk", version_scheme="apk", osv_ecosystem="",
                  os=True),
        Ecosystem(type=PackageType.RPM, purl_type="rpm", version_scheme="rpm", osv_ecosystem="",
                  os=True),
        Ecosystem(
            type=PackageType.PYTHON, purl_type="pypi", version_scheme="pep440", osv_ecosystem="PyPI"
        ),
        Ecosystem(type=PackageType.NPM, purl_type="npm", version_scheme="semver", osv_ecosystem="npm",
                  namespace_separator="/"),
        Ecosystem(type=PackageType.GO, purl_type="golang", version_scheme="go", osv_ecosystem="Go",
                  namespace_separator="/"),
        Ecosystem(
            type=PackageType.MAVEN, purl_type="maven", version_scheme="maven", osv_ecosystem="Maven",
            namespace_separator=":",
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
            type=PackageType.NUGET, purl_type="nuget", version_scheme="nuget", osv_ecosystem="NuGet"
        ),
        Ecosystem(
            type=PackageType.COMPOSER, purl_type="composer", version_scheme="packagist",
            osv_ecosystem="Packagist", namespace_separator="/",
        ),
        Ecosystem(
            type=PackageType.BINARY, purl_type="generic", version_scheme="", osv_ecosystem=""
        ),
    )
}

OS_TYPES = frozenset(t for t, e in ECOSYSTEMS.items() if e.os)
PURL_TYPES: dict[str, PackageType] = {e.purl_type: t for t, e in ECOSYSTEMS.items()}


def is_os(ptype: PackageType) -> bool:
    """Whether packages of this type are the distro's (dpkg, apk, rpm)."""
    return ptype in OS_TYPES


# ---------------------------------------------------------------------------------------
# Distros: how OSV names each one's releases


def _major(version_id: str) -> str:
    return version_id.split(".", maxsplit=1)[0]


def _branch(version_id: str) -> str:
    return "v" + ".".join(version_id.split(".")[:2])


def _whole(version_id: str) -> str:
    return version_id


@dataclass(frozen=True, slots=True, kw_only=True)
class DistroEcosystem:
    id: str  # os-release ID
    osv_ecosystem: str  # OSV's name, before the ":<release>"
    release: Callable[[str], str] = _whole  # os-release VERSION_ID -> the release OSV writes
    # Whether `db update` downloads OSV's advisories of it (the others' OSV release names
    # do not match os-release's: nothing would be found in them).
    downloaded: bool = False


DISTROS: dict[str, DistroEcosystem] = {
    d.id: d
    for d in (
        DistroEcosystem(id="debian", osv_ecosystem="Debian", release=_major, downloaded=True),
        DistroEcosystem(id="alpine", osv_ecosystem="Alpine", release=_branch, downloaded=True),
        DistroEcosystem(id="ubuntu", osv_ecosystem="Ubuntu"),
        DistroEcosystem(id="wolfi", osv_ecosystem="Wolfi"),
        DistroEcosystem(id="chainguard", osv_ecosystem="Chainguard"),
        DistroEcosystem(id="rhel", osv_ecosystem="Red Hat"),
        DistroEcosystem(id="rocky", osv_ecosystem="Rocky Linux"),
        DistroEcosystem(id="almalinux", osv_ecosystem="AlmaLinux"),
        DistroEcosystem(id="opensuse-leap", osv_ecosystem="openSUSE"),
        DistroEcosystem(id="sles", osv_ecosystem="SUSE"),
    )
}

# The OSV ecosystems `db update` downloads: every language's, then the distros'.
OSV_DOWNLOADS: tuple[str, ...] = (
    *(e.osv_ecosystem for e in ECOSYSTEMS.values() if e.osv_ecosystem),
    *(d.osv_ecosystem for d in DISTROS.values() if d.downloaded),
)


def osv_ecosystem(ptype: PackageType, distro: Distro | None) -> str:
    """The OSV ecosystem string for a package type on a distro ("" when none applies).

    Debian uses the major release ("Debian:12"), Alpine the branch ("Alpine:v3.18").
    """
    eco = ECOSYSTEMS[ptype]
    if eco.osv_ecosystem:
        return eco.osv_ecosystem
    row = DISTROS.get(distro.id) if distro is not None else None
    if row is None or distro is None:
        return ""
    if not distro.version_id:
        return row.osv_ecosystem
    return f"{row.osv_ecosystem}:{row.release(distro.version_id)}"


# ---------------------------------------------------------------------------------------
# Package URLs


def purl(ptype: PackageType, name: str, version: str, *, namespace: str | None = None,
         qualifiers: Mapping[str, str] | None = None) -> str:
    """The package URL of a package of this type.

    ``namespace`` None: where the ecosystem's names carry it (an npm scope, a Go module
    path, a Composer vendor, a Maven group) it is split off ``name`` at the last
    separator. Given, it is used as is (an OS package's distro, a Maven group read apart).
    """
    eco = ECOSYSTEMS[ptype]
    if namespace is None:
        namespace = ""
        if eco.namespace_separator:
            namespace, _, name = name.rpartition(eco.namespace_separator)
    return PackageURL(type=eco.purl_type, namespace=namespace or None, name=name,
                      version=version or None, qualifiers=dict(qualifiers or {})).to_string()


def package_name(ptype: PackageType, namespace: str | None, name: str) -> str:
    """The ecosystem's own spelling of a purl's namespace and name ("@scope/pkg",
    "org.group:artifact"): the inverse of ``purl()``'s split."""
    join = ECOSYSTEMS[ptype].namespace_separator
    return f"{namespace}{join}{name}" if join and namespace else name
