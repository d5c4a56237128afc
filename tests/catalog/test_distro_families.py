"""The common bases, from os-release as each image ships it, to the names their advisories
are filed under (ecosystem.DISTROS): the release as OSV or the distro's feed writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.catalog.rpm import RpmDbCataloger
from hullcheck.ecosystem import osv_ecosystems
from hullcheck.model import PackageType
from tests.fixtures.images import inventory_of

# /etc/os-release (or /usr/lib/os-release) of each image, as it ships
IMAGES = {
    "ubuntu:22.04": ('PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
                     'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\n'
                     "ID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n"),
    "ubi9": ('NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\n'
             'ID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\n'
             'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n'
             'CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\n'),
    "rockylinux:9": ('NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\n'
                     'ID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'
                     'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'),
    "almalinux:8": ('NAME="AlmaLinux"\nVERSION="8.10 (Cerulean Leopard)"\nID="almalinux"\n'
                    'ID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n'
                    'PRETTY_NAME="AlmaLinux 8.10 (Cerulean Leopard)"\n'),
    "amazonlinux:2": ('NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"'
                      '\nVERSION_ID="2"\nPRETTY_NAME="Amazon Linux 2"\n'),
    "amazonlinux:2023": ('NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\n'
                         'VERSION_ID="2023"\nPLATFORM_ID="platform:al2023"\n'
                         'PRETTY_NAME="Amazon Linux 2023.4.20240401"\n'),
    "bci-base:15.5": ('NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\n'
                      'PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\n'
                      'ID_LIKE="suse"\n'),
    "opensuse/leap:15.5": ('NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\n'
                           'ID_LIKE="suse opensuse"\nVERSION_ID="15.5"\n'
                           'PRETTY_NAME="openSUSE Leap 15.5"\n'),
    "wolfi-base": 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID=20230201\n',
    "distroless/static-debian12": ('PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\n'
                                   'ID="debian"\nVERSION_ID="12"\n'
                                   'VERSION="Debian GNU/Linux 12 (bookworm)"\n'
                                   'HOME_URL="https://github.com/GoogleContainerTools/distroless"'
                                   "\n"),
}


@pytest.mark.parametrize(("image", "searched"), [
    ("ubuntu:22.04", ("Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS")),
    ("ubi9", ("Red Hat:enterprise_linux:9::*", "Red Hat:rhel_*:9.4::*")),
    ("rockylinux:9", ("Rocky Linux:9",)),
    ("almalinux:8", ("AlmaLinux:8",)),
    ("amazonlinux:2", ("Amazon Linux:2",)),
    ("amazonlinux:2023", ("Amazon Linux:2023",)),
    ("bci-base:15.5", ("SUSE:Linux Enterprise * 15 SP5", "SUSE:Linux Enterprise * 15 SP5-*")),
    ("opensuse/leap:15.5", ("openSUSE:Leap 15.5",)),
    ("wolfi-base", ("Wolfi",)),
    ("distroless/static-debian12", ("Debian:12",)),
])
def test_detected_release_names_its_advisories(tmp_path: Path, image: str,
                                               searched: tuple[str, ...]) -> None:
    inv = inventory_of(tmp_path, (RpmDbCataloger(),), {"etc/os-release": IMAGES[image]})
    assert inv.distro is not None
    ptype = PackageType.DEB if inv.distro.id in ("ubuntu", "debian") else (
        PackageType.APK if inv.distro.id == "wolfi" else PackageType.RPM)
    assert tuple(s.ecosystem for s in osv_ecosystems(ptype, inv.distro)) == searched
