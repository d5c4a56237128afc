"""dpkg-db: real stanzas and copyright files from Debian 12, built into real images."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from hullcheck import catalog, filetree
from hullcheck.catalog.dpkg import (
    Digests,
    DpkgCataloger,
    conffile_digests,
    copyright_licenses,
    debian_license,
    parse_md5sums,
    parse_stanzas,
)
from hullcheck.image import open_image
from hullcheck.image.writer import directory, file, symlink, whiteout
from hullcheck.model import ImageSource, Inventory, SourcePackage, Supplier, SupplierKind, Visibility
from tests.fixtures.debootstrap import debootstrap_rootfs
from tests.fixtures.images import build, inventory_of, write
from tests.fixtures.rootfs import layer, read
from tests.fixtures.tools import need_command

CATS = (DpkgCataloger(),)
STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info"
OS_RELEASE = read("dpkg/bookworm", "usr/lib/os-release")


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def stanza(name: str, version: str, *, source: str = "", status: str = "install ok installed",
           arch: str = "amd64") -> str:
    lines = [f"Package: {name}", f"Status: {status}", "Priority: optional", "Section: libs",
             "Maintainer: Someone <someone@example.org>", "Installed-Size: 12",
             f"Architecture: {arch}"]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", f"Description: the {name} package",
              " A longer description.", " .", " More of it."]
    return "\n".join(lines) + "\n"


def by_name(inv: Inventory) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in inv.packages:
        out.setdefault(p.name, []).append(p)
    return out


def test_bookworm_stanzas_copied_from_a_real_system(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("dpkg/bookworm"))
    assert inv.unknowns == ()
    assert inv.distro is not None and (inv.distro.id, inv.distro.version_id) == ("debian", "12")
    pkgs = {p.name: p for p in inv.packages}
    # "deinstall ok config-files" is not installed.
    assert sorted(pkgs) == ["adduser", "base-files", "bash", "libc6", "libzstd1", "zlib1g"]

    bash = pkgs["bash"]
    assert bash.version == "5.2.15-2+b8"
    assert bash.source == SourcePackage(name="bash", version="5.2.15-2")
    assert bash.purl == ("pkg:deb/debian/bash@5.2.15-2%2Bb8?arch=amd64&distro=debian-12"
                         "&upstream=bash%405.2.15-2")
    assert "/bin/bash" in bash.files and "/bin" not in bash.files and "/." not in bash.files
    assert "GPL-3.0-or-later" in bash.licenses
    assert "GPL-3.0-or-later WITH Bison-exception-2.2" in bash.licenses
    assert bash.supplier == Supplier(name="Matthias Klose", email="doko@debian.org",
                                     kind=SupplierKind.PERSON)
    assert "maintainer" not in dict(bash.extras)  # a typed field, not a display extra
    assert bash.found_by == "dpkg-db" and bash.layer == 0
    assert bash.locations[0].path == "/var/lib/dpkg/status"

    libc = pkgs["libc6"]
    assert libc.source == SourcePackage(name="glibc", version=libc.version)
    assert libc.purl.endswith("?arch=amd64&distro=debian-12&upstream=glibc")
    # Its copyright file is not machine-readable: its licences are detected in the text.
    assert "LGPL-2.1-or-later" in libc.licenses
    assert [d.expression for d in libc.detected_licenses] == list(libc.licenses)
    assert {d.path for d in libc.detected_licenses} == {"/usr/share/doc/libc6/copyright"}
    assert pkgs["bash"].detected_licenses == ()  # DEP-5: declared
    assert libc.files and all(f.startswith("/") for f in libc.files)  # libc6:amd64.list

    zlib = pkgs["zlib1g"]
    assert zlib.version == "1:1.2.13.dfsg-1"
    assert zlib.purl.startswith("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?")
    assert zlib.licenses == ("Zlib",)
    assert pkgs["adduser"].licenses == ("GPL-2.0-or-later",)
    assert pkgs["adduser"].source == SourcePackage(name="adduser", version="3.134")
    assert "upstream" not in pkgs["adduser"].purl
    assert pkgs["adduser"].arch == "all"
    # Files paragraphs only: the standalone "License: GPL-2" text paragraph adds nothing.
    assert pkgs["libzstd1"].licenses == ("BSD-3-Clause OR GPL-2.0-only", "MIT", "Zlib")
    assert any(loc.path == "/usr/share/doc/zlib1g/copyright" for loc in zlib.locations)


def test_removed_package_is_hidden_and_upgrade_replaces_old_version(tmp_path: Path) -> None:
    first = stanza("libssl3", "3.0.11-1", source="openssl") + "\n" + stanza("curl", "7.88.1-10") \
        + "\n" + stanza("tzdata", "2024a-0")
    second = stanza("libssl3", "3.0.13-1", source="openssl") + "\n" + stanza("tzdata", "2024a-0")
    inv = scan(
        tmp_path,
        {"etc/os-release": OS_RELEASE, STATUS: first},
        {"tmp/x": "unrelated"},
        {STATUS: second},
    )
    got = {(p.name, p.version): p for p in inv.packages}
    assert set(got) == {("libssl3", "3.0.11-1"), ("libssl3", "3.0.13-1"), ("curl", "7.88.1-10"),
                        ("tzdata", "2024a-0")}
    assert got[("curl", "7.88.1-10")].visibility is Visibility.HIDDEN
    assert got[("curl", "7.88.1-10")].layer == 0
    assert got[("libssl3", "3.0.11-1")].visibility is Visibility.HIDDEN
    assert got[("libssl3", "3.0.13-1")].visibility is Visibility.VISIBLE
    assert got[("libssl3", "3.0.13-1")].layer == 2
    # Untouched by the rewrite: still attributed to the layer that installed it.
    assert got[("tzdata", "2024a-0")].visibility is Visibility.VISIBLE
    assert got[("tzdata", "2024a-0")].layer == 0
    assert [p.name for p in inv.visible] == ["libssl3", "tzdata"]


def test_whole_status_deleted_hides_everything(tmp_path: Path) -> None:
    inv = scan(tmp_path, {STATUS: stanza("curl", "7.88.1-10")}, [whiteout("var/lib/dpkg/status")])
    assert [(p.name, p.visibility) for p in inv.packages] == [("curl", Visibility.HIDDEN)]


def test_distroless_status_d_with_md5sums(tmp_path: Path) -> None:
    libc = stanza("libc6", "2.36-9+deb12u4", source="glibc").replace(
        "Status: install ok installed\n", "")
    md5 = ("0c33d5e7b8b6b8a1a0e4bd3a66f5e0c4  lib/x86_64-linux-gnu/libc.so.6\n"
           "4f1bd5c5b0f8b2d4bdb48e0d4b8e7f3a  usr/share/doc/libc6/copyright\n")
    base = stanza("base-files", "12.4+deb12u4").replace("Status: install ok installed\n", "")
    distroless_os = (
        'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\n'
        'VERSION="Debian GNU/Linux 12 (bookworm)"\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\n'
    )
    inv = scan(tmp_path, {
        "usr/lib/os-release": distroless_os,
        "var/lib/dpkg/status.d/libc6": libc,
        "var/lib/dpkg/status.d/libc6.md5sums": md5,
        "var/lib/dpkg/status.d/base": base,
    })
    assert inv.unknowns == ()
    pkgs = {p.name: p for p in inv.packages}
    assert sorted(pkgs) == ["base-files", "libc6"]
    assert pkgs["libc6"].files == ("/lib/x86_64-linux-gnu/libc.so.6",
                                   "/usr/share/doc/libc6/copyright")
    assert pkgs["libc6"].locations[0].path == "/var/lib/dpkg/status.d/libc6"
    assert pkgs["libc6"].purl == ("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
                                  "&distro=debian-12&upstream=glibc")


def test_hold_crlf_continuations_and_conffiles(tmp_path: Path) -> None:
    text = (stanza("vim", "2:9.0.1378-2", status="hold ok installed", source="vim (2:9.0.1378-1)")
            + "Conffiles:\n /etc/vim/vimrc 3a7b9d4c0c1e6c0ac2a4f0d1b9e1c2d3\n")
    inv = scan(tmp_path, {STATUS: text.replace("\n", "\r\n")})
    (vim,) = inv.packages
    assert (vim.name, vim.version, vim.arch) == ("vim", "2:9.0.1378-2", "amd64")
    assert vim.source == SourcePackage(name="vim", version="2:9.0.1378-1")
    assert dict(vim.extras)["description"] == "the vim package"
    assert dict(vim.extras)["installed-size"] == "12"


def test_multiarch_list_file_is_found(tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        STATUS: stanza("libzstd1", "1.5.4+dfsg2-5", source="libzstd"),
        "var/lib/dpkg/info/libzstd1:amd64.list":
            "/.\n/usr\n/usr/lib/x86_64-linux-gnu/libzstd.so.1\n",
        "usr/lib/x86_64-linux-gnu/libzstd.so.1": b"\x7fELF",
    })
    (p,) = inv.packages
    assert p.files == ("/usr/lib/x86_64-linux-gnu/libzstd.so.1",)


def test_list_files_keep_files_and_links_drop_directories_and_make_entries_for_few(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real_entry = filetree.View.entry

    def counting_entry(self: filetree.View, path: str) -> object:
        if path.startswith("/usr/share/t/"):
            made.append(path)
        return real_entry(self, path)

    monkeypatch.setattr(filetree.View, "entry", counting_entry)
    files = [f"/usr/share/t/f{i}" for i in range(20)]
    listed = ["/.", "/usr", "/usr/share", "/usr/share/t", *files, "/usr/share/t/link",
              "/usr/share/t/empty", "/usr/share/t/gone", files[0]]
    inv = scan(tmp_path, [
        file(STATUS, stanza("tool", "1.0")),
        file(f"{INFO}/tool.list", "\n".join(listed) + "\n"),
        *(file(f.lstrip("/"), f) for f in files),
        symlink("usr/share/t/link", "f0"), directory("usr/share/t/empty"),
    ])
    (p,) = inv.packages
    assert p.files == (*files, "/usr/share/t/link", "/usr/share/t/gone")
    assert sorted(set(made)) == ["/usr/share/t/empty", "/usr/share/t/gone", "/usr/share/t/link"]


# -- hostile input ----------------------------------------------------------------------


def test_binary_garbage_status_is_an_unknown(tmp_path: Path) -> None:
    inv = scan(tmp_path, {STATUS: bytes(range(256)) * 64})
    assert inv.packages == ()
    (unknown,) = inv.unknowns
    assert unknown.cataloger == "dpkg-db"
    assert unknown.location.path == "/var/lib/dpkg/status" and unknown.location.layer == 0
    assert "binary data" in unknown.reason


def test_text_garbage_status_is_an_unknown(tmp_path: Path) -> None:
    inv = scan(tmp_path, {STATUS: "this is not\na dpkg database at all\n"})
    assert inv.packages == ()
    (unknown,) = inv.unknowns
    assert "no readable stanza" in unknown.reason


def test_a_broken_stanza_does_not_lose_the_others(tmp_path: Path) -> None:
    broken = "Package: broken\nthis line has no colon\nVersion: 1\n"
    no_version = "Package: versionless\nStatus: install ok installed\nArchitecture: all\n"
    huge = stanza("huge", "1.0") + "Description: x\n" + (" y" * 700_000) + "\n"
    text = "\n".join([stanza("good1", "1.0"), broken, no_version, huge, stanza("good2", "2.0")])
    inv = scan(tmp_path, {STATUS: text})
    assert [p.name for p in inv.packages] == ["good1", "good2"]


REAL_STATUS = read("dpkg/bookworm", STATUS).decode()


def with_stanzas_before(status: str, package: str, *stanzas: str) -> tuple[str, list[int]]:
    """``status`` with ``stanzas`` inserted before ``package``'s, and the line each starts at."""
    at = status.index(f"Package: {package}\n")
    line = status.count("\n", 0, at) + 1
    starts = []
    for s in stanzas:
        starts.append(line)
        line += s.count("\n") + 1  # and the blank line after it
    return status[:at] + "".join(s + "\n" for s in stanzas) + status[at:], starts


def test_broken_stanzas_in_a_real_status_are_unknowns_beside_the_packages(
        tmp_path: Path) -> None:
    """The bookworm status file with a corrupted copy of zlib1g's stanza (a line without its
    colon) and a stanza without Version inserted before libc6's: every real package is
    kept, and each broken stanza is one Unknown naming the file, its line and why."""
    zlib = REAL_STATUS[REAL_STATUS.index("Package: zlib1g\n"):].split("\n\n", 1)[0] + "\n"
    corrupt = zlib.replace("Package: zlib1g", "Package: libbroken1").replace(
        "Source: zlib", "Source zlib")
    versionless = "Package: versionless\nStatus: install ok installed\nArchitecture: amd64\n"
    text, (first, second) = with_stanzas_before(REAL_STATUS, "libc6", corrupt, versionless)
    inv = scan(tmp_path, layer("dpkg/bookworm"), {STATUS: text})
    assert sorted(p.name for p in inv.packages) == [
        "adduser", "base-files", "bash", "libc6", "libzstd1", "zlib1g"]
    assert all(p.visibility is Visibility.VISIBLE for p in inv.packages)
    assert sorted((u.location.path, u.location.layer, u.cataloger, u.reason)
                  for u in inv.unknowns) == [
        ("/var/lib/dpkg/status", 1, "dpkg-db",
         f"stanza at line {first} skipped: line {first + 8}: not a 'Field: value' line"),
        ("/var/lib/dpkg/status", 1, "dpkg-db",
         f"stanza at line {second} skipped: no Version field"),
    ]
    assert (first, second) == (62, 81)  # where they start in the real file


def test_a_status_d_file_with_a_broken_stanza_is_an_unknown_of_that_file(
        tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        "var/lib/dpkg/status.d/good": stanza("good", "1.0"),
        "var/lib/dpkg/status.d/odd": stanza("odd", "1.0", source="( )"),
    })
    assert [p.name for p in inv.packages] == ["good"]
    (u,) = inv.unknowns
    assert u.location.path == "/var/lib/dpkg/status.d/odd"
    assert u.reason == ("/var/lib/dpkg/status.d/odd: no readable stanza (stanza at line 1 "
                        "skipped: odd: unreadable Source field '( )')")


def test_unreadable_source_field_skips_only_that_stanza(tmp_path: Path) -> None:
    text = stanza("odd", "1.0", source="( )") + "\n" + stanza("fine", "1.0")
    inv = scan(tmp_path, {STATUS: text})
    assert [p.name for p in inv.packages] == ["fine"]


def test_binary_copyright_file_gives_no_licence_and_no_crash(tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        STATUS: stanza("curl", "7.88.1-10"),
        "usr/share/doc/curl/copyright": b"\xff\xfe\x00garbage" * 1000,
    })
    (p,) = inv.packages
    assert p.licenses == ()


def test_empty_status_gives_nothing(tmp_path: Path) -> None:
    inv = scan(tmp_path, {STATUS: ""})
    assert inv.packages == () and inv.unknowns == ()


# -- pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("short", "spdx"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2", "GPL-2.0-only"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("LGPL-2", "LGPL-2.0-only"),
        ("Apache-2.0", "Apache-2.0"),
        ("Apache-2", "Apache-2.0"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("Expat", "MIT"),
        ("Artistic", "Artistic-1.0-Perl"),
        ("GPL-1+ or Artistic", "GPL-1.0-or-later OR Artistic-1.0-Perl"),
        ("Sleepycat and BSD-3-clause", "Sleepycat AND BSD-3-Clause"),
        ("GPLv3+", "GPL-3.0-or-later"),
        ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
        ("GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"),
        # Names that are no SPDX id are LicenseRef- ids, so the expression still parses.
        ("public-domain", "LicenseRef-public-domain"),
        ("LGPLv3+_or_GPLv2+", "LicenseRef-LGPLv3-or-GPLv2"),
    ],
)
def test_debian_licence_names_map_to_spdx(short: str, spdx: str) -> None:
    assert debian_license(short) == spdx


def test_debian_licence_none_and_empty() -> None:
    assert debian_license("none") is None
    assert debian_license("   ") is None


def test_copyright_needs_the_dep5_format_line() -> None:
    free_form = "This package was debianized by someone.\nLicense: GPL-2+\n"
    assert copyright_licenses(free_form) == ()
    dep5 = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: x\n\n"
        "Files: *\nCopyright: 2020 A\nLicense: GPL-2+\n\n"
        "Files: debian/*\nCopyright: 2021 B\nLicense: Expat\n Permission is hereby granted...\n\n"
        "License: GPL-2+\n This program is free software...\n"
    )
    assert copyright_licenses(dep5) == ("GPL-2.0-or-later", "MIT")


def test_stanza_parser_reports_where_it_broke() -> None:
    stanzas, problems = parse_stanzas("Package: a\nVersion: 1\n\n oops\n\nPackage: b\n")
    assert [s.get("package") for s in stanzas] == ["a", "b"]
    assert [p.line for p in problems] == [4]
    assert "continuation" in problems[0].reason


# -- file digests (md5sums, Conffiles) --------------------------------------------------

LIBZSTD = "usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4"
ZSTD_DOC = "usr/share/doc/libzstd1/copyright"
ZSTD_CONF = "etc/zstd.conf"
ZSTD_FILES = {LIBZSTD: b"\x7fELF zstd library", ZSTD_DOC: b"Format: ...\nLicense: BSD\n",
              ZSTD_CONF: b"level=3\n"}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def zstd_layer(md5sums: str | bytes, *, conffiles: str = "",
               listed_too: tuple[str, ...] = ()) -> dict[str, str | bytes]:
    """libzstd1 with its files, .list and md5sums as dpkg writes them (multiarch names)."""
    text = stanza("libzstd1", "1.5.4+dfsg2-5", source="libzstd")
    if conffiles:
        text += "Conffiles:\n" + conffiles
    listed = ["/.", "/usr", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/" + LIBZSTD,
              "/usr/share", "/usr/share/doc", "/usr/share/doc/libzstd1", "/" + ZSTD_DOC,
              "/etc", "/" + ZSTD_CONF, *listed_too]
    return {
        "etc/os-release": OS_RELEASE, STATUS: text,
        "var/lib/dpkg/info/libzstd1:amd64.list": "\n".join(listed) + "\n",
        "var/lib/dpkg/info/libzstd1:amd64.md5sums": md5sums,
        **ZSTD_FILES,
    }


def real_md5sums(*paths: str) -> str:
    return "".join(f"{md5(ZSTD_FILES[p])}  {p}\n" for p in paths)


def test_md5sums_give_each_file_its_digest(tmp_path: Path) -> None:
    conffiles = f" /{ZSTD_CONF} {md5(ZSTD_FILES[ZSTD_CONF])}\n"
    # not sorted, one line twice
    md5sums = real_md5sums(ZSTD_DOC, LIBZSTD, ZSTD_DOC)
    inv = scan(tmp_path, zstd_layer(md5sums, conffiles=conffiles))
    assert inv.unknowns == ()
    (p,) = inv.packages
    assert p.files == ("/" + LIBZSTD, "/" + ZSTD_DOC, "/" + ZSTD_CONF)
    # sorted by path; the conffile's digest from the stanza (md5sums leaves conffiles out)
    assert p.file_digests == (
        ("/" + ZSTD_CONF, "md5:" + md5(ZSTD_FILES[ZSTD_CONF])),
        ("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])),
        ("/" + ZSTD_DOC, "md5:" + md5(ZSTD_FILES[ZSTD_DOC])),
    )
    # the digests share the file list's strings
    assert p.file_digests[1][0] is next(f for f in p.files if f == "/" + LIBZSTD)


def test_obsolete_and_new_conffiles_have_no_digest(tmp_path: Path) -> None:
    conffiles = (f" /{ZSTD_CONF} newconffile\n"
                 f" /etc/old.conf {'a' * 32} obsolete\n"
                 f" /etc/kept.conf {'B' * 32} remove-on-upgrade\n")
    layer = zstd_layer(real_md5sums(LIBZSTD), conffiles=conffiles,
                       listed_too=("/etc/kept.conf", "/etc/old.conf"))
    inv = scan(tmp_path, layer)
    assert inv.unknowns == ()
    (p,) = inv.packages
    assert p.file_digests == (("/etc/kept.conf", "md5:" + "b" * 32),
                              ("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])))


def test_digests_only_for_files_the_package_lists(tmp_path: Path) -> None:
    md5sums = real_md5sums(LIBZSTD) + f"{'c' * 32}  usr/bin/not-in-the-list\n"
    (p,) = scan(tmp_path, zstd_layer(md5sums)).packages
    assert p.file_digests == (("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])),)


def test_distroless_md5sums_give_files_and_digests(tmp_path: Path) -> None:
    md5sums = real_md5sums(LIBZSTD, ZSTD_DOC)
    inv = scan(tmp_path, {
        "usr/lib/os-release": OS_RELEASE,
        "var/lib/dpkg/status.d/libzstd1": stanza("libzstd1", "1.5.4+dfsg2-5"),
        "var/lib/dpkg/status.d/libzstd1.md5sums": md5sums,
        **ZSTD_FILES,
    })
    assert inv.unknowns == ()
    (p,) = inv.packages
    assert p.files == ("/" + LIBZSTD, "/" + ZSTD_DOC)
    assert p.file_digests == (("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])),
                              ("/" + ZSTD_DOC, "md5:" + md5(ZSTD_FILES[ZSTD_DOC])))


def test_distroless_md5sums_malformed_lines_name_no_file(tmp_path: Path) -> None:
    """One parser reads a distroless md5sums file for the file list and the digests: a
    line it cannot read (not '<32 hex>  <path>') gives no file either, and is counted."""
    md5sums = (real_md5sums(LIBZSTD) + f"{'z' * 32}  usr/bin/not-a-digest\n"
               + f"{'a' * 32}\tusr/bin/tab-separated\n" + real_md5sums(ZSTD_DOC))
    inv = scan(tmp_path, {
        "usr/lib/os-release": OS_RELEASE,
        "var/lib/dpkg/status.d/libzstd1": stanza("libzstd1", "1.5.4+dfsg2-5"),
        "var/lib/dpkg/status.d/libzstd1.md5sums": md5sums,
        **ZSTD_FILES,
    })
    (p,) = inv.packages
    assert p.files == ("/" + LIBZSTD, "/" + ZSTD_DOC)
    assert [path for path, _ in p.file_digests] == ["/" + LIBZSTD, "/" + ZSTD_DOC]
    (u,) = inv.unknowns
    assert u.location.path == "/var/lib/dpkg/status.d/libzstd1"
    assert u.reason == ("libzstd1: /var/lib/dpkg/status.d/libzstd1.md5sums: 2 malformed "
                        "line(s) ignored (the first is line 2)")


def test_malformed_md5sums_lines_are_counted_and_the_rest_kept(tmp_path: Path) -> None:
    good = f"{md5(ZSTD_FILES[LIBZSTD]).upper()}  {LIBZSTD}  \r\n"  # upper case, CRLF, blanks
    md5sums = "\n".join([
        f"{'a' * 31}  {ZSTD_DOC}",  # short digest
        good.rstrip("\n"),
        f"{'g' * 32}  {ZSTD_DOC}",  # not hex
        "",  # blank lines are no lines
        f"{'a' * 32}  ",  # no path
        f"{'a' * 32}",
        f"{'a' * 32}  usr/{'x' * 5000}",  # longer than PATH_MAX
        f"{'a' * 32}\t{ZSTD_DOC}",  # not md5sum's separator
        "\x00\xff garbage",
        f"{md5(ZSTD_FILES[ZSTD_DOC])}  /{ZSTD_DOC}",  # a leading slash is accepted
    ])
    inv = scan(tmp_path, zstd_layer(md5sums))
    (p,) = inv.packages
    assert p.file_digests == (("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])),
                              ("/" + ZSTD_DOC, "md5:" + md5(ZSTD_FILES[ZSTD_DOC])))
    (u,) = inv.unknowns
    assert u.cataloger == "dpkg-db"
    assert u.location.path == "/var/lib/dpkg/status" and u.location.layer == 0
    assert u.reason == ("libzstd1: /var/lib/dpkg/info/libzstd1:amd64.md5sums: 7 malformed "
                        "line(s) ignored (the first is line 1)")


def test_binary_md5sums_is_counted_not_fatal(tmp_path: Path) -> None:
    inv = scan(tmp_path, zstd_layer(bytes(range(256)) * 256))
    (p,) = inv.packages
    assert p.files and p.file_digests == ()
    (u,) = inv.unknowns
    assert "malformed line(s) ignored" in u.reason


def test_malformed_conffiles_lines_are_counted(tmp_path: Path) -> None:
    conffiles = f" /{ZSTD_CONF} {'z' * 32}\n /etc/x\n relative {'a' * 32}\n"
    inv = scan(tmp_path, zstd_layer(real_md5sums(LIBZSTD), conffiles=conffiles))
    (p,) = inv.packages
    assert p.file_digests == (("/" + LIBZSTD, "md5:" + md5(ZSTD_FILES[LIBZSTD])),)
    (u,) = inv.unknowns
    assert u.reason == ("libzstd1: stanza at line 1: 3 malformed Conffiles line(s) ignored "
                        "(the first is line 2 of the field)")


def test_md5sums_over_the_size_limit_is_an_unknown(tmp_path: Path) -> None:
    md5sums = real_md5sums(LIBZSTD) + f"{'a' * 32}  usr/share/filler\n" * 4000
    ref = write(build(zstd_layer(md5sums)), tmp_path)
    tree = filetree.build(open_image(ref), catalog.globs_for(CATS), max_file=100_000)
    inv = catalog.run(tree, ImageSource(kind="oci", name="test"), catalogers=CATS)
    (p,) = inv.packages
    assert p.files and p.file_digests == ()
    (u,) = inv.unknowns
    assert u.reason == ("libzstd1: /var/lib/dpkg/info/libzstd1:amd64.md5sums: over the size "
                        "limit, file digests not read")


def test_a_large_md5sums_parses() -> None:
    """100,000 lines (a texlive-sized package), half of them broken."""
    lines = [f"{i:032x}  usr/share/f{i}" if i % 2 else f"{i:031x}  usr/share/f{i}"
             for i in range(100_000)]
    found = parse_md5sums("\n".join(lines).encode())
    assert len(found.pairs) == found.bad == 50_000
    assert found.first_bad == 1


def test_md5sums_parser_pieces() -> None:
    assert parse_md5sums(b"") == Digests(pairs=[])
    assert parse_md5sums(b"\n\n") == Digests(pairs=[])
    found = parse_md5sums(f"{'A' * 32} *usr/bin/x\n".encode())  # md5sum's binary mode
    assert found == Digests(pairs=[("/usr/bin/x", "md5:" + "a" * 32)])
    assert parse_md5sums(f"{'a' * 32}  a b \n".encode()).pairs == [("/a b", "md5:" + "a" * 32)]
    assert conffile_digests("\n /etc/a " + "1" * 32 + "\n") == Digests(
        pairs=[("/etc/a", "md5:" + "1" * 32)])


@pytest.mark.slow
def test_debootstrap_digests_are_md5sum_of_the_real_files() -> None:
    """The real bookworm minbase tree: what we read from md5sums and Conffiles is what
    ``md5sum`` says of the files (none was changed after installation)."""
    root = debootstrap_rootfs()
    md5sum = need_command("md5sum", "coreutils")
    image = open_image(f"dir:{root}")
    inv = catalog.run(filetree.build(image, catalog.globs_for(CATS)), image.source,
                      catalogers=CATS)
    assert inv.unknowns == ()
    digests = {path: d for p in inv.packages for path, d in p.file_digests}
    libc = next(f for p in inv.packages if p.name == "libc6" for f in p.files
                if f.endswith("/libc.so.6"))
    chosen = ["/bin/bash", libc, "/usr/bin/dpkg", "/etc/bash.bashrc", "/etc/debian_version"]
    out = subprocess.run([md5sum, *(f"{root}{path}" for path in chosen)],
                         capture_output=True, text=True, check=True).stdout
    assert [digests[path] for path in chosen] == [
        "md5:" + line.split()[0] for line in out.splitlines()]
    # every digest, against the bytes of the file
    wrong = [path for path, d in digests.items()
             if d != "md5:" + hashlib.md5((root / path.lstrip("/")).read_bytes()).hexdigest()]
    assert wrong == []
    # every md5sums line gave a digest (each names a file its package lists), and so did
    # the Conffiles
    lines = sum(len(f.read_bytes().splitlines()) for f in (root / INFO).glob("*.md5sums"))
    conffiles = sum(len(p.file_digests) for p in inv.packages) - lines
    assert lines > 4000 and conffiles > 20
    assert sum(1 for p in inv.packages if p.file_digests) / len(inv.packages) > 0.95
