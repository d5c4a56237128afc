"""Binaries found by content anywhere in the image, while the layers stream: a real Go
binary (built offline by the local toolchain) outside every executable glob, deleted
binaries, glob paths reported once, non-binaries ignored, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck import catalog, filetree, pipeline
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.catalog.elf import EXECUTABLE_GLOBS
from hullcheck.catalog.streaming import BinarySink, Streamed
from hullcheck.cli.main import main
from hullcheck.filetree import FanOut, compile_globs
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, file, whiteout
from hullcheck.model import ImageSource, Inventory, Package, PackageType, Visibility
from hullcheck.secrets.scanner import Scanner
from tests.catalog.test_golang import FIXTURES, GO, _proxy
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.images import LayerSpec, build, write
from tests.match.support import make_db, osv_source, write_osv
from tests.secrets import fakes

SOURCE = ImageSource(kind="oci", name="test")
MAIN = "example.com/hullcheck/app"
RUN, SVC = "/opt/svc/server/run", "/workspace/svc"
OS = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'}


@pytest.fixture(scope="session")
def go_app(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A linux/amd64 Go binary of tests/fixtures/go/app (offline, module proxy on disk)."""
    if GO is None:
        pytest.skip("the go toolchain is not installed")
    root = tmp_path_factory.mktemp("go-streaming")
    shutil.copytree(FIXTURES / "app", root / "app")
    shutil.copytree(FIXTURES / "lib", root / "lib")
    env = {**os.environ, "GOPROXY": f"file://{_proxy(root)}", "GOFLAGS": "-mod=mod -modcacherw",
           "GOSUMDB": "off", "GONOSUMDB": "*", "GOTOOLCHAIN": "local",
           "GOPATH": str(root / "gopath"), "CGO_ENABLED": "0", "GOWORK": "off",
           "GOOS": "linux", "GOARCH": "amd64"}
    out = root / "app-bin"
    subprocess.run([GO, "build", "-ldflags=-s -w", "-o", str(out), "."], cwd=root / "app",
                   env=env, check=True, capture_output=True, timeout=600)
    return out.read_bytes()


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
    tree = filetree.build(open_image(image_of(tmp_path, *layers)), catalog.globs_for(),
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
    assert results.files == ()  # the tree's catalogers had it; the sink left it alone


def test_glob_binary_too_large_for_the_tree_is_read_by_the_sink(
        go_app: bytes, tmp_path: Path) -> None:
    path = "/usr/local/bin/app"
    inv, results, _ = streamed_inventory(tmp_path, {path: exe(path, go_app)},
                                         max_file=len(go_app) - 1)
    assert set(go_packages(inv, path)) == {MAIN, "example.com/hullcheck/lib",
                                           "rsc.example/quote", "stdlib"}
    assert results.covered == {(0, path)}
    assert not [u for u in inv.unknowns if u.location.path == path]
    # A too-large glob file the sink did not read is still an unknown.
    big = "/usr/local/bin/big.tar.gz"
    inv, results, _ = streamed_inventory(tmp_path, {big: file(big.lstrip("/"), b"x" * 100)},
                                         max_file=10)
    assert results.covered == set()
    [u] = [u for u in inv.unknowns if u.location.path == big]
    assert "over the size limit" in u.reason


def test_non_binaries_are_ignored(go_app: bytes, tmp_path: Path) -> None:
    sink = BinarySink()
    sniffed: list[str] = []
    real = sink.wants_head
    sink.wants_head = lambda path, head: (sniffed.append(path), real(path, head))[1]  # type: ignore[method-assign]
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


def _dpkg_owning(path: str) -> dict[str, object]:
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
    inv, results, _ = streamed_inventory(tmp_path, {**_dpkg_owning(path), path: exe(path, elf)})
    assert [f.cataloger for f in results.files] == ["binary-version"]  # found, then dropped
    assert [(p.type, p.name) for p in inv.packages] == [(PackageType.DEB, "busybox")]
    assert inv.packages[0].found_by == DpkgCataloger.name


# -- the composite sink ------------------------------------------------------------------


class _Recorder:
    def __init__(self, prefix: str, sniff: bytes | None = None) -> None:
        self.prefix, self.taken = prefix, []
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
    image = open_image(image_of(tmp_path, {SVC: exe(SVC, go_app), "workspace/.env": creds}))
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
    assert not sink.wants(glob_path, 1024)  # the tree keeps it: the catalogers parse it
    image = open_image(image_of(tmp_path, {SVC: exe(SVC, go_app),
                                           glob_path: exe(glob_path, go_app)}))
    tree = filetree.build(image, catalog.globs_for(), max_file=1024, sink=sink)
    assert sink.counts.skipped == {"too-large": 2} and sink.counts.parsed == 0
    results = sink.results()
    # Outside the globs: one unknown per parser; inside, the runner's "over the size limit".
    assert {(f.path, f.cataloger) for f in results.files} == {
        (SVC, name) for name in results.catalogers}
    assert all("over the" in f.error and not f.packages for f in results.files)
    inv = catalog.run(tree, SOURCE, streamed=results)
    assert inv.packages == ()
    assert {u.location.path for u in inv.unknowns} == {SVC, glob_path}
