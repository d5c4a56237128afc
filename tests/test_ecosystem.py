"""THE table: every room reads its columns (OS or language, purl namespace, OSV names)."""

from __future__ import annotations

import pytest
from packageurl import PackageURL

from hullcheck import ecosystem
from hullcheck.ecosystem import (
    DISTROS,
    ECOSYSTEMS,
    OS_TYPES,
    OSV_DOWNLOADS,
    is_os,
    osv_ecosystem,
    osv_ecosystems,
)
from hullcheck.model import Distro, PackageType
from hullcheck.sbom import _purl
from hullcheck.vulndb.update import DEFAULT_SOURCES, OSV_ECOSYSTEMS


def test_every_package_type_has_its_row() -> None:
    assert set(ECOSYSTEMS) == set(PackageType)
    assert all(e.purl_type == t.value for t, e in ECOSYSTEMS.items())


def test_os_packages_are_the_distros_package_managers() -> None:
    assert {PackageType.DEB, PackageType.APK, PackageType.RPM} == OS_TYPES
    assert is_os(PackageType.RPM) and not is_os(PackageType.PYTHON)
    assert not is_os(PackageType.BINARY)
    # OS packages get their OSV ecosystem from the distro, never from the row.
    assert all(not e.osv_ecosystem for e in ECOSYSTEMS.values() if e.os)


@pytest.mark.parametrize(
    ("ptype", "name", "purl"),
    [
        (PackageType.NPM, "@types/node", "pkg:npm/%40types/node@1.0"),
        (PackageType.NPM, "lodash", "pkg:npm/lodash@1.0"),
        (PackageType.GO, "github.com/a/b/v2", "pkg:golang/github.com/a/b/v2@1.0"),
        (PackageType.GO, "stdlib", "pkg:golang/stdlib@1.0"),
        (PackageType.MAVEN, "org.apache:commons-text", "pkg:maven/org.apache/commons-text@1.0"),
        (PackageType.COMPOSER, "symfony/console", "pkg:composer/symfony/console@1.0"),
        (PackageType.CARGO, "serde", "pkg:cargo/serde@1.0"),
        (PackageType.NUGET, "Newtonsoft.Json", "pkg:nuget/Newtonsoft.Json@1.0"),
    ],
)
def test_the_purl_namespace_is_split_and_joined_by_the_table(
        ptype: PackageType, name: str, purl: str) -> None:
    assert ecosystem.purl(ptype, name, "1.0") == purl
    parsed = PackageURL.from_string(purl)
    assert ecosystem.package_name(ptype, parsed.namespace, parsed.name) == name
    assert _purl.package_name(parsed) == name  # what the SBOM readers use


def test_a_given_namespace_is_used_as_is() -> None:
    assert ecosystem.purl(PackageType.DEB, "libc6", "2.36-9", namespace="debian",
                          qualifiers={"arch": "amd64"}) == "pkg:deb/debian/libc6@2.36-9?arch=amd64"
    # A Maven artifact read apart from its group is not split again.
    assert ecosystem.purl(PackageType.MAVEN, "a:b", "1", namespace="g") == "pkg:maven/g/a:b@1"
    assert ecosystem.purl(PackageType.CARGO, "serde", "") == "pkg:cargo/serde"


def test_db_update_downloads_every_ecosystem_of_the_table() -> None:
    languages = [e.osv_ecosystem for e in ECOSYSTEMS.values() if e.osv_ecosystem]
    assert OSV_ECOSYSTEMS is OSV_DOWNLOADS
    assert (*languages, "Debian", "Alpine", "Ubuntu", "Red Hat", "Rocky Linux",
                             "AlmaLinux", "SUSE", "openSUSE") == OSV_DOWNLOADS
    names = {s.name for s in DEFAULT_SOURCES}
    assert {f"osv-{eco}" for eco in OSV_DOWNLOADS} <= names
    # every distro's own feeds are default sources; only Amazon's (behind a mirror list) is not
    assert all(set(d.feeds) <= names for d in DISTROS.values())
    assert [d.id for d in DISTROS.values() if not d.downloaded] == ["amzn"]


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        (Distro(id="debian", version_id="12.4"), ("Debian:12",)),
        (Distro(id="alpine", version_id="3.19.1"), ("Alpine:v3.19",)),
        (Distro(id="ubuntu", version_id="22.04"), ("Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS")),
        (Distro(id="ubuntu", version_id="23.10"), ("Ubuntu:23.10", "Ubuntu:Pro:23.10")),
        (Distro(id="rhel", version_id="9.3"), ("Red Hat:enterprise_linux:9::*",
                                               "Red Hat:rhel_*:9.3::*")),
        (Distro(id="rocky", version_id="9.3"), ("Rocky Linux:9",)),
        (Distro(id="almalinux", version_id="8.10"), ("AlmaLinux:8",)),
        (Distro(id="sles", version_id="15.5"), ("SUSE:Linux Enterprise * 15 SP5",
                                                "SUSE:Linux Enterprise * 15 SP5-*")),
        (Distro(id="sles", version_id="16.0"), ("SUSE:Linux Enterprise * 16.0",
                                                "SUSE:Linux Enterprise * 16.0-*")),
        (Distro(id="opensuse-leap", version_id="15.5"), ("openSUSE:Leap 15.5",)),
        (Distro(id="opensuse-tumbleweed", version_id="20240801"), ("openSUSE:Tumbleweed",)),
        (Distro(id="amzn", version_id="2"), ("Amazon Linux:2",)),
        (Distro(id="amzn", version_id="2018.03"), ("Amazon Linux:1",)),
        (Distro(id="wolfi", version_id="20230201"), ("Wolfi",)),
        (Distro(id="chainguard", version_id="20230214"), ("Chainguard",)),
        (Distro(id="debian"), ("Debian",)),
        (Distro(id="gentoo", version_id="2.14"), ()),
        (None, ()),
    ],
)
def test_os_packages_are_searched_under_their_distros_names(
        distro: Distro | None, expected: tuple[str, ...]) -> None:
    """The names OSV (and the distros' own feeds) give each release, not os-release's."""
    assert tuple(s.ecosystem for s in osv_ecosystems(PackageType.DEB, distro)) == expected
    assert osv_ecosystem(PackageType.DEB, distro) == (expected[0] if expected else "")
    assert osv_ecosystem(PackageType.PYTHON, distro) == "PyPI"


def test_only_ubuntu_pro_needs_a_subscription() -> None:
    searches = osv_ecosystems(PackageType.DEB, Distro(id="ubuntu", version_id="24.04"))
    assert [(s.ecosystem, s.subscription) for s in searches] == [
        ("Ubuntu:24.04:LTS", ""), ("Ubuntu:Pro:24.04:LTS", "Ubuntu Pro (ESM)")]


@pytest.mark.parametrize(("distro_id", "namespace"), [
    ("rhel", "redhat"), ("opensuse-leap", "opensuse"), ("opensuse-tumbleweed", "opensuse"),
    ("rocky", "rocky"), ("ubuntu", "ubuntu"), ("wolfi", "wolfi"), ("arch", "arch"),
])
def test_the_purl_namespace_is_the_tables(distro_id: str, namespace: str) -> None:
    assert ecosystem.purl_namespace(Distro(id=distro_id, version_id="1"), "debian") == namespace
    assert ecosystem.purl_namespace(None, "debian") == "debian"
