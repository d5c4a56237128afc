"""The realistic test: a real ``debootstrap --variant=minbase bookworm`` root file system,
scanned as an OCI image (one gzip layer) and as ``dir:``, checked against dpkg-query."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from packageurl import PackageURL

from hullcheck import catalog, filetree
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.image import open_image
from hullcheck.model import Inventory, PackageType
from tests.fixtures.debootstrap import debootstrap_image, debootstrap_rootfs
from tests.fixtures.tools import need_command

pytestmark = pytest.mark.slow

CATS = (DpkgCataloger(),)
# Measured on bookworm minbase (2025): 74 of 88 packages (84%) ship a DEP-5 copyright
# file; libc6, libgcc-s1, libstdc++6, base-files... do not.
MIN_LICENSED = 0.80


def scan(ref: str) -> Inventory:
    image = open_image(ref)
    tree = filetree.build(image, catalog.globs_for(CATS))
    return catalog.run(tree, image.source, catalogers=CATS)


def dpkg_query(root: Path) -> dict[str, str]:
    need_command("dpkg-query", "dpkg")
    out = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f", "${Package} ${Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def check(inv: Inventory, expected: dict[str, str]) -> None:
    assert inv.unknowns == ()
    d = inv.distro
    assert d is not None and (d.id, d.version_id, d.codename) == ("debian", "12", "bookworm")
    debs = [p for p in inv.packages if p.type is PackageType.DEB]
    assert {p.name: p.version for p in debs} == expected
    assert len(debs) == len(expected)  # no duplicates
    assert all(p.source is not None and p.source.name and p.source.version for p in debs)
    assert sum(1 for p in debs if p.licenses) / len(debs) >= MIN_LICENSED
    for p in debs:
        purl = PackageURL.from_string(p.purl)
        assert (purl.type, purl.namespace, purl.name, purl.version) == (
            "deb", "debian", p.name, p.version)
        assert purl.qualifiers["distro"] == "debian-12"
    libc = next(p for p in debs if p.name == "libc6")
    assert libc.source is not None and libc.source.name == "glibc"
    assert any(f.endswith("/libc.so.6") for f in libc.files)
    bash = next(p for p in debs if p.name == "bash")
    assert "/bin/bash" in bash.files and "GPL-3.0-or-later" in bash.licenses


def test_debootstrap_as_oci_image(tmp_path: Path) -> None:
    root = debootstrap_rootfs()
    inv = scan(debootstrap_image(tmp_path))
    check(inv, dpkg_query(root))
    assert len(inv.layers) == 1
    assert all(p.layer == 0 for p in inv.packages)


def test_debootstrap_as_dir(tmp_path: Path) -> None:
    root = debootstrap_rootfs()
    inv = scan(f"dir:{root}")
    check(inv, dpkg_query(root))
    assert all(p.layer is None for p in inv.packages)
