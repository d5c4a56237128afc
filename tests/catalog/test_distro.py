"""Distro detection on os-release variants, in real images."""

from __future__ import annotations

from pathlib import Path

from hullcheck.catalog.apk import ApkCataloger
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.image.writer import symlink
from hullcheck.model import Inventory
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import read

CATS = (DpkgCataloger(), ApkCataloger())
DEBIAN = read("dpkg/bookworm", "usr/lib/os-release")
UBUNTU = (
    'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
    'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\n'
    "ID_LIKE=debian\nUBUNTU_CODENAME=jammy\n"
)


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_debian_bookworm(tmp_path: Path) -> None:
    d = scan(tmp_path, {"etc/os-release": DEBIAN}).distro
    assert d is not None
    assert (d.id, d.version_id, d.codename, d.release) == ("debian", "12", "bookworm", "debian-12")


def test_alpine_patch_release_from_alpine_release(tmp_path: Path) -> None:
    os_release = read("apk/alpine", "etc/os-release").replace(b"3.19.1", b"3.19.0")
    d = scan(tmp_path, {"etc/os-release": os_release, "etc/alpine-release": "3.19.1\n"}).distro
    assert d is not None and (d.id, d.version_id) == ("alpine", "3.19.1")


def test_ubuntu_is_debian_like(tmp_path: Path) -> None:
    status = ("Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n"
              "Source: openssl\nVersion: 3.0.2-0ubuntu1.15\n")
    inv = scan(tmp_path, {"etc/os-release": UBUNTU, "var/lib/dpkg/status": status})
    d = inv.distro
    assert d is not None
    assert (d.id, d.version_id, d.codename, d.id_like) == ("ubuntu", "22.04", "jammy", ("debian",))
    (p,) = inv.packages
    assert p.purl == ("pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.15?arch=amd64&distro=ubuntu-22.04"
                      "&upstream=openssl")


def test_distroless_symlinked_os_release(tmp_path: Path) -> None:
    distroless = ('PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\n'
                  'VERSION_ID="12"\nVERSION="Debian GNU/Linux 12 (bookworm)"\n')
    d = scan(tmp_path, [symlink("etc/os-release", "../usr/lib/os-release")],
             {"usr/lib/os-release": distroless}).distro
    assert d is not None
    assert (d.id, d.version_id, d.codename, d.pretty_name) == (
        "debian", "12", "bookworm", "Distroless")


def test_no_os_release_means_no_distro_and_plain_purls(tmp_path: Path) -> None:
    status = ("Package: curl\nStatus: install ok installed\nArchitecture: amd64\n"
              "Version: 7.88.1-10\n")
    inv = scan(tmp_path, {"var/lib/dpkg/status": status})
    assert inv.distro is None
    assert inv.packages[0].purl == "pkg:deb/debian/curl@7.88.1-10?arch=amd64"


def test_later_layer_changes_distro(tmp_path: Path) -> None:
    d = scan(tmp_path, {"etc/os-release": DEBIAN}, {"etc/os-release": UBUNTU}).distro
    assert d is not None and d.id == "ubuntu"
