"""Binaries found by content anywhere in the image, while the layers stream: a real Go
binary (built offline by the local toolchain) outside every executable glob, deleted
binaries, glob paths reported once, non-binaries ignored, and the CLI. Large executables
(a real 35 MiB Go binary) spooled to an unlinked file and parsed from a map: found, never
held in memory, the copy always removed, hostile ones bounded."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import mmap
import os
import random
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hullcheck import catalog, filetree, pipeline
from hullcheck.catalog import elf, streaming
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.catalog.elf import EXECUTABLE_GLOBS, Data, PagedMap
from hullcheck.catalog.python import RecordDigests
from hullcheck.catalog.registry import BINARY_CATALOGERS, CATALOGERS
from hullcheck.catalog.streaming import MAX_BINARY, BinarySink, Streamed
from hullcheck.cli.main import main
from hullcheck.errors import UnsafeLayer
from hullcheck.filetree import FanOut, analysis, compile_globs
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, file, whiteout
from hullcheck.model import ImageSource, Inventory, Location, Package, PackageType, Visibility
from hullcheck.secrets.scanner import Scanner
from tests.catalog.test_golang import FIXTURES, GO, _proxy
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.binaries.paged import needs_rss, paged, resident
from tests.fixtures.images import LayerSpec, build, write
from tests.fixtures.tools import need_command
from tests.match.support import make_db, osv_source, write_osv
from tests.secrets import fakes

SOURCE = ImageSource(kind="oci", name="test")
MAIN = "example.com/hullcheck/app"
RUN, SVC = "/opt/svc/server/run", "/workspace/svc"
OS = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'}


def _go_build(root: Path, module: str, goos: str = "linux", *, shared: bool = False,
              ldflags: str = "-s -w") -> bytes:
    """A stripped amd64 build of ``root/module`` (offline, module proxy on disk);
    ``shared``: a C shared library (-buildmode=c-shared, with cgo)."""
    assert GO is not None
    if not (root / "proxy").exists():
        _proxy(root)
    env = {**os.environ, "GOPROXY": f"file://{root / 'proxy'}",
           "GOFLAGS": "-mod=mod -modcacherw", "GOSUMDB": "off", "GONOSUMDB": "*",
           "GOTOOLCHAIN": "local", "GOPATH": str(root / "gopath"),
           "CGO_ENABLED": "1" if shared else "0", "GOWORK": "off", "GOOS": goos,
           "GOARCH": "amd64"}
    out = root / f"{module}-{goos}-{next(_builds)}"
    mode = ["-buildmode=c-shared"] if shared else []
    subprocess.run([GO, "build", *mode, f"-ldflags={ldflags}", "-o", str(out), "."],
                   cwd=root / module, env=env, check=True, capture_output=True, timeout=600)
    return out.read_bytes()


_builds = iter(range(1 << 30))


def _app(tmp_path_factory: pytest.TempPathFactory, goos: str) -> bytes:
    need_command("go", "golang-go")
    root = tmp_path_factory.mktemp(f"go-app-{goos}")
    shutil.copytree(FIXTURES / "app", root / "app")
    shutil.copytree(FIXTURES / "lib", root / "lib")
    return _go_build(root, "app", goos=goos)


@pytest.fixture(scope="session")
def go_app(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A linux/amd64 Go binary of tests/fixtures/go/app (offline, module proxy on disk)."""
    return _app(tmp_path_factory, "linux")


@pytest.fixture(scope="session")
def go_app_pe(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """tests/fixtures/go/app for windows/amd64: a PE."""
    return _app(tmp_path_factory, "windows")


BIG_BLOB = 34 << 20  # the big binary is over both MAX_BINARY and the tree's DEFAULT_MAX_FILE


@pytest.fixture(scope="session")
def go_big(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real Go binary of tests/fixtures/go/big, over 34 MiB: it embeds random bytes."""
    need_command("go", "golang-go")
    root = tmp_path_factory.mktemp("go-big")
    shutil.copytree(FIXTURES / "big", root / "big")
    (root / "big" / "blob.bin").write_bytes(random.Random(7).randbytes(BIG_BLOB))
    data = _go_build(root, "big")
    assert len(data) > max(MAX_BINARY, filetree.DEFAULT_MAX_FILE)
    return data


def exe(path: str, data: bytes) -> Entry:
    return file(path.lstrip("/"), data, 0o755)


_images = iter(range(1 << 30))


def image_of(tmp_path: Path, *layers: LayerSpec) -> str:
    dest = tmp_path / f"img{next(_images)}"
    dest.mkdir()
    return write(build(*layers), dest)


def streamed_inventory(tmp_path: Path, *layers: LayerSpec,
                       max_file: int = filetree.DEFAULT_MAX_FILE,
                       ) -> tuple[Inventory, Streamed, filetree.FileTree]:
    """The inventory hullcheck gives (all catalogers, binary sink attached), the sink's raw
    results and the tree."""
    sink = BinarySink(kept_up_to=max_file)
    tree = filetree.build(open_image(image_of(tmp_path, *layers)), catalog.globs_for(streamed=True),
                          max_file=max_file, sink=sink)
    results = sink.results()
    return catalog.run(tree, SOURCE, streamed=results), results, tree


def go_packages(inv: Inventory, path: str) -> dict[str, Package]:
    return {p.name: p for p in inv.packages
            if p.type is PackageType.GO and p.locations[0].path == path}


def test_the_paths_are_outside_every_glob() -> None:
    globs = compile_globs(catalog.globs_for())
    assert globs is not None
    assert not globs.match(RUN) and not globs.match(SVC)
    assert compile_globs(EXECUTABLE_GLOBS).match("/usr/local/bin/app")  # type: ignore[union-attr]


def test_go_binary_outside_globs_is_found_with_modules_and_layer(
        go_app: bytes, tmp_path: Path) -> None:
    inv, _, tree = streamed_inventory(tmp_path, OS, {RUN: exe(RUN, go_app)},
                                      {SVC: exe(SVC, go_app)})
    assert inv.unknowns == ()
    for path, layer in ((RUN, 1), (SVC, 2)):
        pkgs = go_packages(inv, path)
        assert set(pkgs) == {MAIN, "example.com/hullcheck/lib", "rsc.example/quote", "stdlib"}
        assert pkgs["rsc.example/quote"].version == "v1.5.2"
        assert pkgs["rsc.example/quote"].purl == "pkg:golang/rsc.example/quote@v1.5.2"
        assert pkgs[MAIN].version == "(devel)"
        assert dict(pkgs[MAIN].extras)["build.-ldflags"] == "-s -w"
        for p in pkgs.values():
            assert p.locations[0].layer == layer
            assert p.visibility is Visibility.VISIBLE
            assert p.found_by == "go-module-binary"
            assert p.files == (path,)
    # Without the streamed results, the catalogers over the tree find none of it.
    assert [p for p in catalog.run(tree, SOURCE).packages if p.type is PackageType.GO] == []


def test_binary_deleted_in_a_later_layer_is_shipped_not_visible(
        go_app: bytes, tmp_path: Path) -> None:
    inv, results, _ = streamed_inventory(tmp_path, OS, {SVC: exe(SVC, go_app)},
                                         [whiteout(SVC)])
    pkgs = go_packages(inv, SVC)
    assert set(pkgs) >= {MAIN, "rsc.example/quote", "stdlib"}
    for p in pkgs.values():
        assert p.visibility is Visibility.HIDDEN
        assert p.locations[0].layer == 1
    assert {f.layer for f in results.files} == {1}


def test_replaced_binary_keeps_the_visible_copy(go_app: bytes, tmp_path: Path) -> None:
    inv, _, _ = streamed_inventory(tmp_path, {SVC: exe(SVC, go_app)}, {SVC: exe(SVC, go_app)})
    pkgs = go_packages(inv, SVC)
    assert pkgs[MAIN].visibility is Visibility.VISIBLE
    assert pkgs[MAIN].locations[0].layer == 0  # the earliest layer that shipped it
    assert sum(p.name == MAIN for p in inv.packages) == 1


def test_binary_under_a_glob_is_reported_once(go_app: bytes, tmp_path: Path) -> None:
    inv, results, _ = streamed_inventory(tmp_path, {"/usr/local/bin/app":
                                                    exe("/usr/local/bin/app", go_app)})
    names = [p.name for p in inv.packages if p.type is PackageType.GO]
    assert sorted(names) == sorted(set(names))
    assert set(names) == {MAIN, "example.com/hullcheck/lib", "rsc.example/quote", "stdlib"}
    # The sink read it (the tree kept none of its bytes), as the Go cataloger's own file.
    assert {(f.path, f.cataloger, f.globbed) for f in results.files} == {
        ("/usr/local/bin/app", "go-module-binary", True)}


def test_glob_binary_too_large_for_the_tree_is_read_by_the_sink(
        go_app: bytes, tmp_path: Path) -> None:
    path = "/usr/local/bin/app"
    inv, results, _ = streamed_inventory(tmp_path, {path: exe(path, go_app)},
                                         max_file=len(go_app) - 1)
    assert set(go_packages(inv, path)) == {MAIN, "example.com/hullcheck/lib",
                                           "rsc.example/quote", "stdlib"}
    assert {f.globbed for f in results.files} == {False}  # read by the sink, within its limits
    assert not [u for u in inv.unknowns if u.location.path == path]
    # A too-large glob file the sink did not read is still an unknown.
    big = "/usr/local/bin/big.tar.gz"
    inv, results, _ = streamed_inventory(tmp_path, {big: file(big.lstrip("/"), b"x" * 100)},
                                         max_file=10)
    assert {(f.globbed, f.error) for f in results.files} == {
        (True, "file of 100 bytes is over the size limit")}
    [u] = [u for u in inv.unknowns if u.location.path == big]
    assert "over the size limit" in u.reason


def test_non_binaries_are_ignored(go_app: bytes, tmp_path: Path) -> None:
    sink = BinarySink()
    sniffed: list[str] = []
    real = sink.wants_head

    def wants_head(path: str, head: bytes) -> bool:
        sniffed.append(path)
        return real(path, head)

    sink.wants_head = wants_head  # type: ignore[method-assign]
    text = b"#!/bin/sh\n# \xff Go buildinf:\x08\x02 mentions the magic\n" + b"x" * 200
    layer = {"/workspace/run": exe("/workspace/run", text),
             "/workspace/run.sh": exe("/workspace/run.sh", text),  # skipped by name
             "/workspace/notes.txt": exe("/workspace/notes.txt", go_app),  # skipped by name
             "/workspace/tiny": exe("/workspace/tiny", b"\x7fELF")}  # too small
    tree = filetree.build(open_image(image_of(tmp_path, layer)), catalog.globs_for(), sink=sink)
    inv = catalog.run(tree, SOURCE, streamed=sink.results())
    assert inv.packages == () and inv.unknowns == ()
    assert sniffed == ["/workspace/run"]  # only its head was read, and it is no executable
    assert sink.counts.parsed == 0 and sink.results().files == ()


def test_broken_go_build_info_outside_globs_is_an_unknown(tmp_path: Path) -> None:
    section = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\x7f" + b"go"
    bad = make_elf([(".go.buildinfo", section)])
    inv, _, _ = streamed_inventory(tmp_path, {SVC: exe(SVC, bad)})
    [u] = inv.unknowns
    assert (u.location.path, u.location.layer, u.cataloger) == (SVC, 0, "go-module-binary")
    assert "runs past end of file" in u.reason


def _dpkg_owning(path: str) -> dict[str, str]:
    status = ("Package: busybox\nStatus: install ok installed\nArchitecture: amd64\n"
              "Version: 1:1.35.0-4\nDescription: tiny utilities\n")
    return {"var/lib/dpkg/status": status,
            "var/lib/dpkg/info/busybox.list": f"/.\n/usr\n/usr/libexec\n{path}\n"}


def test_version_string_binary_outside_globs_and_os_ownership(tmp_path: Path) -> None:
    path = "/usr/libexec/tools/busybox"
    elf = make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00BusyBox v1.36.1 (2023)\x00")])
    inv, _, _ = streamed_inventory(tmp_path, {path: exe(path, elf)})
    [pkg] = inv.packages
    assert (pkg.name, pkg.version, pkg.type) == ("busybox", "1.36.1", PackageType.BINARY)
    assert pkg.locations[0].path == path and pkg.locations[0].layer == 0
    # The same file owned by the dpkg package busybox: the OS package reports it, once.
    owned: dict[str, str | Entry] = {**_dpkg_owning(path), path: exe(path, elf)}
    inv, results, _ = streamed_inventory(tmp_path, owned)
    assert [f.cataloger for f in results.files] == ["binary-version"]  # found, then dropped
    assert [(p.type, p.name) for p in inv.packages] == [(PackageType.DEB, "busybox")]
    assert inv.packages[0].found_by == DpkgCataloger.name


# -- the composite sink ------------------------------------------------------------------


class _Recorder:
    def __init__(self, prefix: str, sniff: bytes | None = None) -> None:
        self.prefix = prefix
        self.taken: list[tuple[int, str, bytes]] = []
        if sniff is not None:
            self.head_size = len(sniff)
            self.wants_head = lambda path, head: head.startswith(sniff)
        self.lock = threading.Lock()

    def wants(self, path: str, size: int) -> bool:
        return path.startswith(self.prefix)

    def take(self, layer: int, path: str, data: bytes) -> None:
        with self.lock:
            self.taken.append((layer, path, data))


def test_fanout_gives_each_sink_only_what_it_wants(tmp_path: Path) -> None:
    plain, sniffing = _Recorder("/a/"), _Recorder("/", sniff=b"MAGIC")
    layer = {"a/one": b"MAGIC one", "a/two": b"plain two", "b/three": b"MAGIC three",
             "b/four": b"not four", "usr/bin/five": b"MAGIC five"}
    image = open_image(image_of(tmp_path, layer))
    filetree.build(image, ["/usr/bin/*"], sink=FanOut(plain, sniffing))
    assert sorted(p for _, p, _ in plain.taken) == ["/a/one", "/a/two"]
    assert sorted((p, d) for _, p, d in sniffing.taken) == [
        ("/a/one", b"MAGIC one"), ("/b/three", b"MAGIC three"), ("/usr/bin/five", b"MAGIC five")]


def test_secret_scanner_and_binary_sink_share_one_read(go_app: bytes, tmp_path: Path) -> None:
    key, secret = fakes.aws_key_id(3), fakes.aws_secret(3)
    creds = f"aws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    layer: dict[str, str | Entry] = {SVC: exe(SVC, go_app), "workspace/.env": creds}
    image = open_image(image_of(tmp_path, layer))
    scanner, sink = Scanner(), BinarySink()
    tree = filetree.build(image, catalog.globs_for(), sink=FanOut(scanner, sink))
    report = scanner.report(tree, image)
    assert {f.path for f in report.findings} == {"/workspace/.env"}
    assert report.files_scanned == 1  # the Go binary has NUL bytes: counted as binary
    assert set(go_packages(catalog.run(tree, SOURCE, streamed=sink.results()), SVC)) >= {
        MAIN, "stdlib"}


# -- through the pipeline and the CLI ------------------------------------------------------


def test_sbom_cli_finds_binaries_anywhere(go_app: bytes, make_image: Callable[..., str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(OS, {RUN: exe(RUN, go_app)}, {SVC: exe(SVC, go_app)}, [whiteout(RUN)])
    assert main(["sbom", ref, "-o", "json", "--scope", "all-layers"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    found = {(p["locations"][0]["path"], p["name"]): p for p in doc["packages"]
             if p["type"] == "golang"}
    assert found[(SVC, "rsc.example/quote")]["version"] == "v1.5.2"
    assert found[(SVC, "rsc.example/quote")]["locations"][0]["layer"] == 2
    assert found[(SVC, "rsc.example/quote")]["visibility"] == "visible"
    assert found[(RUN, MAIN)]["visibility"] == "shipped-not-visible"
    assert found[(RUN, MAIN)]["locations"][0]["layer"] == 1
    assert {path for path, _ in found} == {RUN, SVC}


def test_scan_cli_matches_a_module_of_a_streamed_binary(
        go_app: bytes, make_image: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    rec = {"id": "GO-2099-0001", "modified": "2024-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "Go", "name": "rsc.example/quote"},
         "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.5.3"}]}]}]}
    db = make_db(tmp_path / "v.db", osv_source("go", write_osv(tmp_path / "osv", rec)),
                 fixtures=False)
    ref = make_image(OS, {SVC: exe(SVC, go_app)})
    for scanners in ("vuln", "vuln,secret"):  # without and with the secret scanner's sink
        assert main(["scan", ref, "--db", str(db), "--scanners", scanners, "-o", "json"]) == 0
        doc = json.loads(capsys.readouterr()[0])
        [f] = [f for f in doc["findings"] if f["id"] == "GO-2099-0001"]
        assert f["package"]["location"] == SVC and f["package"]["version"] == "v1.5.2"


def test_pipeline_read_image_attaches_the_binary_sink_only_for_the_catalog(
        go_app: bytes, make_image: Callable[..., str]) -> None:
    ref = make_image({SVC: exe(SVC, go_app)})
    read = pipeline.read_image(pipeline.SbomRequest(image=ref))
    assert read.streamed is not None and {f.path for f in read.streamed.files} == {SVC}
    assert pipeline.read_image(pipeline.SbomRequest(image=ref), globs=()).streamed is None
    inv = pipeline.inventory(pipeline.SbomRequest(image=ref))
    assert set(go_packages(inv, SVC)) >= {MAIN, "rsc.example/quote", "stdlib"}


def test_size_limits_outside_and_inside_the_globs(go_app: bytes, tmp_path: Path) -> None:
    glob_path = "/usr/local/bin/app"
    sink = BinarySink(kept_up_to=1024, max_size=len(go_app) // 2,
                      max_spooled=len(go_app) - 1)
    assert sink.wants(SVC, len(go_app))  # any size: the head decides, then the limits
    assert sink.wants(glob_path, 1025)  # too large for the tree: read here
    assert sink.wants(glob_path, 1024)  # one the tree would have kept: read here too
    image = open_image(image_of(tmp_path, {SVC: exe(SVC, go_app),
                                           glob_path: exe(glob_path, go_app)}))
    tree = filetree.build(image, catalog.globs_for(), max_file=1024, sink=sink)
    assert sink.counts.skipped == {"too-large": 2} and sink.counts.parsed == 0
    results = sink.results()
    # Outside the globs: one unknown per parser; inside, the tree's "over the size limit".
    assert {(f.path, f.cataloger) for f in results.files} == {
        (path, name) for name in results.catalogers for path in (SVC, glob_path)}
    assert {f.error for f in results.files if f.path == glob_path} == {
        f"file of {len(go_app)} bytes is over the size limit"}
    assert all("over the" in f.error and not f.packages for f in results.files)
    inv = catalog.run(tree, SOURCE, streamed=results)
    assert inv.packages == ()
    assert {u.location.path for u in inv.unknowns} == {SVC, glob_path}


# -- large executables, spooled to disk ------------------------------------------------------


@dataclasses.dataclass
class SpoolSpy:
    """The spool directory (TMPDIR for the test) and, for each file spooled: its size, the
    directory listing and this process's descriptors into the directory while mapped."""

    dir: Path
    seen: list[tuple[int, list[str], list[str]]]


def _open_into(d: Path) -> list[str]:
    """The files in ``d`` this process's open descriptors point at (Linux /proc), not ``d``
    itself: a layer thread taking its snapshot while another lists ``d`` (two layers spooled
    at once) saw that listing's handle on the directory, and failed as a leaked copy."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{d}/"):
                found.append(target)
    return found


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpoolSpy:
    if not Path("/proc/self/fd").is_dir():
        pytest.fail("needs Linux /proc to see the descriptors")
    d = tmp_path / "spool"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    spy = SpoolSpy(d, [])
    real = streaming._spooled

    @contextlib.contextmanager
    def watched(head: bytes, read: Callable[[int], bytes], size: int,
                copied: streaming._Copied) -> Iterator[PagedMap]:
        with real(head, read, size, copied) as data:
            spy.seen.append((size, os.listdir(d), _open_into(d)))
            yield data

    monkeypatch.setattr(streaming, "_spooled", watched)
    return spy


def assert_no_copy_left(spy: SpoolSpy) -> None:
    assert os.listdir(spy.dir) == [] and _open_into(spy.dir) == []
    for _, listing, fds in spy.seen:  # while parsed: open, but already unlinked
        assert listing == [] and fds and all(t.endswith("(deleted)") for t in fds)


def _in_step(chunks: Iterator[bytes], *, depth: int = 4) -> Iterator[bytes]:
    """``decompress_ahead`` without its thread: each chunk made when it is asked for."""
    del depth
    yield from chunks


def _read_peak(ref: str, sink: BinarySink | None) -> tuple[filetree.FileTree, int]:
    """The tree (read as the pipeline does, with RecordDigests beside the binary sink) and
    the peak of Python's allocations while reading. The chunks are inflated in step with the
    reader, not by the thread that runs up to four ahead: how far ahead it got depends on the
    scheduler (a slow sink under load let it fill its queue; an unloaded baseline did not),
    and the peaks compared here are the sink's, not the queue's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analysis, "decompress_ahead", _in_step)
        return _traced_peak(ref, sink)


def _traced_peak(ref: str, sink: BinarySink | None) -> tuple[filetree.FileTree, int]:
    tracemalloc.start()
    try:
        tree = filetree.build(open_image(ref), catalog.globs_for(), workers=1,
                              sink=FanOut(sink, RecordDigests()) if sink else RecordDigests())
        return tree, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BIG = "example.com/hullcheck/big"


def test_large_go_binaries_are_spooled_never_held_whole(
        go_big: bytes, tmp_path: Path, spool: SpoolSpy, capsys: pytest.CaptureFixture[str]) -> None:
    """A 35 MiB Go service outside the globs (over MAX_BINARY) and the same at /app/server
    (a glob, but over the tree's DEFAULT_MAX_FILE) in a real image: found through a disk copy
    that is gone afterwards, and no more than a few MiB of either is ever in memory."""
    server = "/app/server"
    ref = image_of(tmp_path, OS, {RUN: exe(RUN, go_big)}, {server: exe(server, go_big)})
    _, baseline = _read_peak(ref, None)  # the reader's own buffers (decompression ahead)
    sink = BinarySink()
    tree, peak = _read_peak(ref, sink)
    assert peak - baseline < 4 << 20  # a 1 MiB chunk at a time, never a file
    assert sink.counts.spooled == 2 and sink.counts.spooled_bytes == 2 * len(go_big)
    assert sink.counts.skipped == {}
    assert [size for size, _, _ in spool.seen] == [len(go_big)] * 2
    assert_no_copy_left(spool)
    results = sink.results()
    assert {f.globbed for f in results.files if f.path == server} == {False}  # read, spooled
    inv = catalog.run(tree, SOURCE, streamed=results)
    assert inv.unknowns == ()  # no "over the size limit" for /app/server either
    for path, layer in ((RUN, 1), (server, 2)):
        pkgs = go_packages(inv, path)
        assert set(pkgs) == {BIG, "rsc.example/quote", "stdlib"}
        assert pkgs["rsc.example/quote"].version == "v1.5.2"
        assert dict(pkgs[BIG].extras)["build.-ldflags"] == "-s -w"
        assert {p.locations[0].layer for p in pkgs.values()} == {layer}
    # The measurement sees a file held whole: the same read with a large in-memory limit.
    _, held_peak = _read_peak(ref, BinarySink(max_size=64 << 20))
    assert held_peak - baseline > len(go_big)
    # And through the CLI (the pipeline's own sinks).
    assert main(["sbom", ref, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    found = {(p["locations"][0]["path"], p["name"], p["version"]) for p in doc["packages"]
             if p["type"] == "golang"}
    assert {(path, "rsc.example/quote", "v1.5.2") for path in (RUN, server)} <= found
    assert_no_copy_left(spool)


def _elf_garbage(size: int) -> bytes:
    """ELF magic and class bytes, then random bytes holding the Go build-info magic (at a
    16-byte boundary) and the cargo-auditable section name, so both parsers dig in."""
    data = bytearray(b"\x7fELF\x02\x01\x01" + random.Random(size).randbytes(size - 7))
    data[4096:4096 + 14] = b"\xff Go buildinf:"
    data[8192:8192 + 7] = b".dep-v0"
    return bytes(data)


def test_hostile_large_files_are_bounded(go_app: bytes, tmp_path: Path,
                                         spool: SpoolSpy) -> None:
    garbage = _elf_garbage(2 << 20)
    cut = go_app[:go_app.find(b"\xff Go buildinf:") + 4096]  # build info kept, headers lost
    huge = b"\x7fELF\x02\x01\x01" + bytes((3 << 20) - 6)  # one byte over max_spooled
    sink = BinarySink(max_size=64 << 10, max_spooled=3 << 20,
                      spool_budget=len(garbage) + len(cut) + 1)
    paths = {"garbage": "/srv/data/garbage", "cut": "/srv/data/cut", "huge": "/srv/data/huge",
             "late": "/srv/data/late"}
    ref = image_of(tmp_path, {paths["garbage"]: exe(paths["garbage"], garbage)},
                   {paths["cut"]: exe(paths["cut"], cut)},
                   {paths["huge"]: exe(paths["huge"], huge)},
                   {paths["late"]: exe(paths["late"], go_app)})  # over what is left
    filetree.build(open_image(ref), catalog.globs_for(), sink=sink, workers=1)
    assert sink.counts.spooled == 2 and sink.counts.spooled_bytes == len(garbage) + len(cut)
    assert sink.counts.skipped == {"too-large": 1, "budget-spent": 1}
    assert_no_copy_left(spool)
    errors: dict[str, dict[str, str]] = {}
    for f in sink.results().files:
        assert not f.packages
        errors.setdefault(f.path, {})[f.cataloger] = f.error
    assert set(errors[paths["garbage"]]) == {"go-module-binary", "rust-cargo-auditable"}
    assert all(e.startswith("ELF: ") for e in errors[paths["garbage"]].values())
    assert set(errors[paths["cut"]]) == {"go-module-binary"}
    assert "beyond end of file" in errors[paths["cut"]]["go-module-binary"]
    # Not read at all: one unknown per parser, saying why.
    for key, why in (("huge", "limit for binaries read from disk"), ("late", "budget")):
        assert set(errors[paths[key]]) == set(sink.results().catalogers)
        assert all(why in e for e in errors[paths[key]].values())


def test_a_large_pe_is_spooled_and_a_file_merely_starting_mz_is_not(
        go_app_pe: bytes, tmp_path: Path, spool: SpoolSpy) -> None:
    """A PE is known by a header past the 64 bytes sniffed: the first MiB decides."""
    pe = go_app_pe
    exe_path, fake_path = "/srv/win/app.exe", "/srv/win/notes"
    fake = b"MZ" + bytes(len(pe))  # over max_spooled too, but no executable: no unknown
    sink = BinarySink(max_size=64 << 10, max_spooled=len(pe))
    ref = image_of(tmp_path, {exe_path: exe(exe_path, pe), fake_path: exe(fake_path, fake)})
    filetree.build(open_image(ref), catalog.globs_for(), sink=sink)
    assert sink.counts.sniffed == 2 and sink.counts.skipped == {}
    assert [size for size, _, _ in spool.seen] == [len(pe)]
    [f] = [f for f in sink.results().files if f.cataloger == "go-module-binary"]
    assert f.path == exe_path and not f.error
    assert {(p.name, p.version) for p in f.packages} >= {("rsc.example/quote", "v1.5.2")}
    assert {f.path for f in sink.results().files} == {exe_path}


def test_a_layer_truncated_mid_spool_leaves_no_copy(go_app: bytes, spool: SpoolSpy) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("srv/run")
        info.size = len(go_app)
        tf.addfile(info, io.BytesIO(go_app))
    cut = buf.getvalue()[:512 + len(go_app) // 2]
    sink = BinarySink(max_size=64 << 10)
    with pytest.raises(UnsafeLayer, match="truncated"):
        filetree.read_tar(iter([cut]), index=0, what="layer 0", wanted=None, sink=sink)
    assert os.listdir(spool.dir) == [] and _open_into(spool.dir) == []
    assert sink.results().files == () and sink.counts.parsed == 0


def test_the_spy_sees_copies_not_a_listing_of_the_spool(go_app: bytes,
                                                        spool: SpoolSpy) -> None:
    """Two layers spooled at once (the CLI's reader threads): one took its snapshot while
    the other listed the spool directory, and that listing's handle on the directory once
    failed the test as a copy left open. A handle on the directory is no copy; an open
    spooled file still is one."""
    listing = os.open(spool.dir, os.O_RDONLY | os.O_DIRECTORY)  # the other thread's listdir
    try:
        sink = BinarySink(max_size=64 << 10)
        sink.take_stream(0, SVC, len(go_app), go_app[:64], io.BytesIO(go_app[64:]).read)
        assert sink.counts.spooled == 1 and [s for s, _, _ in spool.seen] == [len(go_app)]
        assert_no_copy_left(spool)
    finally:
        os.close(listing)
    with tempfile.TemporaryFile(), pytest.raises(AssertionError):  # a copy never closed
        assert_no_copy_left(spool)


class _Crash:
    """A binary cataloger whose parser has a bug."""

    name = "crash"
    globs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    sections: tuple[tuple[str, str], ...] = ()

    def parse(self, entry: filetree.FileEntry, view: filetree.View,
              env: catalog.Env) -> list[Package]:
        return self.parse_binary(entry.content or b"", entry.path)

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        raise RuntimeError(f"parser bug on {len(data)} bytes")


def test_a_parser_crash_still_removes_the_copy(go_app: bytes, spool: SpoolSpy) -> None:
    sink = BinarySink(max_size=64 << 10, catalogers=(_Crash(),))
    with pytest.raises(RuntimeError, match=f"on {len(go_app)} bytes"):
        sink.take_stream(0, SVC, len(go_app), go_app[:64], io.BytesIO(go_app[64:]).read)
    assert_no_copy_left(spool)


def test_spool_failures_are_unknowns(go_app: bytes, tmp_path: Path, spool: SpoolSpy,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sink = BinarySink(max_size=64 << 10)
    # A host file that shrank while read.
    sink.take_stream(0, SVC, len(go_app), go_app[:64], io.BytesIO(go_app[64:4096]).read)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))  # no TMPDIR
    sink.take_stream(0, RUN, len(go_app), go_app[:64], io.BytesIO(go_app[64:]).read)
    assert sink.counts.skipped == {"ended-early": 1, "spool-failed": 1}
    assert sink.counts.parsed == 0
    reasons = {(f.path, f.error) for f in sink.results().files}
    assert (SVC, f"executable of {len(go_app)} bytes ended after 4096 bytes") in reasons
    assert any(path == RUN and "could not be spooled to disk" in why and "missing" in why
               for path, why in reasons)
    assert os.listdir(spool.dir) == [] and _open_into(spool.dir) == []


def test_the_spool_budget_is_charged_only_what_was_copied(
        go_app: bytes, tmp_path: Path, spool: SpoolSpy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy that ended early, failed or was cut with its layer gives back what it did not
    write: the budget was once charged each file's declared size for good."""
    size = len(go_app)
    sink = BinarySink(max_size=64 << 10, spool_budget=size + 4096 + size // 2)
    sink.take_stream(0, SVC, size, go_app[:64], io.BytesIO(go_app[64:4096]).read)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    sink.take_stream(0, RUN, size, go_app[:64], io.BytesIO(go_app[64:]).read)
    monkeypatch.setattr(tempfile, "tempdir", str(spool.dir))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("workspace/cut")
        info.size = size
        tf.addfile(info, io.BytesIO(go_app))
    with pytest.raises(UnsafeLayer, match="truncated"):
        filetree.read_tar(iter([buf.getvalue()[:512 + size // 2]]), index=0, what="layer 0",
                          wanted=None, sink=sink)
    assert sink.counts.skipped == {"ended-early": 1, "spool-failed": 1}
    # Charged 4 KiB and half a file (the copies as far as they got): a file is left.
    sink.take_stream(0, "/workspace/last", size, go_app[:64], io.BytesIO(go_app[64:]).read)
    assert sink.counts.spooled == 1 and "budget-spent" not in sink.counts.skipped
    assert {f.path for f in sink.results().files if f.packages} == {"/workspace/last"}
    assert_no_copy_left(spool)


def _shared_object(elf: bytes) -> bytes:
    return elf[:16] + (3).to_bytes(2, "little") + elf[18:]  # e_type ET_DYN


def test_large_shared_libraries_outside_the_globs_are_counted_not_spooled(
        go_app: bytes, tmp_path: Path, spool: SpoolSpy) -> None:
    pad = bytes(256 << 10)
    llvm = "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"
    libpython = "/opt/python/lib/libpython3.11.so.1.0"  # a version rule names it
    go_so = "/srv/plugins/handler.so"  # named like a library, but an ET_EXEC program
    layer = {llvm: exe(llvm, _shared_object(make_elf([(".text", pad)]))),
             libpython: exe(libpython, _shared_object(
                 make_elf([(".rodata", b"\x003.11.7\x00" + pad)]))),
             go_so: exe(go_so, go_app)}
    sink = BinarySink(max_size=64 << 10)
    filetree.build(open_image(image_of(tmp_path, layer)), catalog.globs_for(), sink=sink)
    assert sink.counts.skipped == {"library": 1}
    assert sorted(size for size, _, _ in spool.seen) == sorted(
        [len(go_app), len(layer[libpython].data)])
    found = {(f.path, p.name, p.version) for f in sink.results().files for p in f.packages}
    assert (libpython, "python", "3.11.7") in found
    assert (go_so, "rsc.example/quote", "v1.5.2") in found
    assert {path for path, _, _ in found} == {libpython, go_so}
    assert all(not f.error for f in sink.results().files)
    # Read whole because another sink wanted it too (a site-packages library that
    # RecordDigests hashes): the same rule, not parsed.
    wheel_lib = "/opt/python/lib/python3.11/site-packages/numpy.libs/libopenblas.so"
    sink, records = BinarySink(max_size=64 << 10), RecordDigests()
    image = open_image(image_of(tmp_path, {wheel_lib: exe(wheel_lib, layer[llvm].data)}))
    filetree.build(image, catalog.globs_for(), sink=FanOut(sink, records))
    assert sink.counts.skipped == {"library": 1} and sink.counts.parsed == 0
    assert list(records.digests) == [(0, wheel_lib)]


@pytest.fixture(scope="session")
def go_shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """tests/fixtures/go/app as a C shared library (-buildmode=c-shared): as go build links
    it (with Go's build ID note in its first KiBs), and without a build ID (no note)."""
    need_command("go", "golang-go")
    need_command("gcc", "gcc")
    root = tmp_path_factory.mktemp("go-shared")
    shutil.copytree(FIXTURES / "app", root / "app")
    shutil.copytree(FIXTURES / "lib", root / "lib")
    return (_go_build(root, "app", shared=True),
            _go_build(root, "app", shared=True, ldflags="-s -w -buildid="))


@pytest.fixture(scope="session")
def rust_shared(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A gcc-built shared library of 300 KB with cargo-auditable data (.dep-v0, added by
    objcopy), as in a Rust cdylib built with ``cargo auditable``."""
    gcc = need_command("gcc", "gcc")
    objcopy = need_command("objcopy", "binutils")
    d = tmp_path_factory.mktemp("rust-shared")
    (d / "lib.c").write_text("const char pad[300000] = {1};\nint answer(void) { return 42; }\n")
    (d / "dep.z").write_bytes(zlib.compress(json.dumps({"packages": [
        {"name": "cdylib", "version": "0.3.0", "source": "local", "root": True},
        {"name": "itoa", "version": "1.0.9", "source": "crates.io"}]}).encode()))
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(d / "plain.so"), str(d / "lib.c")],
                   check=True)
    subprocess.run([objcopy, "--add-section", f".dep-v0={d / 'dep.z'}",
                    "--set-section-flags", ".dep-v0=noload,readonly",
                    str(d / "plain.so"), str(d / "lib.so")], check=True)
    return (d / "lib.so").read_bytes()


def test_large_go_and_rust_shared_libraries_are_read_or_reported(
        go_shared: tuple[bytes, bytes], rust_shared: bytes, tmp_path: Path,
        spool: SpoolSpy) -> None:
    """A Go shared library is known by its first KiBs and read; one without the build ID
    note, and a Rust one with cargo-auditable data, are known only by their section names
    at the end: not read, but an unknown each (they were once only counted)."""
    go_lib, go_no_note = go_shared
    assert elf.elf_type(go_lib) == elf.elf_type(rust_shared) == elf.ET_DYN
    paths = {"go": "/usr/lib/x86_64-linux-gnu/libgosvc.so.1", "no-note": "/srv/lib/libgo2.so",
             "rust": "/srv/lib/librusty.so", "llvm": "/usr/lib/libLLVM-15.so.1"}
    llvm = _shared_object(make_elf([(".text", bytes(256 << 10))]))
    datas = {"go": go_lib, "no-note": go_no_note, "rust": rust_shared, "llvm": llvm}
    layer = {paths[k]: exe(paths[k], datas[k]) for k in paths}
    sink = BinarySink(max_size=64 << 10)
    tree = filetree.build(open_image(image_of(tmp_path, OS, layer)), catalog.globs_for(),
                          sink=sink)
    assert sink.counts.skipped == {"library": 3}
    assert [size for size, _, _ in spool.seen] == [len(go_lib)]
    assert_no_copy_left(spool)
    inv = catalog.run(tree, SOURCE, streamed=sink.results())
    assert set(go_packages(inv, paths["go"])) == {MAIN, "example.com/hullcheck/lib",
                                                  "rsc.example/quote", "stdlib"}
    assert {p.locations[0].path for p in inv.packages} == {paths["go"]}
    unknowns = {(u.location.path, u.cataloger): u.reason for u in inv.unknowns}
    assert set(unknowns) == {(paths["no-note"], "go-module-binary"),
                             (paths["rust"], "rust-cargo-auditable")}
    assert unknowns[paths["no-note"], "go-module-binary"] == (
        "large shared library (1 MiB) not read, though it holds Go build info")
    assert unknowns[paths["rust"], "rust-cargo-auditable"].endswith("cargo auditable data")
    # Read whole because another sink wanted them too: the bytes are here, so parsed.
    sink, other = BinarySink(max_size=64 << 10), _Recorder("/srv/lib/")
    filetree.build(open_image(image_of(tmp_path, layer)), catalog.globs_for(),
                   sink=FanOut(sink, other))
    found = {(f.path, p.name, p.version) for f in sink.results().files for p in f.packages}
    assert {("/srv/lib/librusty.so", "itoa", "1.0.9"),
            ("/srv/lib/libgo2.so", "rsc.example/quote", "v1.5.2")} <= found
    assert sink.counts.skipped == {"library": 1}  # libLLVM
    assert all(not f.error for f in sink.results().files)


def test_only_the_bytes_before_a_large_librarys_section_headers_are_looked_at() -> None:
    """The names table lies right before the section headers; the library is not read
    past them, and a section name elsewhere is not taken for one."""
    body = bytearray(4 << 20)
    body[1 << 20:(1 << 20) + 8] = b".dep-v0\0"  # in .rodata, say: not a section's name
    shoff = (3 << 20) + 100
    body[shoff - 20:shoff - 6] = b".go.buildinfo\0"
    head = _shared_object(make_elf([(".text", b"")]))[:64]
    head = head[:0x28] + shoff.to_bytes(8, "little") + head[0x30:]
    data = head + bytes(body[64:])
    stream, reads = io.BytesIO(data[64:]), []

    def read(n: int) -> bytes:
        reads.append(len(chunk := stream.read(n)))
        return chunk

    sink = BinarySink(max_size=64 << 10)
    sink.take_stream(0, "/srv/lib/libx.so", len(data), data[:64], read)
    assert sum(reads) == shoff - 64  # up to the headers, not to the end
    assert sink.counts.skipped == {"library": 1}
    assert [(f.cataloger, f.error) for f in sink.results().files] == [
        ("go-module-binary", "large shared library (4 MiB) not read, though it holds Go "
                             "build info")]


class _ZigDeps:
    """A binary cataloger the sink has never heard of: "ZIGDEP name@version" records in a
    ``.zig.deps`` section (made up for the test)."""

    name = "zig-deps"
    globs = ("/usr/local/bin/*",)
    needs: tuple[str, ...] = ()
    sections = ((".zig.deps", "Zig dependencies"),)

    def parse(self, entry: filetree.FileEntry, view: filetree.View,
              env: catalog.Env) -> list[Package]:
        return self.parse_binary(entry.content or b"", entry.path)

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        found = re.findall(rb"ZIGDEP ([a-z]+)@([0-9.]+)", data if isinstance(data, bytes) else b"")
        return [Package(type=PackageType.BINARY, name=n.decode(), version=v.decode(),
                        purl=f"pkg:generic/{n.decode()}@{v.decode()}", found_by=self.name,
                        locations=(Location(path=path),)) for n, v in found]


def test_the_sink_reads_for_the_registered_binary_catalogers() -> None:
    assert [c.name for c in BINARY_CATALOGERS] == [
        c.name for c in CATALOGERS if hasattr(c, "parse_binary")] == [
        "go-module-binary", "rust-cargo-auditable", "binary-version"]
    names = {c.name for c in BINARY_CATALOGERS}
    assert Streamed().catalogers == BinarySink().results().catalogers == names


def test_a_new_binary_cataloger_needs_nothing_of_the_sink(tmp_path: Path) -> None:
    """Its parse_binary reads executables outside its globs, and the section it names in a
    large shared library that is not read becomes its Unknown: no table in the sink."""
    zig = _ZigDeps()
    app = make_elf([(".text", bytes(64)), (".zig.deps", b"ZIGDEP ziglyph@0.11.0\n")])
    # A 4 MiB shared library whose section names (just before its headers) include ours.
    shoff = (3 << 20) + 100
    body = bytearray(4 << 20)
    body[shoff - 16:shoff - 6] = b".zig.deps\0"
    head = _shared_object(make_elf([(".text", b"")]))[:64]
    lib = head[:0x28] + shoff.to_bytes(8, "little") + head[0x30:] + bytes(body[64:])
    layer = {"/opt/zig/app": exe("/opt/zig/app", app),
             "/srv/lib/libzig.so": exe("/srv/lib/libzig.so", lib)}
    sink = BinarySink(max_size=64 << 10, catalogers=(zig,))
    tree = filetree.build(open_image(image_of(tmp_path, layer)), catalog.globs_for((zig,)),
                          sink=sink)
    inv = catalog.run(tree, SOURCE, catalogers=(zig,), streamed=sink.results())
    assert [(p.name, p.version, p.found_by, p.locations[0].path) for p in inv.packages] == [
        ("ziglyph", "0.11.0", "zig-deps", "/opt/zig/app")]
    assert [(u.location.path, u.cataloger, u.reason) for u in inv.unknowns] == [
        ("/srv/lib/libzig.so", "zig-deps",
         "large shared library (4 MiB) not read, though it holds Zig dependencies")]


def test_a_dir_image_streams_large_files_from_disk(go_app: bytes, tmp_path: Path,
                                                   spool: SpoolSpy) -> None:
    root = tmp_path / "root"
    (root / "workspace").mkdir(parents=True)
    (root / "workspace" / "svc").write_bytes(go_app)
    sink = BinarySink(max_size=64 << 10)
    filetree.build(open_image(f"dir:{root}"), catalog.globs_for(), sink=sink)
    assert sink.counts.spooled == 1
    [f] = [f for f in sink.results().files if f.cataloger == "go-module-binary"]
    assert f.path == "/workspace/svc" and {p.name for p in f.packages} >= {MAIN, "stdlib"}
    assert_no_copy_left(spool)


def test_fanout_streams_to_a_lone_sink_and_reads_whole_for_two(
        go_app: bytes, tmp_path: Path, spool: SpoolSpy) -> None:
    binary, other = BinarySink(max_size=64 << 10), _Recorder("/srv/both/")
    both, alone = "/srv/both/app", "/srv/alone/app"
    image = open_image(image_of(tmp_path, {both: exe(both, go_app), alone: exe(alone, go_app)}))
    filetree.build(image, catalog.globs_for(), sink=FanOut(binary, other))
    assert [(p, d) for _, p, d in other.taken] == [(both, go_app)]
    assert binary.counts.parsed == 2 and binary.counts.spooled == 1  # "both" was in memory
    assert {f.path for f in binary.results().files if f.packages} == {both, alone}


# -- reading a map like bytes ----------------------------------------------------------------


SIZE = 5 * 4096 + 123


@pytest.mark.parametrize("at", [0, 4096 - 20, 4096 - 7, 4096, 2 * 4096 - 3, 4 * 4096 + 5,
                                SIZE - 30,
                                4096 + 64 - 30])  # the first window ends in the version
def test_paged_find_and_search_agree_with_bytes(at: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Needles and matches at and across the boundaries of 4 KiB windows."""
    monkeypatch.setattr(elf, "SEARCH_WINDOW", 4096)
    monkeypatch.setattr(elf, "MAX_MATCH", 64)
    magic, banner = b"\xff Go buildinf:", b"node.js/v18.19.12\x00"
    data = bytearray(SIZE)
    data[at:at + len(magic)] = magic
    data[at + 14:at + 14 + len(banner)] = banner
    raw = bytes(data)
    rx = re.compile(rb"node\.js/v(?P<version>\d+\.\d+\.\d+)")
    with paged(raw) as m:
        assert m.find(magic) == raw.find(magic) == at
        assert m.find(magic, at + 1) == -1 and m.find(magic, 0, at + 13) == -1
        assert m.find(magic, at, at + 14) == at
        assert magic in m and b"absent" not in m
        found = m.search(rx)
        assert found is not None and found.span() == rx.search(raw).span()  # type: ignore[union-attr]
        assert found.group("version") == b"18.19.12"  # never cut short at a window's end
        assert m.search(re.compile(rb"absent")) is None


@needs_rss
def test_paged_searches_keep_little_of_a_large_map_resident(tmp_path: Path) -> None:
    path = tmp_path / "big"
    block = random.Random(1).randbytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(block)
    absent = b"\xff Go buildinf:" + b"absent"
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as plain:
            before = resident()
            assert plain.find(absent) == -1
            plain_growth = resident() - before
        with PagedMap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            before = resident()
            assert m.find(absent) == -1
            find_growth = resident() - before
            assert m.search(re.compile(re.escape(absent))) is None
            search_growth = resident() - before
    assert plain_growth > 48 << 20  # a plain map's pages stay resident: the test can see it
    assert find_growth < 16 << 20 and search_growth < 16 << 20


def test_paged_find_reads_its_bounds_as_bytes_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative and None bounds, empty needles, bounds past the end: as ``bytes.find``
    (negative ones were once clamped to 0). ``in`` takes any bytes-like needle or a byte
    (a bytearray or memoryview was once never found), and refuses the rest as bytes does."""
    monkeypatch.setattr(elf, "SEARCH_WINDOW", 4096)
    raw = bytes(b % 255 for b in random.Random(3).randbytes(3 * 4096 + 77))
    n = len(raw)
    subs = [b"", raw[5000:5003], raw[4090:4100], raw[:4], raw[-4:], b"absent!"]
    bounds = [None, 0, 5, 4096, n - 2, n, n + 5, 10**9, -1, -3, -5000, -n, -(10**9)]
    with paged(raw) as m:
        for sub in subs:
            for start in bounds:
                for end in bounds:
                    assert m.find(sub, start, end) == raw.find(sub, start, end), (sub, start, end)
        assert bytearray(raw[4090:4100]) in m and memoryview(raw)[10:20] in m
        assert raw[7] in m and 255 not in m and bytearray(b"absent!") not in m
        with pytest.raises(TypeError):
            assert "text" in m
        with pytest.raises(ValueError):
            assert 256 in m


MAGIC = b"\xff Go buildinf:"
OFF_GRID = b"\0" + MAGIC + b"\0"  # 16 bytes: the magic at 1 mod 16, never a header


def test_paged_finds_from_hit_to_hit_release_once_a_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A find from each hit on (Go's candidates) once released a whole window after each
    hit, an madvise each: 5.5 us a hit, 22.7 s for 64 MiB of magics. Now what the finds
    read is released once a window's worth has gathered."""
    data = OFF_GRID * ((32 << 20) // len(OFF_GRID))
    calls: list[tuple[int, int]] = []
    real = PagedMap.madvise

    def counted(self: PagedMap, option: int, start: int = 0, length: int = 0) -> None:
        calls.append((start, length))
        real(self, option, start, length)

    monkeypatch.setattr(PagedMap, "madvise", counted)
    with paged(data) as m:
        pos, finds = m.find(MAGIC), 0
        while pos >= 0 and pos < (4 << 20):  # every hit in the first 4 MiB: 262,144 finds
            pos, finds = m.find(MAGIC, pos + 1), finds + 1
        assert finds == (4 << 20) // 16 and calls == []  # under a window: not yet released
        while pos >= 0:  # the rest a page apart
            pos, finds = m.find(MAGIC, pos + 4096), finds + 1
    assert finds > 8000
    gathered = elf.SEARCH_WINDOW - 2 * elf.FAULT_SPAN  # the least released at a time
    assert 0 < len(calls) <= len(data) // gathered + 1
    assert all(start % elf.FAULT_SPAN == 0 for start, _ in calls)


@needs_rss
def test_paged_finds_from_hit_to_hit_keep_little_resident(tmp_path: Path) -> None:
    """A read fault maps a whole large folio (1-2 MiB), pages before the byte read
    included; releasing from that byte's page left them, so finds with a rising start kept
    the file resident (64 MiB of magics off the grid: +63 MB, the file's size)."""
    path = tmp_path / "magics"
    block = OFF_GRID * ((1 << 20) // len(OFF_GRID))
    with open(path, "wb") as out:
        for _ in range(64):
            out.write(block)
    with open(path, "rb") as f, PagedMap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        before = resident()
        pos, finds = m.find(MAGIC), 0
        while pos >= 0:
            pos, finds = m.find(MAGIC, pos + 100_000), finds + 1
        growth = resident() - before
    assert finds > 600
    assert growth < 16 << 20
