"""rpm-db on real databases: what we list must equal what rpm itself lists."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest

from hullcheck import catalog
from hullcheck.catalog.base import Env
from hullcheck.catalog.rpm import GLOBS, RpmDbCataloger, normalise_license, parse_source_rpm
from hullcheck.catalog.rpmdb import backend_of, ndb, read_headers
from hullcheck.filetree import FileEntry, Kind, compile_globs
from hullcheck.model import (
    Distro,
    ImageSource,
    Package,
    SourcePackage,
    Supplier,
    SupplierKind,
    Unknown,
    Visibility,
)
from tests.fixtures.images import tree_of
from tests.fixtures.rpm import build
from tests.fixtures.rpm.build import Built
from tests.fixtures.tools import need_command

FIXTURE_BDB = build.HERE / "bdb" / "Packages"
FIXTURE_NDB = build.HERE / "ndb"  # written by rpm 4.18 built with NDB (see its README.md)
ROCKY = Distro(id="rocky", version_id="9.3")
ROCKY_OS_RELEASE = (
    'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'
)


@pytest.fixture(scope="session")
def rpmdbs(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need_command("rpm", "rpm")
    need_command("rpmbuild", "rpm")
    return build.built(tmp_path_factory.getbasetemp() / "rpmdbs")


def entry(path: str, data: bytes, layer: int = 0) -> FileEntry:
    return FileEntry(path, Kind.FILE, len(data), 0o644, layer, "", data)


def parse(data: bytes, path: str = "/var/lib/rpm/rpmdb.sqlite", distro: Distro | None = ROCKY):
    return list(RpmDbCataloger().parse(entry(path, data), None, Env(distro=distro)))  # type: ignore[arg-type]


def nevra(pkgs) -> list[tuple[str, str, str, str, str]]:
    """(name, epochnum, version, release, arch) as rpm -qa --qf prints them."""
    out = []
    for p in pkgs:
        evr = p.version
        epoch, _, vr = evr.partition(":") if ":" in evr else ("0", "", evr)
        version, release = vr.rsplit("-", 1)
        out.append((p.name, epoch, version, release, p.arch))
    return sorted(out)


# -- the three backends against rpm ----------------------------------------------------


def test_sqlite_db_lists_what_rpm_lists(rpmdbs: Built) -> None:
    data = rpmdbs.db_all.read_bytes()
    assert backend_of(data) == "sqlite"
    expected = build.rpm_qa(rpmdbs.db_all.parent)
    assert len(expected) == 5
    assert nevra(parse(data)) == expected


def test_files_are_what_rpm_ql_lists(rpmdbs: Built) -> None:
    pkgs = {p.name: p for p in parse(rpmdbs.db_all.read_bytes())}
    for name, pkg in pkgs.items():
        assert pkg.files == build.rpm_ql(rpmdbs.db_all.parent, name), name
    assert pkgs["alpha"].files == ("/etc/alpha.conf", "/usr/share/alpha", "/usr/share/alpha/a.txt")
    assert pkgs["empty"].files == ()


def test_checked_in_berkeley_db_lists_what_rpm_listed() -> None:
    """A real libdb hash file (made by build.make_bdb); expected.txt is rpm's own -qa of it."""
    data = FIXTURE_BDB.read_bytes()
    assert backend_of(data) == "bdb"
    lines = (FIXTURE_BDB.parent / "expected.txt").read_text().splitlines()
    expected = sorted(tuple(line.split(" ")) for line in lines)
    assert nevra(parse(data, "/var/lib/rpm/Packages")) == expected


@pytest.mark.parametrize(("big_endian", "pagesize"), [(False, 4096), (True, 4096), (False, 512)])
def test_berkeley_db_written_by_libdb_lists_what_rpm_lists(
    rpmdbs: Built, tmp_path: Path, big_endian: bool, pagesize: int
) -> None:
    if shutil.which("db5.3_load") is None and shutil.which("db_load") is None:
        need_command("db5.3_load", "db5.3-util")
    db = build.make_bdb(rpmdbs.blobs, tmp_path, big_endian=big_endian, pagesize=pagesize)
    # rpm's own read-only Berkeley DB backend accepts the file...
    expected = build.rpm_qa(tmp_path, "bdb_ro")
    assert expected == build.rpm_qa(rpmdbs.db_all.parent)
    # ...and so do we; 512-byte pages put each header on a chain of overflow pages.
    assert nevra(parse(db.read_bytes(), "/var/lib/rpm/Packages")) == expected


def expected_of(path: Path) -> tuple[list[tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """An ndb expected.txt: rpm's -qa rows and, by name, its -ql lines."""
    rows: list[tuple[str, ...]] = []
    files: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            section = line
        elif section.startswith("# rpm -qa"):
            rows.append(tuple(line.split(" ")))
        else:
            listed = files.setdefault(section.removeprefix("# rpm -ql "), [])
            if line != "(contains no files)":
                listed.append(line)
    return rows, {name: tuple(lines) for name, lines in files.items()}


@pytest.mark.parametrize("where", ["", "erased"])
def test_real_ndb_lists_what_rpm_listed(where: str) -> None:
    """Packages.db written by rpm itself; expected.txt is that rpm's -qa and -ql of it."""
    data = (FIXTURE_NDB / where / "Packages.db").read_bytes()
    assert backend_of(data) == "ndb"
    rows, files = expected_of(FIXTURE_NDB / where / "expected.txt")
    assert len(rows) == (5 if not where else 4)
    pkgs = parse(data, "/usr/lib/sysimage/rpm/Packages.db")
    assert nevra(pkgs) == sorted(rows)
    assert {p.name: p.files for p in pkgs} == files
    assert files["alpha"] == ("/etc/alpha.conf", "/usr/share/alpha", "/usr/share/alpha/a.txt")


def test_real_ndb_is_byte_for_byte_what_make_ndb_writes() -> None:
    """make_ndb lays a fresh database out exactly as rpm does: its blobs give its bytes."""
    data = (FIXTURE_NDB / "Packages.db").read_bytes()
    assert build.make_ndb(list(ndb.read_blobs(data))) == data


def test_real_ndb_after_erase_has_a_free_slot_and_moved_blobs() -> None:
    """What rpm -e then -i left: a free slot before used ones, package 6 in a reused slot,
    blobs no longer in slot order; make_ndb writes none of that."""
    data = (FIXTURE_NDB / "erased" / "Packages.db").read_bytes()
    slots = [struct.unpack_from("<4s3I", data, off) for off in range(32, 4096, 16)]
    used = [(idx, blkoff) for _, idx, blkoff, _ in slots if blkoff]
    first_free = next(i for i, (_, _, blkoff, _) in enumerate(slots) if blkoff == 0)
    assert first_free < len(used)
    assert [idx for idx, _ in used] != sorted(idx for idx, _ in used)
    assert [off for _, off in used] != sorted(off for _, off in used)
    assert len(list(ndb.read_blobs(data))) == len(used) == 4


def test_ndb_lists_every_blob(rpmdbs: Built) -> None:
    data = build.make_ndb([blob for _, blob in rpmdbs.blobs])
    assert backend_of(data) == "ndb"
    pkgs = parse(data, "/usr/lib/sysimage/rpm/Packages.db")
    assert nevra(pkgs) == build.rpm_qa(rpmdbs.db_all.parent)


def test_ndb_with_two_slot_pages_and_free_slots(rpmdbs: Built) -> None:
    blobs = [blob for _, blob in rpmdbs.blobs]
    two_pages = [h.name for h in read_headers(build.make_ndb(blobs[:2], slot_pages=2))]
    assert len(two_pages) == 2
    assert two_pages == [h.name for h in read_headers(build.make_ndb(blobs[:2]))]


# -- how a package is written ---------------------------------------------------------


def test_package_fields_and_purl(rpmdbs: Built) -> None:
    pkgs = {p.name: p for p in parse(rpmdbs.db_all.read_bytes())}
    alpha = pkgs["alpha"]
    assert alpha.version == "2:1.2.3-4.el9"
    assert alpha.arch == "noarch"
    assert alpha.purl == (
        "pkg:rpm/rocky/alpha@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=2"
        "&upstream=alpha-1.2.3-4.el9.src.rpm"
    )
    assert alpha.source == SourcePackage(name="alpha", version="2:1.2.3-4.el9")
    assert alpha.licenses == ("MIT",)
    assert alpha.supplier == Supplier(name="Hullcheck Test", kind=SupplierKind.ORGANIZATION)
    assert alpha.found_by == "rpm-db"
    assert alpha.locations[0].path == "/var/lib/rpm/rpmdb.sqlite"

    libs = pkgs["beta-libs"]
    assert libs.version == "0.9-1.el9_2"
    assert libs.source == SourcePackage(name="beta", version="0.9-1.el9_2")
    assert libs.licenses == ("LGPL-2.1-only",)
    assert "epoch=" not in libs.purl
    assert pkgs["beta"].licenses == ("GPL-2.0-or-later AND BSD-3-Clause",)

    delta = pkgs["delta"]  # an explicit "Epoch: 0" is kept, as rpm's %{EPOCH} shows it
    assert delta.version == "0:3.0~rc1-7.fc40"
    assert delta.licenses == ("GPLv2+",)  # not SPDX: kept as found
    assert "epoch=0" in delta.purl
    assert pkgs["empty"].licenses == ()  # "(none)"
    assert pkgs["empty"].supplier is None  # no VENDOR, no PACKAGER


def test_rhel_purl_namespace_is_redhat(rpmdbs: Built) -> None:
    rhel = Distro(id="rhel", version_id="9.2")
    pkgs = {p.name: p for p in parse(rpmdbs.db_all.read_bytes(), distro=rhel)}
    assert pkgs["beta"].purl.startswith("pkg:rpm/redhat/beta@0.9-1.el9_2?")
    assert "distro=rhel-9.2" in pkgs["beta"].purl
    no_distro = {p.name: p for p in parse(rpmdbs.db_all.read_bytes(), distro=None)}
    assert no_distro["beta"].purl == (
        "pkg:rpm/beta@0.9-1.el9_2?arch=noarch&upstream=beta-0.9-1.el9_2.src.rpm"
    )


def test_gpg_pubkey_entries_are_skipped(rpmdbs: Built, tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    shutil.copy(rpmdbs.db_all, db)
    key = build.package_header("gpg-pubkey", "fd431d51", "4ae0493b", arch="")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO Packages (hnum, blob) VALUES (99, ?)", (key,))
    con.commit()
    con.close()
    names = [h.name for h in read_headers(db.read_bytes())]
    assert "gpg-pubkey" in names  # the reader sees it...
    assert "gpg-pubkey" not in [p.name for p in parse(db.read_bytes())]  # ...the cataloger not
    assert len(parse(db.read_bytes())) == 5


def test_old_filenames_tag_and_dribble_entries_win() -> None:
    blob = build.make_header([
        (1000, 6, "old"), (1001, 6, "1"), (1002, 6, "2"), (1022, 6, "i386"),
        (1027, 8, ["/bin/old", "/etc/old.conf"]),
        (1001, 6, "9"),  # a later entry for the same tag (as rpm appends at install) wins
    ])
    (h,) = read_headers(build.make_ndb([blob]))
    assert (h.name, h.version, h.files) == ("old", "9", ("/bin/old", "/etc/old.conf"))


@pytest.mark.parametrize(
    ("srpm", "expected"),
    [
        ("openssl-3.0.7-18.el9.src.rpm", SourcePackage(name="openssl", version="1:3.0.7-18.el9")),
        ("py3.11-3.11.5-1.el9.nosrc.rpm", SourcePackage(name="py3.11", version="1:3.11.5-1.el9")),
        ("weird.src.rpm", None),
        ("not-a-source-rpm", None),
        ("", None),
    ],
)
def test_source_rpm_names(srpm: str, expected: SourcePackage | None) -> None:
    assert parse_source_rpm(srpm, 1) == expected


def test_license_normalisation() -> None:
    assert normalise_license("mit") == "MIT"
    assert normalise_license("GPL-2.0-or-later and MIT") == "GPL-2.0-or-later AND MIT"
    assert normalise_license("ASL 2.0") == "ASL 2.0"
    assert normalise_license("  ") == ""
    # Deprecated SPDX ids are SPDX ids; license-expression's aliases are not: plain "GPL"
    # (CentOS 5's readline) names no version, so it is not GPL-1.0-or-later.
    assert normalise_license("LGPL-2.1+ and GPL-2.0") == "LGPL-2.1-or-later AND GPL-2.0-only"
    assert normalise_license("GPL") == "GPL"
    assert normalise_license("GPL and MIT") == "GPL and MIT"
    assert normalise_license("GPL 2.0") == "GPL 2.0"
    assert normalise_license("LicenseRef-GPL") == "LicenseRef-GPL"
    assert normalise_license("(mit OR zlib) AND GPL-2.0-only WITH Classpath-exception-2.0") == (
        "(MIT OR Zlib) AND GPL-2.0-only WITH Classpath-exception-2.0"
    )
    long = " and ".join(["MIT"] * 5000)  # longer than MAX_LICENSE: kept, never parsed
    assert normalise_license(long) == long


def test_globs_cover_every_rpmdb_location() -> None:
    rx = compile_globs(GLOBS)
    assert rx is not None
    for path in (
        "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm/Packages.db",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/usr/share/rpm/Packages",
    ):
        assert rx.match(path), path
    assert not rx.match("/var/lib/rpm/Name")
    assert not rx.match("/var/lib/rpm/rpmdb.sqlite-wal")


# -- end to end through an image ----------------------------------------------------


def test_image_end_to_end_layer_attribution(rpmdbs: Built, tmp_path: Path) -> None:
    """Layer 0: two packages; layer 1: all five; layer 2: delta erased (still shipped)."""
    sqlite = "var/lib/rpm/rpmdb.sqlite"
    first: dict[str, str | bytes] = {
        "etc/os-release": ROCKY_OS_RELEASE, sqlite: rpmdbs.db_first.read_bytes(),
    }
    tree = tree_of(
        tmp_path,
        first,
        {sqlite: rpmdbs.db_all.read_bytes()},
        {sqlite: rpmdbs.db_less.read_bytes()},
        globs=catalog.globs_for((RpmDbCataloger(),)),
    )
    inv = catalog.run(tree, ImageSource(kind="oci", name="test"), catalogers=(RpmDbCataloger(),))
    assert inv.distro is not None and inv.distro.id == "rocky"
    assert inv.unknowns == ()
    got = {p.name: (p.layer, p.visibility) for p in inv.packages}
    assert got == {
        "alpha": (0, Visibility.VISIBLE),
        "beta": (0, Visibility.VISIBLE),
        "beta-libs": (1, Visibility.VISIBLE),
        "empty": (1, Visibility.VISIBLE),
        "delta": (1, Visibility.HIDDEN),
    }
    alpha = next(p for p in inv.packages if p.name == "alpha")
    assert alpha.locations[0].path == "/var/lib/rpm/rpmdb.sqlite"
    assert "distro=rocky-9.3" in alpha.purl


def test_image_with_corrupt_db_gives_an_unknown(tmp_path: Path) -> None:
    layer: dict[str, str | bytes] = {
        "etc/os-release": ROCKY_OS_RELEASE,
        "usr/lib/sysimage/rpm/Packages.db": b"RpmP" + b"\0" * 60,
    }
    tree = tree_of(
        tmp_path,
        layer,
        globs=catalog.globs_for((RpmDbCataloger(),)),
    )
    inv = catalog.run(tree, ImageSource(kind="oci", name="test"), catalogers=(RpmDbCataloger(),))
    assert inv.packages == ()
    (unknown,) = inv.unknowns
    assert unknown.cataloger == "rpm-db"
    assert unknown.location.path == "/usr/lib/sysimage/rpm/Packages.db"
    assert "slot page count 0" in unknown.reason


# -- file digests ---------------------------------------------------------------------


def rpm_dump(dbdir: Path, name: str) -> dict[str, str]:
    """path -> digest of each file ``rpm -q --dump`` lists with one (directories and symlinks
    have a digest of zeros there: rpm's "none")."""
    out = build._run(["rpm", "-q", "--dump", "--dbpath", dbdir, "--define",
                      "_db_backend sqlite", name])
    found = {}
    for line in out.splitlines():
        if line.startswith("/"):
            path, _size, _mtime, digest, *_ = line.split(" ")
            if digest.strip("0"):
                found[path] = digest
    return found


def test_file_digests_are_what_rpm_dump_lists(rpmdbs: Built) -> None:
    pkgs = {p.name: p for p in parse(rpmdbs.db_all.read_bytes())}
    for name, pkg in pkgs.items():
        dump = rpm_dump(rpmdbs.db_all.parent, name)
        assert dict(pkg.file_digests) == {p: f"sha256:{d}" for p, d in dump.items()}, name
    # rpmbuild's default: SHA256 of the content the spec wrote; the directory has none
    assert pkgs["alpha"].file_digests == (
        ("/etc/alpha.conf", "sha256:" + hashlib.sha256(b"cfg\n").hexdigest()),
        ("/usr/share/alpha/a.txt", "sha256:" + hashlib.sha256(b"hi\n").hexdigest()),
    )
    assert pkgs["empty"].file_digests == ()


DIGEST_SPEC = """\
Name: digests
Version: 1
Release: 1
Summary: files of every kind
License: MIT
BuildArch: noarch
%description
digests
%install
mkdir -p %{buildroot}/opt/d/sub
printf 'content\\n' > %{buildroot}/opt/d/file
printf '' > %{buildroot}/opt/d/empty
ln -s file %{buildroot}/opt/d/link
%files
%dir /opt/d/sub
/opt/d/file
/opt/d/empty
/opt/d/link
"""


@pytest.mark.parametrize(("algo", "name"), [
    (None, "sha256"), (1, "md5"), (2, "sha1"), (8, "sha256"), (9, "sha384"), (10, "sha512"),
    (11, "sha224"),
])
def test_rpmbuild_digest_algorithms(rpmdbs: Built, tmp_path: Path, algo: int | None,
                                    name: str) -> None:
    """A real package built with each algorithm rpm offers for file digests: a regular file,
    an empty one, a symlink and a directory, against rpm --dump and the content itself."""
    spec = tmp_path / "SPECS" / "digests.spec"
    spec.parent.mkdir(parents=True)
    spec.write_text(DIGEST_SPEC)
    defines = ["--define", f"_binary_filedigest_algorithm {algo}"] if algo else []
    build._run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {tmp_path}",
                "--define", "__os_install_post %{nil}", "--define", "_build_id_links none",
                *defines, spec])
    db = build.make_sqlite_db(tmp_path / "db", (tmp_path / "RPMS").rglob("*.rpm"))
    (pkg,) = parse(db.read_bytes())
    assert pkg.files == ("/opt/d/empty", "/opt/d/file", "/opt/d/link", "/opt/d/sub")
    empty, content = (hashlib.new(name, data).hexdigest() for data in (b"", b"content\n"))
    assert pkg.file_digests == (("/opt/d/empty", f"{name}:{empty}"),
                                ("/opt/d/file", f"{name}:{content}"))
    assert dict(pkg.file_digests) == {
        p: f"{name}:{d}" for p, d in rpm_dump(db.parent, "digests").items()}


def test_real_centos_databases_digests_are_what_rpm_lists() -> None:
    """go-rpmdb's CentOS 5 (MD5, no FILEDIGESTALGO tag) to 8 (SHA256) databases, against
    rpm's own FILEDIGESTS of every file of every package."""
    rpm = need_command("rpm", "rpm")
    testdata = Path("/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata")
    if not testdata.is_dir():
        pytest.fail(f"{testdata} is missing (Debian package golang-github-knqyf263-go-rpmdb-dev; "
                    "scripts/setup-system.sh installs it)")
    algorithms = set()
    for db in ("centos5-plain", "centos7-plain", "centos8-modularitylabel"):
        data = (testdata / db / "Packages").read_bytes()
        out = subprocess.run(
            [rpm, "-qa", "--dbpath", str(testdata / db), "--define", "_db_backend bdb_ro",
             "--qf", "[%{=NAME}\\t%{FILENAMES}\\t%{FILEDIGESTS}\\n]"],
            capture_output=True, text=True, check=True).stdout
        expected: dict[str, set[tuple[str, str]]] = {}
        for line in out.splitlines():
            name, path, digest = line.split("\t")
            if digest and name != "gpg-pubkey":
                expected.setdefault(name, set()).add((path, digest))
        found = parse(data, "/var/lib/rpm/Packages")
        assert not [x for x in found if isinstance(x, Unknown)]
        ours = {p.name: {(path, d.partition(":")[2]) for path, d in p.file_digests}
                for p in found if p.file_digests}
        assert ours == expected, db
        assert sum(map(len, expected.values())) > 8000
        algorithms |= {d.partition(":")[0] for p in found for _, d in p.file_digests}
    assert algorithms == {"md5", "sha256"}


def digest_header(digests: list[str] | tuple[int, object],
                  algo: tuple[int, object] | None = (4, [8]),
                  files: tuple[str, ...] = ("/a", "/b", "/c")) -> bytes:
    """A header with OLDFILENAMES ``files``, FILEDIGESTS (a string array, or (type, value))
    and FILEDIGESTALGO (type, value) unless None."""
    entries: list[tuple[int, int, object]] = [
        (1000, 6, "pkg"), (1001, 6, "1.0"), (1002, 6, "1"), (1022, 6, "noarch"),
        (1027, 8, list(files)),
        (1035, *digests) if isinstance(digests, tuple) else (1035, 8, digests),
    ]
    if algo is not None:
        entries.append((5011, *algo))
    return build.make_header(entries)


def digests_of(blob: bytes) -> tuple[Package, list[str]]:
    found = parse(build.make_ndb([blob]), "/usr/lib/sysimage/rpm/Packages.db")
    (pkg,) = [x for x in found if isinstance(x, Package)]
    return pkg, [x.reason for x in found if isinstance(x, Unknown)]


SHA = [hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c")]


def test_digests_of_a_made_header_and_md5_when_no_algorithm_is_named() -> None:
    pkg, problems = digests_of(digest_header(["", SHA[1], SHA[2]]))
    assert pkg.file_digests == (("/b", f"sha256:{SHA[1]}"), ("/c", f"sha256:{SHA[2]}"))
    assert problems == []
    md5 = hashlib.md5(b"a").hexdigest()
    pkg, problems = digests_of(digest_header([md5, "", ""], None))
    assert pkg.file_digests == (("/a", f"md5:{md5}"),)
    assert problems == []


@pytest.mark.parametrize(("digests", "algo", "problem"), [
    ([SHA[0], SHA[1]], (4, [8]), "pkg: RPM header has 3 file names but 2 file digests"),
    (SHA, (4, [3]), "pkg: RPM header file digest algorithm 3 is not supported"),
    (SHA, (4, [99999]), "pkg: RPM header file digest algorithm 99999 is not supported"),
    ((4, [1, 2, 3]), (4, [8]), "pkg: RPM header tag 1035: type 4 is not a string array"),
    (SHA, (8, ["8"]), "pkg: RPM header tag 5011: type 8 is not an integer"),
])
def test_digests_that_cannot_be_matched_to_files_are_all_left_out(
        digests: list[str] | tuple[int, object], algo: tuple[int, object], problem: str) -> None:
    pkg, problems = digests_of(digest_header(digests, algo))
    assert pkg.files == ("/a", "/b", "/c")  # the package itself is kept
    assert pkg.file_digests == ()
    assert problems == [problem]


def test_malformed_digests_are_counted_and_the_rest_kept() -> None:
    digests = [SHA[0][:-1], SHA[1].upper(), "g" * 64, "", SHA[0] + "00"]
    files = ("/a", "/b", "/c", "/d", "/e")
    pkg, problems = digests_of(digest_header(digests, files=files))
    assert pkg.file_digests == (("/b", f"sha256:{SHA[1]}"),)  # upper case is still hex
    assert problems == ["pkg: RPM header has 3 malformed sha256 file digest(s)"]


def test_digest_tag_outside_the_data_loses_only_the_digests() -> None:
    blob = bytearray(digest_header(SHA))
    il = struct.unpack_from(">I", blob)[0]
    for i in range(il):
        if struct.unpack_from(">i", blob, 8 + 16 * i)[0] == 1035:
            struct.pack_into(">i", blob, 8 + 16 * i + 8, 1 << 30)
    pkg, problems = digests_of(bytes(blob))
    assert pkg.files == ("/a", "/b", "/c") and pkg.file_digests == ()
    assert problems == [f"pkg: RPM header tag 1035: offset {1 << 30} is outside the "
                        f"{struct.unpack_from('>I', blob, 4)[0]} data bytes"]


def test_unterminated_digests_at_the_end_of_the_data() -> None:
    # a region trailer follows the strings in a made header: without it, the last digest
    # runs to the end of the data with no NUL
    blob = build.make_header([(1000, 6, "pkg"), (1001, 6, "1"), (1002, 6, "1"),
                              (1027, 8, ["/a", "/b"]), (1035, 8, [SHA[0], SHA[1]])],
                             region=False)
    cut = bytearray(blob[:-1])  # the last NUL, and the data length that counted it
    struct.pack_into(">I", cut, 4, struct.unpack_from(">I", blob, 4)[0] - 1)
    pkg, problems = digests_of(bytes(cut))
    assert pkg.file_digests == ()
    assert problems == ["pkg: RPM header tag 1035: unterminated string"]


def test_an_unsorted_file_list_with_a_path_twice_gives_sorted_distinct_pairs() -> None:
    files = ("/z", "/a", "/z")
    pkg, problems = digests_of(digest_header([SHA[2], SHA[0], SHA[2]], files=files))
    assert pkg.file_digests == (("/a", f"sha256:{SHA[0]}"), ("/z", f"sha256:{SHA[2]}"))
    assert problems == []


def test_many_digests_are_all_read() -> None:
    """A header with 200,000 files (SHA256 each, every tenth a directory)."""
    files = [f"/usr/share/f{i:06d}" for i in range(200_000)]
    digests = ["" if i % 10 == 0 else hashlib.sha256(str(i).encode()).hexdigest()
               for i in range(200_000)]
    blob = build.make_header([(1000, 6, "big"), (1001, 6, "1"), (1002, 6, "1"),
                              (1027, 8, files), (1035, 8, digests), (5011, 4, [8])])
    (h,) = read_headers(build.make_ndb([blob], slot_pages=1))
    assert len(h.file_digests) == 180_000 and h.digest_problem == ""
