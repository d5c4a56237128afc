"""apk-db: an Alpine 3.19 database in real format, built into real images."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from hullcheck.catalog.apk import ApkCataloger, checksum, licenses_of, package_of, parse_records
from hullcheck.catalog.base import Env
from hullcheck.image.writer import Entry, file, symlink
from hullcheck.model import Inventory, SourcePackage, Supplier, SupplierKind, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer, read

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
    assert crypto.supplier == Supplier(name="Ariadne Conill", email="ariadne@dereferenced.org",
                                       kind=SupplierKind.PERSON)
    assert "maintainer" not in dict(crypto.extras)  # a typed field, not a display extra
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


def test_broken_stanzas_in_a_real_database_are_unknowns_beside_the_packages(
        tmp_path: Path) -> None:
    """The Alpine 3.19 database with a corrupted stanza (a line that is not 'X:value') and
    one without V: inserted before libcrypto3's: every real package is kept, and each
    broken stanza is one Unknown naming the file, its line and why."""
    real = read("apk/alpine", DB).decode()
    corrupt = "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:libbroken\nV:1.0-r0\nthis is no field\nA:x86_64\n"
    versionless = "P:versionless\nA:x86_64\n"
    at = real.index("C:Q1Z8dQbBGNjJ4PkCvcOzNCu6Sm7Zk=\nP:busybox")  # busybox's stanza
    first = real.count("\n", 0, at) + 1
    second = first + corrupt.count("\n") + 1
    text = real[:at] + corrupt + "\n" + versionless + "\n" + real[at:]
    inv = scan(tmp_path, layer("apk/alpine"), {DB: text})
    assert sorted(p.name for p in inv.packages) == [
        "busybox", "ca-certificates-bundle", "libcrypto3", "musl"]
    assert sorted((u.location.path, u.location.layer, u.cataloger, u.reason)
                  for u in inv.unknowns) == [
        ("/lib/apk/db/installed", 1, "apk-db",
         f"stanza at line {first} skipped: line {first + 3}: not an 'X:value' line"),
        ("/lib/apk/db/installed", 1, "apk-db", f"stanza at line {second} skipped: no V field"),
    ]
    assert (first, second) == (45, 51)  # where they start in the real file


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



# -- file checksums (Z: lines) ------------------------------------------------------------

MUSL_FILES = {"lib/ld-musl-x86_64.so.1": b"\x7fELF musl dynamic linker",
              "usr/lib/libz.so.1.3.1": b"\x7fELF zlib", "etc/apk/world": b"musl\nzlib\n"}


def q1(data: bytes) -> str:
    """apk's Z: value: Q1 and the base64 of the SHA1 (apk-tools' apk_blob_push_csum)."""
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def sha1(data: bytes) -> str:
    return "sha1:" + hashlib.sha1(data).hexdigest()


def digest_db(*extra: str) -> str:
    """musl with a file, a symlink (its Z: is the SHA1 of the link's target, as apk writes
    it) and zlib with files in two directories."""
    ld = MUSL_FILES["lib/ld-musl-x86_64.so.1"]
    return "\n".join([
        "P:musl", "V:1.2.4_git20230717-r4", "A:x86_64", "o:musl",
        "F:lib", "R:ld-musl-x86_64.so.1", "a:0:0:755", f"Z:{q1(ld)}",
        "R:libc.musl-x86_64.so.1", "a:0:0:777", f"Z:{q1(b'ld-musl-x86_64.so.1')}",
        "",
        "P:zlib", "V:1.3.1-r0", "A:x86_64",
        "F:usr", "F:usr/lib", "R:libz.so.1.3.1", f"Z:{q1(MUSL_FILES['usr/lib/libz.so.1.3.1'])}",
        "R:libz.so.1", "F:etc", "F:etc/apk", "R:world", f"Z:{q1(MUSL_FILES['etc/apk/world'])}",
        *extra, "",
    ])


def digest_layer(db: str) -> list[Entry]:
    return [file(DB, db.encode()), symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1"),
            symlink("usr/lib/libz.so.1", "libz.so.1.3.1"),
            *(file(path, data) for path, data in MUSL_FILES.items())]


def test_z_lines_are_the_sha1_of_the_files(tmp_path: Path) -> None:
    inv = scan(tmp_path, digest_layer(digest_db()))
    assert inv.unknowns == ()
    pkgs = {p.name: p for p in inv.packages}
    musl, zlib = pkgs["musl"], pkgs["zlib"]
    assert musl.files == ("/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    # the symlink's Z: is of its target's name: no digest for it
    assert musl.file_digests == (
        ("/lib/ld-musl-x86_64.so.1", sha1(MUSL_FILES["lib/ld-musl-x86_64.so.1"])),)
    assert zlib.files == ("/usr/lib/libz.so.1.3.1", "/usr/lib/libz.so.1", "/etc/apk/world")
    assert zlib.file_digests == (  # sorted by path
        ("/etc/apk/world", sha1(MUSL_FILES["etc/apk/world"])),
        ("/usr/lib/libz.so.1.3.1", sha1(MUSL_FILES["usr/lib/libz.so.1.3.1"])),
    )
    # every digest is what the file's bytes hash to
    for p in inv.packages:
        for path, digest in p.file_digests:
            assert digest == sha1(MUSL_FILES[path.lstrip("/")])


def test_checked_in_alpine_database_z_lines(tmp_path: Path) -> None:
    """The fixture's Z: lines are apk's Q1 form (its files are not in the fixture)."""
    inv = scan(tmp_path, layer("apk/alpine"))
    assert inv.unknowns == ()
    musl = next(p for p in inv.packages if p.name == "musl")
    assert [path for path, _ in musl.file_digests] == ["/lib/ld-musl-x86_64.so.1",
                                                       "/lib/libc.musl-x86_64.so.1"]
    assert all(d.startswith("sha1:") and len(d) == 45 for _, d in musl.file_digests)


def test_other_checksum_forms() -> None:
    data = b"content"
    assert checksum(q1(data)) == sha1(data)
    assert checksum("Q2" + base64.b64encode(hashlib.sha256(data).digest()).decode()) == (
        "sha256:" + hashlib.sha256(data).hexdigest())
    assert checksum("X1" + hashlib.sha1(data).hexdigest().upper()) == sha1(data)
    assert checksum(hashlib.md5(data).hexdigest()) == "md5:" + hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("value", [
    "", "Q1", "Q1!!!!" + "A" * 22,  # not base64
    "Q1" + base64.b64encode(b"x" * 19).decode(),  # 19 bytes
    "Q1" + base64.b64encode(b"x" * 32).decode(),  # a SHA256's length for a SHA1
    "Q1" + base64.b64encode(b"x" * 20).decode().rstrip("=") + "==",  # bad padding
    "Q3" + base64.b64encode(b"x" * 20).decode(),  # unknown algorithm
    "X1" + "g" * 40, "X1" + "a" * 39, "a" * 31, "Q1" + "A" * 10_000,
])
def test_malformed_checksums_are_none(value: str) -> None:
    assert checksum(value) is None


def test_malformed_z_lines_are_counted_and_the_rest_kept(tmp_path: Path) -> None:
    db = digest_db().replace(
        f"Z:{q1(MUSL_FILES['etc/apk/world'])}",
        f"Z:{q1(MUSL_FILES['etc/apk/world'])}\nZ:{q1(b'again')}",  # a second Z: for one file
    ).replace("F:etc\n", "F:etc\nZ:Q1notachecksum\n")  # after F:, no file
    db = db.replace(f"Z:{q1(MUSL_FILES['usr/lib/libz.so.1.3.1'])}", "Z:Q1" + "=" * 28)
    inv = scan(tmp_path, digest_layer(db))
    zlib = next(p for p in inv.packages if p.name == "zlib")
    assert zlib.file_digests == (("/etc/apk/world", sha1(MUSL_FILES["etc/apk/world"])),)
    (u,) = inv.unknowns
    assert u.cataloger == "apk-db" and u.location.path == "/lib/apk/db/installed"
    assert u.reason == ("zlib: 3 Z: line(s) that are not a file's checksum ignored "
                        "(the first is line 19)")
    assert next(p for p in inv.packages if p.name == "musl").file_digests  # untouched


def test_a_huge_database_of_checksums_parses(tmp_path: Path) -> None:
    lines = ["P:big", "V:1-r0", "F:usr/share/big"]
    for i in range(100_000):
        lines += [f"R:f{i}", f"Z:{q1(str(i).encode())}" if i % 2 else "Z:Q1broken"]
    (pkg, problem) = package_of(parse_records("\n".join(lines))[0][0], "/" + DB, Env())
    assert len(pkg.files) == 100_000 and len(pkg.file_digests) == 50_000
    assert problem.startswith("big: 50000 Z: line(s)")
