"""python-installed and python-project as a user sees them: real core metadata from real
installs (``tests/fixtures/python/README.md``) and hostile variants of it, each checked for
the packages, purls, licences, files and extras it gives, whole."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.catalog import python as py
from hullcheck.catalog.python import (
    PythonInstalledCataloger,
    PythonProjectCataloger,
    direct_url_extras,
    header_block,
)
from hullcheck.cli.main import main
from hullcheck.image.writer import Entry, directory, file, symlink
from hullcheck.model import Inventory, Package
from tests.fixtures.images import inventory_of

FIX = Path(__file__).parents[1] / "fixtures" / "python"
SITE = "opt/venv/lib/python3.11/site-packages"
DEB = "usr/lib/python3/dist-packages"
CATS = (PythonInstalledCataloger(),)


def real(case: str, at: str) -> dict[str, bytes | str]:
    """Every file of ``tests/fixtures/python/<case>`` at its place under ``at`` (Python
    sources are stored as ``.py.txt``, out of the linters' and type checker's way)."""
    base = FIX / case
    out: dict[str, bytes | str] = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            name = p.relative_to(base).as_posix()
            out[f"{at}/{name[:-4] if name.endswith('.py.txt') else name}"] = p.read_bytes()
    return out


def scan(tmp: Path, *layers: object, extra_globs: tuple[str, ...] = ()) -> Inventory:
    return inventory_of(tmp, CATS, *layers, extra_globs=extra_globs)  # type: ignore[arg-type]


def only(inv: Inventory, modified: str = "") -> Package:
    """The one package; no unknowns but the one naming its ``modified`` files."""
    (pkg,) = inv.packages
    assert [u.reason for u in inv.unknowns] == (
        [f"{pkg.name} {pkg.version}: files modified after install (RECORD hash or size "
         f"differs) — {modified}"] if modified else [])
    return pkg


def meta(name: str, version: str, *lines: str) -> str:
    return "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines,
                      "", "The description.", ""])


def b64(algorithm: str, data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).decode().rstrip("=")


# ---------------------------------------------------------------------------------------
# Real metadata

SIX_EXTRAS = {"author": "Benjamin Peterson", "author-email": "benjamin@python.org",
              "home-page": "https://github.com/benjaminp/six", "metadata-version": "2.1",
              "summary": "Python 2 and 3 compatibility utilities"}


def test_real_installs_give_their_names_purls_licences_and_fields(tmp_path: Path) -> None:
    layer = {**real("venv", SITE), **real("debian", DEB),
             # distutils wrote PKG-INFO as a *file* named .egg-info (python3-apt did so once)
             "usr/lib/python3.11/dist-packages/python_apt-2.6.0.egg-info":
                 (FIX / "debian/python_apt-2.6.0.egg-info/PKG-INFO").read_bytes()}
    inv = scan(tmp_path, layer)
    assert inv.unknowns == ()
    got = {(p.name, p.version, p.locations[0].path): p for p in inv.packages}
    site, deb = f"/{SITE}", f"/{DEB}"
    assert sorted((n, v, p.purl, p.licenses) for (n, v, _), p in got.items()) == [
        ("PySocks", "1.7.1", "pkg:pypi/pysocks@1.7.1", ("BSD",)),
        ("aiosmtpd", "1.4.6", "pkg:pypi/aiosmtpd@1.4.6", ("Apache-2.0",)),
        ("packaging", "26.4", "pkg:pypi/packaging@26.4", ("Apache-2.0 OR BSD-2-Clause",)),
        ("python-apt", "2.6.0", "pkg:pypi/python-apt@2.6.0", ("GNU GPL",)),
        ("python-apt", "2.6.0", "pkg:pypi/python-apt@2.6.0", ("GNU GPL",)),
        ("six", "1.16.0", "pkg:pypi/six@1.16.0", ("MIT",)),
        ("six", "1.17.0", "pkg:pypi/six@1.17.0", ("MIT",)),
    ]
    six = got["six", "1.17.0", f"{site}/six-1.17.0.dist-info/METADATA"]
    # METADATA's bytes are kept (hashed); the other five hashed rows are checked by size.
    assert dict(six.extras) == {**SIX_EXTRAS, "site": site,
                                "record:checked": "6 files: 1 by hash, 5 by size only"}
    assert six.files == tuple(f"{site}/{name}" for name in (
        "__pycache__/six.cpython-311.pyc", "six-1.17.0.dist-info/INSTALLER",
        "six-1.17.0.dist-info/LICENSE", "six-1.17.0.dist-info/METADATA",
        "six-1.17.0.dist-info/RECORD", "six-1.17.0.dist-info/WHEEL",
        "six-1.17.0.dist-info/top_level.txt", "six.py"))
    packaging = got["packaging", "26.4", f"{site}/packaging-26.4.dist-info/METADATA"]
    dist = f"{site}/packaging-26.4.dist-info"
    assert dict(packaging.extras) == {
        "author-email": "Donald Stufft <donald@stufft.io>", "metadata-version": "2.5",
        "summary": "Core utilities for Python packages", "site": site,
        # Its dist-info alone was copied: every other hashed row names a missing file.
        "record:checked": "29 files: 1 by hash, 0 by size only",
        "record:missing": f"28: {dist}/INSTALLER, {dist}/WHEEL, {dist}/licenses/LICENSE, "
                          f"{dist}/licenses/LICENSE.APACHE, {dist}/licenses/LICENSE.BSD, "
                          "and 23 more"}
    assert len(packaging.files) == 52
    aiosmtpd = got["aiosmtpd", "1.4.6", f"{site}/aiosmtpd-1.4.6.dist-info/METADATA"]
    assert dict(aiosmtpd.extras) == {  # a Maintainer, no Author: no author extras
        "home-page": "https://aiosmtpd.readthedocs.io/", "metadata-version": "2.1",
        "summary": "aiosmtpd - asyncio based SMTP server", "site": site}
    pysocks = got["PySocks", "1.7.1", f"{site}/PySocks-1.7.1.dist-info/METADATA"]
    assert dict(pysocks.extras)["author"] == "Anorov"
    # Debian's egg-info directory: its site is the directory holding it; no file list.
    deb_six = got["six", "1.16.0", f"{deb}/six-1.16.0.egg-info/PKG-INFO"]
    assert dict(deb_six.extras) == {**SIX_EXTRAS, "site": deb} and deb_six.files == ()
    apt_dir = got["python-apt", "2.6.0", f"{deb}/python_apt-2.6.0.egg-info/PKG-INFO"]
    assert dict(apt_dir.extras)["site"] == deb
    # The egg-info file: its site is the directory holding the file.
    apt_file = got["python-apt", "2.6.0", "/usr/lib/python3.11/dist-packages/python_apt-2.6.0.egg-info"]
    assert dict(apt_file.extras) == {
        "author": "APT Development Team", "author-email": "deity@lists.debian.org",
        "metadata-version": "2.1", "summary": "Python bindings for APT",
        "site": "/usr/lib/python3.11/dist-packages"}
    assert apt_file.files == ()


def _aiosmtpd_without(field: str) -> bytes:
    text = (FIX / "venv/aiosmtpd-1.4.6.dist-info/METADATA").read_text()
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(f"{field}:")).encode()


def test_without_a_license_field_the_classifiers_name_it(tmp_path: Path) -> None:
    """aiosmtpd's classifiers: ``License :: OSI Approved`` says nothing; the leaf after it is
    kept as the classifier's words (no exact SPDX meaning)."""
    pkg = only(scan(tmp_path, {f"{SITE}/aiosmtpd-1.4.6.dist-info/METADATA":
                               _aiosmtpd_without("License")}))
    assert pkg.licenses == ("Apache Software License",)


@pytest.mark.parametrize(("lines", "expected"), [
    # PEP 639: an expression folded over lines, in lower case, is read as SPDX writes it
    (["License-Expression: apache-2.0 or", "  mit"], ("Apache-2.0 OR MIT",)),
    (["License-Expression: LicenseRef-Acme-Internal"], ("LicenseRef-Acme-Internal",)),
    # a License field of 100 characters is a name; of 101, text (then the classifiers)
    (["License: " + "N" * 100], ("N" * 100,)),
    (["License: " + "N" * 101, "Classifier: License :: OSI Approved :: MIT License"],
     ("MIT",)),
    # setuptools wrote UNKNOWN for a missing field: not a licence
    (["License: UNKNOWN", "Classifier: License :: OSI Approved :: MIT License"], ("MIT",)),
    # a two-part classifier names a licence too
    (["Classifier: License :: Public Domain"], ("Public Domain",)),
    # classifiers in any order: the others are passed over, not the end of the list
    (["Classifier: Programming Language :: Python :: 3",
      "Classifier: License :: Other/Proprietary License",
      "Classifier: License :: OSI Approved",
      "Classifier: License :: OSI Approved :: ISC License (ISCL)",
      "Classifier: Topic :: Utilities",
      "Classifier: License :: OSI Approved :: ISC License (ISCL)"], ("ISC",)),
    (["Classifier: License :: OSI Approved", "Classifier: License :: Other/Proprietary License"],
     ()),
])
def test_licence_fields(tmp_path: Path, lines: list[str], expected: tuple[str, ...]) -> None:
    pkg = only(scan(tmp_path, {f"{DEB}/x-1.dist-info/METADATA": meta("x", "1", *lines)}))
    assert pkg.licenses == expected


# ---------------------------------------------------------------------------------------
# Hostile core metadata

@pytest.mark.parametrize(("name", "version", "ok"), [
    ("n" * 200, "1", True), ("n" * 201, "1", False),
    ("n", "1." + "0" * 198, True), ("n", "1." + "0" * 199, False),
])
def test_name_and_version_lengths(tmp_path: Path, name: str, version: str, ok: bool) -> None:
    inv = scan(tmp_path, {f"{DEB}/n-1.dist-info/METADATA": meta(name, version)})
    if ok:
        assert [(p.name, p.version) for p in inv.packages] == [(name, version)]
        assert inv.unknowns == ()
    else:
        assert inv.packages == ()
        (u,) = inv.unknowns
        assert u.reason == f"/{DEB}/n-1.dist-info/METADATA: implausibly long Name or Version"


def test_whitespace_in_fields_is_folded_to_single_spaces(tmp_path: Path) -> None:
    text = "\n".join(["Metadata-Version: 2.1", "Name: odd\t  name", "Version: 1.0 \t beta",
                      "Summary: folded", "  over\tlines", "Author: UNKNOWN",
                      "Home-page: UNKNOWN", "Author-email:", "  ", "", "body"])
    pkg = only(scan(tmp_path, {f"{DEB}/odd-1.dist-info/METADATA": text}))
    assert (pkg.name, pkg.version) == ("odd name", "1.0 beta")
    assert dict(pkg.extras) == {"metadata-version": "2.1", "summary": "folded over lines",
                                "site": f"/{DEB}"}


def test_a_long_summary_is_cut_at_1000_characters(tmp_path: Path) -> None:
    pkg = only(scan(tmp_path, {f"{DEB}/x-1.dist-info/METADATA":
                               meta("x", "1", "Summary: " + "s" * 1500)}))
    assert dict(pkg.extras)["summary"] == "s" * 1000


def test_latin1_metadata_is_read_with_replacement_characters(tmp_path: Path) -> None:
    """Old PKG-INFO files were written in Latin-1: a byte that is no UTF-8 is replaced."""
    text = meta("x", "1", "Author: Jos\xe9 N\xfa\xf1ez").encode("latin-1")
    installed = "x/__init__.py\nx/donn\xe9es.txt\n".encode("latin-1")
    inv = scan(tmp_path, {f"{DEB}/x-1.egg-info/PKG-INFO": text,
                          f"{DEB}/x-1.egg-info/installed-files.txt": installed})
    pkg = only(inv)
    assert dict(pkg.extras)["author"] == "Jos\ufffd N\ufffd\ufffdez"
    assert pkg.files == (f"/{DEB}/x-1.egg-info/x/__init__.py",
                         f"/{DEB}/x-1.egg-info/x/donn\ufffdes.txt")


@pytest.mark.parametrize(("at", "binary"), [(8191, True), (8192, False)])
def test_a_nul_in_the_first_8_kib_means_binary(tmp_path: Path, at: int, binary: bool) -> None:
    head = meta("x", "1").encode()
    data = head + b"d" * (at - len(head)) + b"\0" + b"d" * 10
    inv = scan(tmp_path, {f"{DEB}/x-1.dist-info/METADATA": data})
    if binary:
        assert inv.packages == ()
        assert [u.reason for u in inv.unknowns] == [
            f"/{DEB}/x-1.dist-info/METADATA: binary data in Python core metadata"]
    else:
        assert only(inv).name == "x"


def test_headers_end_at_an_empty_first_line() -> None:
    assert header_block("\n\nName: x\nVersion: 1\n\nbody") == "\n\n"
    assert header_block("\r\n\r\nName: x\n\n") == "\r\n\r\n"


# ---------------------------------------------------------------------------------------
# RECORD paths and integrity

@pytest.mark.parametrize(("site", "row", "owned"), [
    ("srv/app", "/usr/local/bin/tool", "/usr/local/bin/tool"),  # absolute: as written
    ("srv/app", "pkg//mod.py", "/srv/app/pkg/mod.py"),
    ("srv/app", "pkg/./data/", "/srv/app/pkg/data"),
    ("srv/app", "pkg/data/", "/srv/app/pkg/data"),
    ("srv/app", "../../../../../X11/app.conf", "/X11/app.conf"),  # ".." stops at the root
    ("srv/app ", "pkg/mod.py", "/srv/app /pkg/mod.py"),  # a directory name ending in a space
    ("opt/BOX", "pkg/mod.py", "/opt/BOX/pkg/mod.py"),
])
def test_record_rows_name_files_relative_to_the_site(tmp_path: Path, site: str, row: str,
                                                     owned: str) -> None:
    pkg = only(scan(tmp_path, {f"{site}/x-1.dist-info/METADATA": meta("x", "1"),
                               f"{site}/x-1.dist-info/RECORD": f"{row},,\n"}))
    assert pkg.files == (owned,)


def test_exactly_five_paths_are_all_named(tmp_path: Path) -> None:
    rows = "".join(f"x/m{i}.py,sha256=AAAA,1\n" for i in range(5))
    pkg = only(scan(tmp_path, {"s/x-1.dist-info/METADATA": meta("x", "1"),
                               "s/x-1.dist-info/RECORD": rows}))
    assert dict(pkg.extras)["record:missing"] == "5: " + ", ".join(
        f"/s/x/m{i}.py" for i in range(5))


def test_a_record_without_hashes_checks_nothing_and_says_nothing(tmp_path: Path) -> None:
    pkg = only(scan(tmp_path, {"s/x-1.dist-info/METADATA": meta("x", "1"),
                               "s/x-1.dist-info/RECORD": "x/a.py,,\nx-1.dist-info/RECORD,,\n"}))
    assert not [k for k, _ in pkg.extras if k.startswith("record:")]
    assert pkg.files == ("/s/x/a.py", "/s/x-1.dist-info/RECORD")


def test_rows_after_an_exempt_or_unsupported_row_are_still_checked(tmp_path: Path) -> None:
    record = "\n".join([
        "x-1.dist-info/RECORD.jws,sha256=AAAA,5",  # a signature sidecar: exempt, even hashed
        "x/a.py,md5=abc,3", "x/b.py,sha1=abc,3",  # not allowed by PEP 376: two unsupported
        "x/gone.py,sha256=AAAA,1", ""])
    pkg = only(scan(tmp_path, {"s/x-1.dist-info/METADATA": meta("x", "1"),
                               "s/x-1.dist-info/RECORD": record}))
    extras = dict(pkg.extras)
    assert extras["record:unsupported-hash"] == "2"
    assert extras["record:missing"] == "1: /s/x/gone.py"
    assert extras["record:checked"] == "1 files: 0 by hash, 0 by size only"


def _x_ending_sha384_metadata() -> bytes:
    """Core metadata whose sha384, as RECORD writes it, ends in "X" (found by trying)."""
    for i in itertools.count():
        data = meta("x", "1", f"Summary: try {i}").encode()
        if b64("sha384", data).endswith("X"):
            return data
    raise AssertionError  # pragma: no cover


@pytest.mark.parametrize("how", ["padded", "sha384 ending in X"])
def test_digests_are_compared_whole(tmp_path: Path, how: str) -> None:
    """A kept file checked by hash: a digest with its base64 padding still matches; one
    ending in a letter the padding strip must not eat matches too."""
    if how == "padded":
        data = meta("x", "1").encode()
        digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
        assert digest.endswith("=")
    else:
        data = _x_ending_sha384_metadata()
        digest = f"sha384={b64('sha384', data)}"
    pkg = only(scan(tmp_path, {"s/x-1.dist-info/METADATA": data,
                               "s/x-1.dist-info/RECORD":
                                   f"x-1.dist-info/METADATA,{digest},{len(data)}\n"}))
    assert dict(pkg.extras)["record:checked"] == "1 files: 1 by hash, 0 by size only"
    assert "record:modified" not in dict(pkg.extras)


def test_a_digest_with_a_character_more_is_another_digest(tmp_path: Path) -> None:
    data = meta("x", "1").encode()
    pkg = only(scan(tmp_path, {"s/x-1.dist-info/METADATA": data,
                               "s/x-1.dist-info/RECORD":
                                   f"x-1.dist-info/METADATA,sha256={b64('sha256', data)}X,\n"}),
               modified="1: /s/x-1.dist-info/METADATA")
    assert dict(pkg.extras)["record:modified"] == "1: /s/x-1.dist-info/METADATA"


def test_rows_reached_through_links_and_replaced_by_directories(tmp_path: Path) -> None:
    """Merged /usr: a row leaving the site for /bin reaches /usr/bin/tool through the
    ``bin -> usr/bin`` link (checked, not missing); a listed file now a directory is
    modified, and the rows after it are checked still."""
    tool = b"#!/bin/sh\necho tool\n"
    record = "\n".join([
        f"../../../../bin/tool,sha256={b64('sha256', tool)},{len(tool)}",
        "x/data,sha256=AAAA,3",
        "x/gone.py,sha256=AAAA,1", ""])
    layers: list[list[Entry]] = [
        [symlink("bin", "usr/bin"), file("usr/bin/tool", tool, mode=0o755),
         file(f"{DEB}/x-1.dist-info/METADATA", meta("x", "1")),
         file(f"{DEB}/x-1.dist-info/RECORD", record)],
        [directory(f"{DEB}/x/data")],  # RUN mkdir
    ]
    pkg = only(scan(tmp_path, *layers), modified=f"1: /{DEB}/x/data")
    extras = dict(pkg.extras)
    assert extras["record:checked"] == "3 files: 0 by hash, 1 by size only"
    assert extras["record:modified"] == f"1: /{DEB}/x/data"
    assert extras["record:missing"] == f"1: /{DEB}/x/gone.py"
    assert pkg.files == ("/bin/tool", f"/{DEB}/x/data", f"/{DEB}/x/gone.py")


def test_a_link_to_a_file_of_other_bytes_is_modified(tmp_path: Path) -> None:
    """A listed file replaced by a link to a same-size file with other bytes (kept: a
    METADATA) is compared with the bytes the link leads to."""
    data = meta("x", "1").encode()
    other = meta("y", "1").encode()  # as long, other bytes
    layers: list[list[Entry]] = [
        [file("s/x-1.dist-info/METADATA", data), file("s/y-1.dist-info/METADATA", other),
         file("s/x-1.dist-info/RECORD",
              f"x-1.dist-info/METADATA,sha256={b64('sha256', data)},{len(data)}\n"
              f"x-1.dist-info/ALIAS,sha256={b64('sha256', data)},{len(data)}\n")],
        [symlink("s/x-1.dist-info/ALIAS", "/s/y-1.dist-info/METADATA")],
    ]
    inv = scan(tmp_path, *layers)
    x, _ = inv.packages
    assert [u.reason for u in inv.unknowns] == [
        "x 1: files modified after install (RECORD hash or size differs) — "
        "1: /s/x-1.dist-info/ALIAS"]
    extras = dict(x.extras)
    assert extras["record:checked"] == "2 files: 1 by hash, 0 by size only"
    assert extras["record:modified"] == "1: /s/x-1.dist-info/ALIAS"


# ---------------------------------------------------------------------------------------
# RECORD rows judged in their layer (streamed digests, cached with the layer)

def _sbom(ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    assert main(["sbom", ref, "-o", "json", "-q"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    return {p["name"]: dict(p["extras"]) for p in doc["packages"]}


def _streamed_package(tail: str = "") -> dict[str, bytes | str]:
    code = b"print('x')\n"
    record = "\n".join([
        f"x-1.0.dist-info/RECORD.jws,sha256={b64('sha256', b'sig')},3",  # exempt sidecar
        # padded, as some tools wrote it
        "x/a.py,sha256=" + base64.urlsafe_b64encode(hashlib.sha256(code).digest()).decode()
        + f",{len(code)}",
        f"x/b.py,sha256={b64('sha256', code)}{tail},{len(code)}",
        f"x/c.py,sha256={b64('sha256', code)},{len(code)}",
        "x-1.0.dist-info/RECORD,,", ""])
    return {f"{DEB}/x/a.py": code, f"{DEB}/x/b.py": code, f"{DEB}/x/c.py": b"print('y')\n",
            f"{DEB}/x-1.0.dist-info/RECORD.jws": b"SIG",
            f"{DEB}/x-1.0.dist-info/METADATA": meta("x", "1.0"),
            f"{DEB}/x-1.0.dist-info/RECORD": record,
            # pip install --target: no streamed digests for its RECORD (not a site dir)
            "app/deps/y-2.0.dist-info/METADATA": meta("y", "2.0"),
            "app/deps/y-2.0.dist-info/RECORD": "y/mod.py,sha256=AAAA,1\n"}


@pytest.mark.parametrize(("tail", "modified"), [
    ("", f"1: /{DEB}/x/c.py"),
    ("X", f"2: /{DEB}/x/b.py, /{DEB}/x/c.py"),  # a digest with a character more
])
def test_rows_judged_in_their_layer(make_image: Callable[..., str],
                                    capsys: pytest.CaptureFixture[str], tail: str,
                                    modified: str) -> None:
    """The layer that wrote the RECORD judges its rows by the sha256 streamed by: a padded
    digest matches, one with a character more does not, the sidecar is exempt and the rows
    after it are judged; a RECORD outside the site dirs is checked in the merged tree."""
    got = _sbom(make_image(_streamed_package(tail)), capsys)
    by_hash = 1 if tail else 2
    assert got["x"]["record:checked"] == f"3 files: {by_hash} by hash, 0 by size only"
    assert got["x"]["record:modified"] == modified
    assert got["y"]["record:missing"] == "1: /app/deps/y/mod.py"


@pytest.mark.parametrize(("tail", "modified"), [
    ("", f"1: /{DEB}/x/c.py"),
    ("X", f"2: /{DEB}/x/b.py, /{DEB}/x/c.py"),
])
def test_rows_a_later_layer_rewrote_are_checked_by_its_digests(
        make_image: Callable[..., str], capsys: pytest.CaptureFixture[str], tail: str,
        modified: str) -> None:
    """A later layer writing the same bytes again: the rows are checked in the merged tree,
    by the sha256 streamed by in that layer, with the same answers."""
    first = _streamed_package(tail)
    again = {k: v for k, v in first.items() if k.startswith(f"{DEB}/x/")}
    got = _sbom(make_image(first, again), capsys)
    by_hash = 1 if tail else 2
    assert got["x"]["record:checked"] == f"3 files: {by_hash} by hash, 0 by size only"
    assert got["x"]["record:modified"] == modified


def test_a_warm_run_reads_no_record_again(make_image: Callable[..., str],
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When no later layer changed a listed file, the verdicts cached with the RECORD's layer
    are the answer: neither the rows are compared nor the RECORD parsed again, for the
    integrity extras as for the files the package owns."""
    ref = make_image({k: v for k, v in _streamed_package().items() if not k.startswith("app/")})
    cold = _sbom(ref, capsys)
    parsed: list[str] = []
    real_rows = py._record_rows.__wrapped__

    def counting(data: bytes, base: str) -> tuple[tuple[str, str, str], ...]:
        parsed.append(base)
        return real_rows(data, base)

    monkeypatch.setattr(py, "_record_rows", counting)
    assert main(["sbom", ref, "-o", "json", "-q"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    (x,) = [p for p in doc["packages"] if p["name"] == "x"]
    assert dict(x["extras"]) == cold["x"]
    assert len(x["files"]) == 5
    assert parsed == []


def test_layer_records_judge_each_row_and_keep_nothing_of_a_judged_one() -> None:
    sink = py.RecordDigests()
    site, code = f"/{DEB}", b"print(1)\n"
    padded = base64.urlsafe_b64encode(hashlib.sha256(code).digest()).decode()
    record = "\n".join([
        f"x/a.py,sha256={padded},{len(code)}",  # padded: the same digest
        f"x/b.py,sha256={b64('sha256', code)}X,{len(code)}",  # a character more: not it
        f"x/c.py,sha512={b64('sha512', code)},{len(code)}",  # not sha256: not judged here
        "x/gone.py,sha256=AAAA,1",  # not written by this layer: not judged here
        "x-1.dist-info/RECORD,,", ""]).encode()
    for name in ("a", "b", "c"):
        sink.take(0, f"{site}/x/{name}.py", code)
    sink.take(0, f"{site}/x-1.dist-info/RECORD", record)
    assert list(py.layer_records(sink)) == [f"{site}/x-1.dist-info/RECORD"]
    judged = py.layer_records(sink)[f"{site}/x-1.dist-info/RECORD"]
    assert list(judged.paths) == [f"{site}/x/a.py", f"{site}/x/b.py", f"{site}/x/c.py",
                                  f"{site}/x/gone.py", f"{site}/x-1.dist-info/RECORD"]
    assert judged.verdicts == bytes([py.SAME, py.CHANGED, py.UNJUDGED, py.UNJUDGED,
                                     py.UNJUDGED])
    assert list(judged.digests) == ["", "", f"sha512={b64('sha512', code)}", "sha256=AAAA", ""]
    assert list(judged.sizes) == ["", "", str(len(code)), "1", ""]


@pytest.mark.parametrize(("paths", "digests", "sizes", "verdicts"), [
    (["a"], ["", ""], [""], b"\x00"),  # columns of different lengths
    (["a"], [""], [""], b""),
    (["a"], [""], [""], b"\x03"),  # no such verdict
])
def test_a_malformed_judged_record_is_refused(paths: list[str], digests: list[str],
                                              sizes: list[str], verdicts: bytes) -> None:
    with pytest.raises(ValueError, match=r"\Amalformed judged RECORD\Z"):
        py.LayerRecord(paths, digests, sizes, verdicts)


def test_record_digests_want_package_files_up_to_their_limit() -> None:
    sink = py.RecordDigests()
    where = f"/{SITE}/x/a.py"
    assert sink.wants(where, sink.max_size) and not sink.wants(where, sink.max_size + 1)
    assert sink.wants(f"/{DEB}/x/a.py", 1)
    assert not sink.wants(f"/{DEB}/x/__pycache__/a.cpython-311.pyc", 1)
    assert not sink.wants("/srv/app/x/a.py", 1)


# ---------------------------------------------------------------------------------------
# direct_url.json (PEP 610)

def test_a_direct_url_document_of_exactly_64_kib_is_read() -> None:
    doc = json.dumps({"url": "file:///src/app", "dir_info": {}}).encode()
    data = doc + b" " * (py.MAX_DIRECT_URL - len(doc))
    assert dict(direct_url_extras(data)) == {"direct-url": "local-directory",
                                             "direct-url-url": "file:///src/app"}
    assert direct_url_extras(data + b" ") == [("direct-url", "unreadable")]


_GIT = "https://git.example.com/acme/lib.git"


@pytest.mark.parametrize(("doc", "expected"), [
    # fields that are no string, or empty, are left out; long ones cut
    ({"url": _GIT, "vcs_info": {"vcs": "git", "commit_id": 123, "requested_revision": ""}},
     {"direct-url": "vcs", "direct-url-url": _GIT, "direct-url-vcs": "git"}),
    ({"url": _GIT, "vcs_info": {"vcs": "git", "requested_revision": "r" * 300}},
     {"direct-url": "vcs", "direct-url-url": _GIT, "direct-url-vcs": "git",
      "direct-url-requested-revision": "r" * 200}),
    # PEP 610's hashes: the first string in name order, cut at 300 characters
    ({"url": "https://x.example/a.whl",
      "archive_info": {"hashes": {"sha512": "b" * 10, "md5": 5, "sha256": "a" * 400},
                       "hash": "sha1=ignored"}},
     {"direct-url": "archive", "direct-url-url": "https://x.example/a.whl",
      "direct-url-hash": ("sha256=" + "a" * 400)[:300]}),
    # the older single "hash"
    ({"url": "https://x.example/a.whl", "archive_info": {"hash": "sha256=" + "c" * 400}},
     {"direct-url": "archive", "direct-url-url": "https://x.example/a.whl",
      "direct-url-hash": ("sha256=" + "c" * 400)[:300]}),
    ({"url": "https://x.example/a.whl", "archive_info": {"hash": 5}},
     {"direct-url": "archive", "direct-url-url": "https://x.example/a.whl"}),
    # none of the three kinds
    ({"url": "https://x.example/a"}, {"direct-url": "unknown",
                                      "direct-url-url": "https://x.example/a"}),
])
def test_direct_url_fields(doc: dict[str, object], expected: dict[str, str]) -> None:
    assert dict(direct_url_extras(json.dumps(doc).encode())) == expected
    assert len(direct_url_extras(json.dumps(doc).encode())) == len(expected)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://[::1/x", "(unreadable URL)"),
    # a token as the user name is a secret; so is "git" with a password
    ("https://ghp_s3cret@GitHub.com/acme/lib.git", "https://github.com/acme/lib.git"),
    ("https://git:pw@github.com/acme/lib.git", "https://github.com/acme/lib.git"),
    ("https://u:p@host.example:8443/x", "https://host.example:8443/x"),
    ("https://u:p@/x", "https:///x"),
    # without credentials the URL is kept as written
    ("https://GitHub.com:443/Acme/Lib.git", "https://GitHub.com:443/Acme/Lib.git"),
    ("https://example.com/" + "a" * 2500, ("https://example.com/" + "a" * 2500)[:2000]),
    ("https://u:p@example.com/" + "a" * 2500, ("https://example.com/" + "a" * 2500)[:2000]),
])
def test_direct_url_credentials_are_removed(url: str, shown: str) -> None:
    extras = dict(direct_url_extras(json.dumps({"url": url, "dir_info": {}}).encode()))
    assert extras["direct-url-url"] == shown


# ---------------------------------------------------------------------------------------
# python-project

PROJECT = '[project]\nname = "Acme_Web"\nversion = "2.1.0"\n'


def projects(tmp: Path, files: dict[str, bytes | str]) -> list[tuple[str, str, str]]:
    cats = (PythonInstalledCataloger(), PythonProjectCataloger())
    inv = inventory_of(tmp, cats, files)
    assert inv.unknowns == ()
    return sorted((p.name, p.version, p.found_by) for p in inv.packages)


def test_a_project_says_where_it_is(tmp_path: Path) -> None:
    inv = inventory_of(tmp_path, (PythonProjectCataloger(),), {"srv/app/pyproject.toml": PROJECT})
    (pkg,) = inv.packages
    assert dict(pkg.extras) == {"project": "true", "project-dir": "/srv/app"}
    assert pkg.locations[0].path == "/srv/app/pyproject.toml"


@pytest.mark.parametrize(("data", "found"), [
    (PROJECT + "#" * ((1 << 20) - len(PROJECT)), True),  # exactly 1 MiB
    (PROJECT + "#" * ((1 << 20) - len(PROJECT) + 1), False),
    ("\ufeff" + PROJECT, True),  # a byte order mark, as Windows editors write
    (PROJECT.encode() + "# Jos\xe9\n".encode("latin-1"), True),  # no UTF-8: replaced
    ('[project]\nname = "' + "n" * 200 + '"\nversion = "1"\n', True),
    ('[project]\nname = "' + "n" * 201 + '"\nversion = "1"\n', False),
    ('[project]\nname = "n"\nversion = "1.' + "0" * 198 + '"\n', True),
    ('[project]\nname = "n"\nversion = "1.' + "0" * 199 + '"\n', False),
])
def test_pyproject_bounds_and_encodings(tmp_path: Path, data: str | bytes, found: bool) -> None:
    inv = inventory_of(tmp_path, (PythonProjectCataloger(),), {"app/pyproject.toml": data})
    assert len(inv.packages) == (1 if found else 0) and inv.unknowns == ()


@pytest.mark.parametrize(("installed", "expected"), [
    # installed as a dist-info directory, an egg-info file, egg-info directories with the
    # Python (and platform) tags setuptools adds: the installed copy is the package
    ({f"{SITE}/acme_web-2.1.0.dist-info/METADATA": meta("Acme_Web", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-installed")]),
    ({f"{DEB}/Acme_Web-2.1.0.egg-info": meta("Acme_Web", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-installed")]),
    ({f"{DEB}/Acme_Web-2.1.0-py3.11.egg-info/PKG-INFO": meta("Acme_Web", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-installed")]),
    ({f"{DEB}/Acme_Web-2.1.0-py3.11-linux-x86_64.egg-info/PKG-INFO": meta("Acme_Web", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-installed")]),
    # an unpacked sdist is not installed
    ({"src/acme_web-2.1.0/PKG-INFO": meta("Acme_Web", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-project")]),
    # another version of it, or another distribution of the same version
    ({f"{SITE}/acme_web-2.0.0.dist-info/METADATA": meta("Acme_Web", "2.0.0")},
     [("Acme_Web", "2.0.0", "python-installed"), ("Acme_Web", "2.1.0", "python-project")]),
    ({f"{SITE}/other-2.1.0.dist-info/METADATA": meta("other", "2.1.0")},
     [("Acme_Web", "2.1.0", "python-project"), ("other", "2.1.0", "python-installed")]),
])
def test_a_project_installed_in_the_image_is_listed_once(
        tmp_path: Path, installed: dict[str, bytes | str],
        expected: list[tuple[str, str, str]]) -> None:
    assert projects(tmp_path, {"app/pyproject.toml": PROJECT, **installed}) == expected
