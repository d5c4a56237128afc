"""apk-db: an Alpine 3.19 database in real format, built into real images."""

from __future__ import annotations

from pathlib import Path

from hullcheck.catalog.apk import ApkCataloger, licenses_of
from hullcheck.model import Inventory, SourcePackage, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (ApkCataloger(),)
DB = "lib/apk/db/installed"
WOLFI_OS = 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n'


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_alpine_database(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("apk/alpine"))
    assert inv.unknowns == ()
    assert inv.distro is not None and inv.distro.release == "alpine-3.19.1"
    pkgs = {p.name: p for p in inv.packages}
    assert sorted(pkgs) == ["busybox", "ca-certificates-bundle", "libcrypto3", "musl"]
    crypto = pkgs["libcrypto3"]
    assert crypto.version == "3.1.4-r5" and crypto.arch == "x86_64"
    assert crypto.source == SourcePackage(name="openssl", version="3.1.4-r5")
    assert crypto.purl == ("pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64"
                           "&distro=alpine-3.19.1&upstream=openssl")
    assert crypto.files == ("/etc/ssl/openssl.cnf", "/usr/lib/libcrypto.so.3")
    assert crypto.licenses == ("Apache-2.0",)
    assert dict(crypto.extras)["maintainer"] == "Ariadne Conill <ariadne@dereferenced.org>"
    assert pkgs["musl"].purl == (
        "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1")
    assert pkgs["musl"].files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    assert pkgs["ca-certificates-bundle"].licenses == ("MPL-2.0 AND MIT",)
    assert all(p.found_by == "apk-db" and p.layer == 0 for p in inv.packages)


def test_wolfi_namespace_and_upgrade_across_layers(tmp_path: Path) -> None:
    base = "\n\nP:wolfi-baselayout\nV:1-r0\nA:x86_64\n"
    old = "P:glibc\nV:2.38-r1\nA:x86_64\nL:LGPL-2.1-or-later\no:glibc" + base
    new = "P:glibc\nV:2.38-r9\nA:x86_64\nL:LGPL-2.1-or-later\no:glibc" + base
    inv = scan(tmp_path, {"etc/os-release": WOLFI_OS, DB: old}, {DB: new})
    got = {(p.name, p.version): p for p in inv.packages}
    assert got[("glibc", "2.38-r1")].visibility is Visibility.HIDDEN
    assert got[("glibc", "2.38-r9")].visibility is Visibility.VISIBLE
    assert got[("glibc", "2.38-r9")].layer == 1
    assert got[("wolfi-baselayout", "1-r0")].layer == 0
    assert got[("glibc", "2.38-r9")].purl == (
        "pkg:apk/wolfi/glibc@2.38-r9?arch=x86_64&distro=wolfi-20230201")


def test_licence_forms() -> None:
    assert licenses_of("MIT") == ("MIT",)
    assert licenses_of("GPL-2.0-or-later AND MIT") == ("GPL-2.0-or-later AND MIT",)
    assert licenses_of("MIT BSD-2-Clause") == ("MIT", "BSD-2-Clause")  # space-separated list
    assert licenses_of("custom:weird") == ("custom:weird",)
    assert licenses_of("") == ()


def test_broken_stanza_keeps_the_others(tmp_path: Path) -> None:
    text = ("P:good\nV:1.0-r0\nA:x86_64\n\n"
            "P:bad\nnot a field line\nV:2\n\n"
            "P:noversion\nA:x86_64\n\n"
            "P:good2\nV:2.0-r0\n")
    inv = scan(tmp_path, {DB: text.replace("\n", "\r\n")})
    assert [p.name for p in inv.packages] == ["good", "good2"]


def test_garbage_database_is_an_unknown(tmp_path: Path) -> None:
    inv = scan(tmp_path, {DB: b"\x00\x01\x02" * 1000}, {"lib/apk/db/x": "y"})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert u.cataloger == "apk-db" and u.location.path == "/lib/apk/db/installed"


def test_text_garbage_is_an_unknown(tmp_path: Path) -> None:
    inv = scan(tmp_path, {DB: "hello world\nthis is not apk\n"})
    assert inv.packages == ()
    assert "no readable stanza" in inv.unknowns[0].reason


def test_huge_line_is_refused_without_crash(tmp_path: Path) -> None:
    inv = scan(tmp_path, {DB: "P:big\nV:1\nT:" + "x" * (2 << 20) + "\n\nP:small\nV:1\n"})
    assert [p.name for p in inv.packages] == ["small"]

