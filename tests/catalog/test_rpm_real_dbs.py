"""rpm-db on real images' Berkeley DB rpm databases (CentOS 5, 6, 7 and 8).

The databases are go-rpmdb's test data, shipped by the Debian package
golang-github-knqyf263-go-rpmdb-dev. Two independent readers are the reference:

* Debian's rpm 4.18 (its read-only Berkeley DB backend, ``bdb_ro``): ``rpm -qa --qf`` for
  every package's fields and file list, and ``rpm -qal NAME`` for a sample (``-ql NAME``
  itself looks the name up in the ``Name`` index, which these databases come without and
  ``bdb_ro`` cannot build; ``-qa NAME`` matches the name while reading every header);
* go-rpmdb (Debian package go-rpmdb), a Go reader written apart from rpm and from us.

``gpg-pubkey`` entries are imported signing keys, not packages: rpm and go-rpmdb list
them, our cataloger skips them on purpose (and our header reader still reads them).

scripts/setup-system.sh (``make test`` runs it first) installs all three packages; when
one is missing these tests fail, naming it, rather than skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from hullcheck.catalog.base import Env
from hullcheck.catalog.rpm import RpmDbCataloger
from hullcheck.catalog.rpmdb import backend_of, read_headers
from hullcheck.filetree import FileEntry, Kind
from hullcheck.model import Package

TESTDATA = Path("/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata")
APT_DBS = "golang-github-knqyf263-go-rpmdb-dev"
DBS = (
    "centos5-plain",
    "centos6-devtools",
    "centos6-many",
    "centos6-plain",
    "centos7-devtools",
    "centos7-httpd24",
    "centos7-many",
    "centos7-plain",
    "centos7-python35",
    "centos8-modularitylabel",
)
GPG_PUBKEY = "gpg-pubkey"
NONE = "(none)"  # what rpm's --qf prints for an absent tag
FIELDS = ("NAME", "EPOCH", "VERSION", "RELEASE", "ARCH", "SOURCERPM", "LICENSE", "VENDOR",
          "PACKAGER", "SIZE")
QF = "\\t".join(f"%{{{f}}}" for f in FIELDS) + "\\n"
FILES_QF = "@@%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n[%{FILENAMES}\\n]"
# The licences in these databases that are SPDX expressions as written, each with the
# normalised form (checked by hand against the SPDX list). Every other licence must come
# out exactly as rpm prints it; plain "GPL" (CentOS 5 and 8) is not an SPDX id.
SPDX_NORMALISED = {
    "zlib": "Zlib",
    "LGPL-2.1+ and GPL-2.0+": "LGPL-2.1-or-later AND GPL-2.0-or-later",
    "Vim and MIT": "Vim AND MIT",
}
GO_RPMDB_LINE = re.compile(
    r"\t\{Epoch:(-?\d+) Name:(.*) Version:(.*) Release:(.*) Arch:(.*) SourceRpm:(.*) "
    r"Size:(-?\d+) License:(.*) Vendor:(.*) Modularitylabel:(.*) "
    r"BaseNames:\[\] DirIndexes:\[\] DirNames:\[\]\}"
)

Row = tuple[str, ...]


def need_tool(name: str, apt: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install {apt}; make test installs it)")
    return path


def run(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=cwd)
    assert proc.returncode == 0, f"{args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


@dataclass(frozen=True)
class RealDb:
    """One real database, linked as ``Packages`` into a directory of its own."""

    name: str
    dir: Path
    data: bytes

    def rpm(self, *args: str) -> str:
        rpm = need_tool("rpm", "rpm")
        return run([rpm, "--dbpath", str(self.dir), "--define", "_db_backend bdb_ro", *args])


@pytest.fixture(scope="module", params=DBS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RealDb:
    name: str = request.param
    src = TESTDATA / name / "Packages"
    if not src.is_file():
        pytest.fail(f"{src} is missing (apt-get install {APT_DBS}; make test installs it)")
    where = tmp_path_factory.mktemp(name)
    (where / "Packages").symlink_to(src)
    return RealDb(name=name, dir=where, data=src.read_bytes())


def catalog(db: RealDb) -> list[Package]:
    entry = FileEntry("/var/lib/rpm/Packages", Kind.FILE, len(db.data), 0o644, 0, "", db.data)
    return list(RpmDbCataloger().parse(entry, None, Env(distro=None)))  # type: ignore[arg-type]


def rpm_rows(db: RealDb) -> list[Row]:
    rows = [tuple(line.split("\t")) for line in db.rpm("-qa", "--qf", QF).splitlines()]
    assert all(len(r) == len(FIELDS) for r in rows)
    return rows


def split_pubkeys(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(packages, gpg-pubkey entries)."""
    return [r for r in rows if r[0] != GPG_PUBKEY], [r for r in rows if r[0] == GPG_PUBKEY]


def expected_package(row: Row) -> Row:
    """What our cataloger must write for one rpm -qa row: name, version, arch, sourcerpm,
    licence, supplier (the vendor, else the packager), size."""
    name, epoch, version, release, arch, srpm, licence, vendor, packager, size = row
    supplier = vendor if vendor != NONE else packager
    evr = f"{version}-{release}" if epoch == NONE else f"{epoch}:{version}-{release}"
    lic = "" if licence == NONE else SPDX_NORMALISED.get(licence, licence)
    return (name, evr, "" if arch == NONE else arch, "" if srpm == NONE else srpm, lic,
            "" if supplier == NONE else supplier, "" if size == NONE else size)


def package_row(p: Package) -> Row:
    extras = dict(p.extras)
    (lic,) = p.licenses or ("",)
    s = p.supplier
    supplier = "" if s is None else f"{s.name} <{s.email}>" if s.email else s.name
    return (p.name, p.version, p.arch, extras.get("sourcerpm", ""), lic, supplier,
            extras.get("size", ""))


# -- every package: rpm -qa ---------------------------------------------------------------


def test_the_test_data_is_every_database_the_package_ships() -> None:
    if not TESTDATA.is_dir():
        pytest.fail(f"{TESTDATA} is missing (apt-get install {APT_DBS}; make test installs it)")
    assert sorted(p.parent.name for p in TESTDATA.glob("*/Packages")) == list(DBS)


def test_packages_are_what_rpm_lists(db: RealDb) -> None:
    assert backend_of(db.data) == "bdb"
    packages, _ = split_pubkeys(rpm_rows(db))
    assert len(packages) > 100
    expected = sorted(expected_package(r) for r in packages)
    assert sorted(package_row(p) for p in catalog(db)) == expected


def test_gpg_pubkeys_are_read_but_not_listed_as_packages(db: RealDb) -> None:
    packages, keys = split_pubkeys(rpm_rows(db))
    headers = list(read_headers(db.data))
    read_keys = sorted((h.version, h.release) for h in headers if h.name == GPG_PUBKEY)
    assert read_keys == sorted((r[2], r[3]) for r in keys)
    assert len(headers) == len(packages) + len(keys)
    assert GPG_PUBKEY not in {p.name for p in catalog(db)}


def test_every_file_list_is_what_rpm_lists(db: RealDb) -> None:
    """rpm's FILENAMES of every package (one rpm run), by name-epoch:version-release.arch."""
    theirs: dict[str, list[str]] = {}
    current: list[str] = []
    for line in db.rpm("-qa", "--qf", FILES_QF).splitlines():
        if line.startswith("@@"):
            current = theirs.setdefault(line[2:], [])
            assert not current, f"{line[2:]} is listed twice"
        else:
            current.append(line)
    theirs = {k: v for k, v in theirs.items() if not k.startswith(GPG_PUBKEY + "-")}
    ours: Counter[str] = Counter()
    for p in catalog(db):
        key = f"{p.name}-{p.version if ':' in p.version else '0:' + p.version}.{p.arch}"
        ours[key] += 1
        assert list(p.files) == theirs.get(key), key
    assert set(ours) == set(theirs)
    assert max(ours.values()) == 1
    assert sum(len(v) for v in theirs.values()) > 20_000


def test_sample_file_lists_are_what_rpm_ql_lists(db: RealDb) -> None:
    """rpm's own ``-l`` listing (``rpm -qal NAME``) of a few packages whose name is
    installed once."""
    pkgs = catalog(db)
    counts = Counter(p.name for p in pkgs)
    single = sorted((p for p in pkgs if counts[p.name] == 1 and "[" not in p.name),
                    key=lambda p: p.name)
    most_files = max(single, key=lambda p: len(p.files))
    sample = {single[0].name: single[0], single[len(single) // 2].name: single[len(single) // 2],
              single[-1].name: single[-1], most_files.name: most_files}
    for name, p in sample.items():
        listed = db.rpm("-qal", name).splitlines()
        assert list(p.files) == ([] if listed == ["(contains no files)"] else listed), name


def test_plain_gpl_stays_text() -> None:
    """CentOS 5's readline says "GPL": no version, so no SPDX id (not GPL-1.0-or-later)."""
    src = TESTDATA / "centos5-plain" / "Packages"
    if not src.is_file():
        pytest.fail(f"{src} is missing (apt-get install {APT_DBS}; make test installs it)")
    db = RealDb(name="centos5-plain", dir=src.parent, data=src.read_bytes())
    readline = next(p for p in catalog(db) if p.name == "readline")
    assert readline.licenses == ("GPL",)


# -- every package: go-rpmdb --------------------------------------------------------------


def go_rpmdb_rows(db: RealDb) -> list[Row]:
    tool = need_tool("go-rpmdb", "go-rpmdb")
    lines = run([tool], cwd=db.dir).splitlines()
    assert lines[0] == "Packages:"
    rows = []
    for line in lines[1:-1]:
        m = GO_RPMDB_LINE.fullmatch(line)
        assert m is not None, line
        rows.append(m.groups()[:-1])  # the modularity label is not ours to compare
    assert lines[-1] == f"[Total Packages: {len(rows)}]"
    return rows


def test_headers_are_what_go_rpmdb_reads(db: RealDb) -> None:
    """go-rpmdb lists gpg-pubkey too; its epoch is 0 when absent, "(none)" texts are ""."""
    theirs = go_rpmdb_rows(db)
    ours = [
        (str(h.epoch or 0), h.name, h.version, h.release, h.arch, h.source_rpm,
         str(h.size or 0), h.license, h.vendor)
        for h in read_headers(db.data)
    ]
    assert len(theirs) > 100
    assert sorted(ours) == sorted(theirs)
    pkgs = {(p.name, p.version.rpartition(":")[2], p.arch) for p in catalog(db)}
    go_pkgs = {(r[1], f"{r[2]}-{r[3]}", r[4]) for r in theirs if r[1] != GPG_PUBKEY}
    assert pkgs == go_pkgs
