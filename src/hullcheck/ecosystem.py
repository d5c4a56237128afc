"""THE table: package type -> purl type, OS or language package, how the purl namespace
joins the name, version scheme, OSV ecosystem; and per distro (``DISTROS``), the ecosystems
its advisories are filed under, how they write its release, whether `db update` downloads
them, and its purl namespace.

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
# Distros: whose advisories cover each one's OS packages, and how they write its releases


def _major(d: Distro) -> str | None:
    return d.version_id.split(".", maxsplit=1)[0] or None


def _branch(d: Distro) -> str | None:
    parts = d.version_id.split(".")
    return "v" + ".".join(parts[:2]) if len(parts) >= 2 else None


def _whole(d: Distro) -> str | None:
    return d.version_id or None


def _ubuntu(d: Distro) -> str | None:
    """"22.04" -> "22.04:LTS": every April release of an even year since 8.04 is an LTS."""
    year, _, month = d.version_id.partition(".")
    if not (year.isdigit() and month.isdigit()):
        return None
    lts = int(year) % 2 == 0 and month == "04"
    return f"{d.version_id}:LTS" if lts else d.version_id


def _service_pack(d: Distro) -> str | None:
    """SUSE's product version: "15.5" -> "15 SP5", "15" (or "15.0") -> "15"; from SLE 16
    on, the dotted version itself ("16.0")."""
    major, _, sp = d.version_id.partition(".")
    if not major.isdigit():
        return None
    if int(major) >= 16:
        return d.version_id
    return f"{major} SP{sp}" if sp not in ("", "0") else major


def _leap(d: Distro) -> str | None:
    return f"Leap {d.version_id}" if d.version_id else None


def _leap_micro(d: Distro) -> str | None:
    return f"Leap Micro {d.version_id}" if d.version_id else None


def _tumbleweed(d: Distro) -> str | None:
    return "Tumbleweed"  # a rolling release: its VERSION_ID is the snapshot's date


def _amazon(d: Distro) -> str | None:
    """"2", "2023"; Amazon Linux 1 writes its VERSION_ID as a date ("2018.03")."""
    if "." in d.version_id:
        return "1"
    return d.version_id or None


@dataclass(frozen=True, slots=True, kw_only=True)
class Search:
    """One ecosystem name searched for a distro's packages (``*`` matches any text, as
    SUSE's product names and Red Hat's repositories need), and the subscription its fixes
    need ("" for the distro's own free updates)."""

    ecosystem: str
    subscription: str = ""

    @property
    def is_pattern(self) -> bool:
        return "*" in self.ecosystem


@dataclass(frozen=True, slots=True, kw_only=True)
class DistroEcosystem:
    id: str  # os-release ID
    # The ecosystem name of its advisories (OSV's, where OSV publishes them), before
    # any ":<release>".
    ecosystem: str
    release: Callable[[Distro], str | None] = _whole  # the release as the advisories write it
    # What is searched, "{name}", "{release}" and "{version}" (os-release's VERSION_ID)
    # filled in; just "{name}" when the release is unknown (Debian testing has no VERSION_ID).
    searched: tuple[Search, ...] = (Search(ecosystem="{name}:{release}"),)
    # RPM module streams: a fix built in a module applies only to packages of that module
    # stream, a fix outside modules only to packages outside them (match/distros.py).
    modular: bool = False
    # `db update` downloads OSV's "<ecosystem>/all.zip" ...
    osv: bool = False
    # ... and the distro's own feeds, by their source names in vulndb.update.DEFAULT_SOURCES.
    feeds: tuple[str, ...] = ()
    # The purl namespace of its OS packages ("" = the os-release ID), as Syft writes it.
    purl_namespace: str = ""

    @property
    def downloaded(self) -> bool:
        """Whether `db update` fetches any advisories of it by default."""
        return self.osv or bool(self.feeds)

    def searches(self, distro: Distro) -> tuple[Search, ...]:
        """The ecosystems to search for ``distro``'s packages, names filled in."""
        release = self.release(distro)
        if release is None and any("{release}" in s.ecosystem for s in self.searched):
            return (Search(ecosystem=self.ecosystem),)
        return tuple(
            Search(ecosystem=s.ecosystem.format(name=self.ecosystem, release=release or "",
                                                version=distro.version_id),
                   subscription=s.subscription)
            for s in self.searched
        )


_PRO = "Ubuntu Pro (ESM)"
_SUSE = (Search(ecosystem="{name}:Linux Enterprise * {release}"),
         Search(ecosystem="{name}:Linux Enterprise * {release}-*"))

DISTROS: dict[str, DistroEcosystem] = {
    d.id: d
    for d in (
        DistroEcosystem(id="debian", ecosystem="Debian", release=_major, osv=True,
                        feeds=("debian-tracker",)),
        DistroEcosystem(id="alpine", ecosystem="Alpine", release=_branch, osv=True,
                        feeds=("alpine-secdb",)),
        # Fixes that only Ubuntu Pro subscribers get (ESM) are under "Ubuntu:Pro:<release>".
        DistroEcosystem(id="ubuntu", ecosystem="Ubuntu", release=_ubuntu, osv=True,
                        searched=(Search(ecosystem="{name}:{release}"),
                                  Search(ecosystem="{name}:Pro:{release}", subscription=_PRO))),
        # Red Hat scopes records by CPE: "Red Hat:enterprise_linux:9::appstream", "::baseos"
        # for the release; "Red Hat:rhel_eus:9.2::appstream" (EUS, AUS, TUS, E4S) for fixes
        # built for one minor release, which is what an image of that minor release runs.
        DistroEcosystem(id="rhel", ecosystem="Red Hat", release=_major, modular=True, osv=True,
                        searched=(Search(ecosystem="{name}:enterprise_linux:{release}::*"),
                                  Search(ecosystem="{name}:rhel_*:{version}::*")),
                        purl_namespace="redhat"),
        DistroEcosystem(id="rocky", ecosystem="Rocky Linux", release=_major, modular=True,
                        osv=True),
        DistroEcosystem(id="almalinux", ecosystem="AlmaLinux", release=_major, modular=True,
                        osv=True),
        # SUSE files a package under each product shipping it ("Linux Enterprise Module for
        # Basesystem 15 SP5", "... Server 15 SP5-LTSS"): every product of the release.
        DistroEcosystem(id="sles", ecosystem="SUSE", release=_service_pack, osv=True,
                        searched=_SUSE),
        DistroEcosystem(id="sled", ecosystem="SUSE", release=_service_pack, osv=True,
                        searched=_SUSE),
        DistroEcosystem(id="sle-micro", ecosystem="SUSE", release=_whole, osv=True,
                        searched=(Search(ecosystem="{name}:Linux Enterprise Micro {release}"),
                                  Search(ecosystem="{name}:Linux Enterprise Micro {release}-*"))),
        DistroEcosystem(id="opensuse-leap", ecosystem="openSUSE", release=_leap, osv=True,
                        purl_namespace="opensuse"),
        DistroEcosystem(id="opensuse-leap-micro", ecosystem="openSUSE", release=_leap_micro,
                        osv=True, purl_namespace="opensuse"),
        DistroEcosystem(id="opensuse-tumbleweed", ecosystem="openSUSE", release=_tumbleweed,
                        osv=True, purl_namespace="opensuse"),
        # Amazon's advisories (ALAS) are in its repositories' updateinfo.xml, not in OSV;
        # vulndb/amazon.py files them under "Amazon Linux:<release>".
        DistroEcosystem(id="amzn", ecosystem="Amazon Linux", release=_amazon),
        DistroEcosystem(id="wolfi", ecosystem="Wolfi", searched=(Search(ecosystem="{name}"),),
                        feeds=("wolfi-secdb",)),
        DistroEcosystem(id="chainguard", ecosystem="Chainguard",
                        searched=(Search(ecosystem="{name}"),), feeds=("chainguard-secdb",)),
    )
}

# The OSV ecosystems `db update` downloads: every language's, then the distros'.
OSV_DOWNLOADS: tuple[str, ...] = tuple(dict.fromkeys((
    *(e.osv_ecosystem for e in ECOSYSTEMS.values() if e.osv_ecosystem),
    *(d.ecosystem for d in DISTROS.values() if d.osv),
)))


def osv_ecosystems(ptype: PackageType, distro: Distro | None) -> tuple[Search, ...]:
    """What to search for packages of this type on this distro: a language's one OSV
    ecosystem; an OS package's distro release, as its advisories name it (``()`` when
    no advisories cover the distro). Patterns (``*``) are matched against the database's
    ecosystem names by whoever searches."""
    eco = ECOSYSTEMS[ptype]
    if eco.osv_ecosystem:
        return (Search(ecosystem=eco.osv_ecosystem),)
    if not eco.os or distro is None:
        return ()
    row = DISTROS.get(distro.id)
    return row.searches(distro) if row is not None else ()


def osv_ecosystem(ptype: PackageType, distro: Distro | None) -> str:
    """The first ecosystem searched for a package type on a distro ("" when none applies):
    "PyPI", "Debian:12", "Alpine:v3.18", "Ubuntu:22.04:LTS" (then "Ubuntu:Pro:22.04:LTS")."""
    found = osv_ecosystems(ptype, distro)
    return found[0].ecosystem if found else ""


# ---------------------------------------------------------------------------------------
# Programs found by their version string (catalog/binary.py): where advisories name them


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """A program's own advisory data: the ecosystem of ``ptype`` (and its version scheme),
    under these package names."""

    ptype: PackageType
    packages: tuple[str, ...]


# By binary rule name. Go's vulnerability database files the toolchain's own flaws under
# "toolchain" and the standard library it ships under "stdlib", by Go version. The other
# programs (busybox, openssl, node, python, curl, redis, nginx, postgresql) have no
# advisories by version in this database: OSV files them by git commit, NVD by CPE.
BINARY_ADVISORIES: dict[str, Upstream] = {
    "go": Upstream(ptype=PackageType.GO, packages=("stdlib", "toolchain")),
}


def purl_namespace(distro: Distro | None, default: str) -> str:
    """The purl namespace of a distro's OS packages: the table's, else its os-release ID
    (``default`` when the distro is unknown)."""
    if distro is None:
        return default
    row = DISTROS.get(distro.id)
    return (row.purl_namespace if row is not None else "") or distro.id


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
