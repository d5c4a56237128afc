"""Executables under the binary catalogers' globs (/usr/bin/* ...) read by the binary sink
as the layers stream, not kept in the layer index: the inventory is the one a tree that
kept their bytes gave (packages, locations, layers, visibility, unknowns, file counts),
deleted, replaced and hard-linked ones included; the index holds none of their bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck import catalog, filetree, pipeline
from hullcheck.catalog.registry import BINARY_CATALOGERS
from hullcheck.catalog.streaming import MAX_BINARY, MAX_SPOOLED, SPOOL_BUDGET, BinarySink, BinarySpec
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, file, hardlink, symlink, whiteout
from hullcheck.model import Inventory, PackageType, Visibility
from hullcheck.secrets.scanner import Scanner
from tests.catalog.test_rust import auditable_elf  # noqa: F401 (a fixture)
from tests.catalog.test_streaming_binaries import go_app  # noqa: F401 (a fixture)
from tests.fixtures.binaries.elfgen import make_elf

OS = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'}
GO, RUST = "/usr/bin/goapp", "/usr/local/bin/rustapp"
GONE, SWAPPED = "/usr/bin/gone", "/app/swapped"
LINK = "/usr/local/bin/goapp-link"  # a hard link to GO
BIG = "/usr/local/bin/data.bin"  # not an executable, over the tree's size limit
BUSYBOX = make_elf([(".rodata", b"\0BusyBox v1.36.1 (2024-01-01) multi-call binary\0")])


def exe(path: str, data: bytes) -> Entry:
    return file(path.lstrip("/"), data, 0o755)


def _layers(go: bytes, rust: bytes) -> tuple[dict[str, Entry], ...]:
    return (
        {**{k: file(k, v) for k, v in OS.items()}, GO: exe(GO, go), RUST: exe(RUST, rust),
         GONE: exe(GONE, go), SWAPPED: exe(SWAPPED, rust), "/bin/busybox": exe("/bin/busybox", BUSYBOX),
         LINK: hardlink(LINK.lstrip("/"), GO.lstrip("/")),
         "/bin/sh": hardlink("bin/sh", "bin/busybox")},
        {GONE: whiteout(GONE)},
        {SWAPPED: exe(SWAPPED, go), BIG: file(BIG.lstrip("/"), bytes(filetree.DEFAULT_MAX_FILE + 1))},
    )


def _both(ref: str, scope: str = "all-layers",
          sink: filetree.ContentSink | None = None) -> tuple[Inventory, Inventory, pipeline.ImageRead]:
    """(a tree keeping the executables' bytes, catalogers over it; the pipeline's read)."""
    image = open_image(ref)
    kept = catalog.run(filetree.build(image, catalog.globs_for()), image.source, scope=scope)
    read = pipeline.read_image(pipeline.SbomRequest(image=ref), sink=sink)
    return kept, read.inventory(scope), read


def assert_same(a: Inventory, b: Inventory) -> None:
    assert a.packages == b.packages
    assert a.unknowns == b.unknowns
    assert (a.files_total, a.files_owned) == (b.files_total, b.files_owned)
    assert a.relationships == b.relationships


def test_executables_under_the_globs_are_read_by_the_sink_not_kept(
        go_app: bytes, auditable_elf: bytes, make_image: Callable[..., str]) -> None:  # noqa: F811
    ref = make_image(*_layers(go_app, auditable_elf))
    kept, inv, read = _both(ref)
    assert_same(kept, inv)
    view = read.tree.view()
    assert view.read(GO) is None and view.read(RUST) is None  # no bytes in the index
    assert view.read("/etc/os-release") is not None  # other catalogers' files are kept
    by_path = {(p.locations[0].path, p.type, p.visibility, p.locations[0].layer)
               for p in inv.packages}
    assert (GO, PackageType.GO, Visibility.VISIBLE, 0) in by_path
    assert (LINK, PackageType.GO, Visibility.VISIBLE, 0) in by_path  # the hard link
    assert (GONE, PackageType.GO, Visibility.HIDDEN, 0) in by_path  # deleted by layer 1
    assert (RUST, PackageType.CARGO, Visibility.VISIBLE, 0) in by_path
    assert (SWAPPED, PackageType.CARGO, Visibility.HIDDEN, 0) in by_path  # replaced...
    assert (SWAPPED, PackageType.GO, Visibility.VISIBLE, 2) in by_path  # ...by layer 2's
    assert ("/bin/busybox", PackageType.BINARY, Visibility.VISIBLE, 0) in by_path
    [big] = [u for u in inv.unknowns if u.location.path == BIG]
    assert big.location.layer == 2 and "over the size limit" in big.reason
    # The squashed scope, and with the secret scanner's sink beside (the whole-file path).
    assert_same(*_both(ref, "squashed")[:2])
    assert_same(kept, _both(ref, sink=Scanner())[1])


BB, BUSYBOX_LINK = "/usr/bin/bb", "/usr/local/bin/busybox"


def _busybox_as_bb() -> dict[str, Entry]:
    """BusyBox's bytes at a name no version rule selects, and a hard link named busybox."""
    return {BB: exe(BB, BUSYBOX), BUSYBOX_LINK: hardlink(BUSYBOX_LINK[1:], BB[1:])}


def _found(inv: Inventory) -> list[tuple[str, str, int | None, Visibility]]:
    return [(p.name, p.locations[0].path, p.locations[0].layer, p.visibility)
            for p in inv.packages]


def test_a_hard_link_renamed_to_a_version_rule_is_read_under_its_name(
        make_image: Callable[..., str]) -> None:
    """busybox -> bb in one layer: the link's name selects the BusyBox rule, its target's
    none; the tree that kept the bytes found BusyBox at the link, and so does the sink
    (from its copy of bb: the bytes have streamed by when the link comes)."""
    kept, inv, _ = _both(make_image(_busybox_as_bb()))
    assert _found(kept) == [("busybox", BUSYBOX_LINK, 0, Visibility.VISIBLE)]
    assert_same(kept, inv)
    assert inv.unknowns == ()


def test_a_hard_link_whose_target_a_later_layer_deleted(make_image: Callable[..., str]) -> None:
    """bb deleted by layer 1: the link is still the file, and still BusyBox."""
    kept, inv, _ = _both(make_image(_busybox_as_bb(), {BB: whiteout(BB)}))
    assert _found(kept) == [("busybox", BUSYBOX_LINK, 0, Visibility.VISIBLE)]
    assert_same(kept, inv)


def test_a_hard_link_to_a_file_of_a_lower_layer(make_image: Callable[..., str]) -> None:
    """A link in layer 1 to layer 0's bb: a layer is read alone, so the tree holds it as a
    link, not a file, and no cataloger reads it there: nothing is found at it, and no
    unknown either, as with the tree that kept the bytes."""
    kept, inv, _ = _both(make_image({BB: exe(BB, BUSYBOX)},
                                    {BUSYBOX_LINK: hardlink(BUSYBOX_LINK[1:], BB[1:])}))
    assert kept.packages == () and kept.unknowns == ()
    assert_same(kept, inv)


def test_a_renamed_hard_link_with_no_copy_kept_is_an_unknown() -> None:
    """Over the budget for copies (or a disk that failed): the one case the sink cannot
    answer is an unknown saying so, not a silent gap."""
    for budget, found in ((0, False), (len(BUSYBOX), True)):
        sink = BinarySink(hold_budget=budget)
        sink.take_stream(0, BB, len(BUSYBOX), BUSYBOX[:64], io.BytesIO(BUSYBOX[64:]).read)
        sink.take_link(0, BUSYBOX_LINK, BB, matched=False, kept=False)
        [link] = [f for f in sink.results().files if f.path == BUSYBOX_LINK]
        assert bool(link.packages) is found and link.globbed
        assert link.error == ("" if found else (
            f"hard link to {BB}: not searched under this name (it was read as bb; no copy "
            "of it was kept)"))


@pytest.mark.parametrize("limit", [1 << 10, filetree.DEFAULT_MAX_FILE])
def test_the_sink_reads_a_file_the_tree_would_have_kept_whole(
        go_app: bytes, tmp_path: Path, limit: int) -> None:  # noqa: F811
    """Up to the tree's limit, in memory whatever MAX_BINARY says (no spool, no budget),
    as the tree held it; over it, within the sink's own limits."""
    sink = BinarySink(kept_up_to=limit, max_size=1 << 10, max_spooled=1 << 10)
    sink.take_stream(0, GO, len(go_app), go_app[:64], io.BytesIO(go_app[64:]).read)
    found = sink.results().files
    if limit >= len(go_app):
        assert {f.cataloger for f in found} == {"go-module-binary"}
        assert all(f.globbed and f.packages for f in found)
        assert sink.counts.spooled == 0 and sink.counts.skipped == {}
    else:  # too large for the tree: spooling refused, the tree's unknown
        assert {(f.globbed, f.error) for f in found} == {
            (True, f"file of {len(go_app)} bytes is over the size limit")}
        assert sink.counts.skipped == {"too-large": 1}


def test_an_executable_a_symlinked_parent_moved_is_reported_where_it_landed(
        go_app: bytes, make_image: Callable[..., str]) -> None:  # noqa: F811
    """x -> /usr/local/bin, then x/tool: the file is /usr/local/bin/tool (once; it was
    reported at both paths when the tree read it again for the globs)."""
    ref = make_image({"x": symlink("x", "/usr/local/bin")},
                     {"/x/tool": exe("/x/tool", go_app), "/x/svc": exe("/x/svc", go_app)})
    inv = _both(ref)[1]
    paths = {(p.locations[0].path, p.locations[0].layer) for p in inv.packages}
    assert paths == {("/usr/local/bin/tool", 1), ("/usr/local/bin/svc", 1)}
    assert all(p.files == (p.locations[0].path,) for p in inv.packages)


def test_layers_cached_before_are_read_again() -> None:
    """Indexes cached when the tree kept the executables, and the sink's findings cached
    when it left them to the catalogers, are not taken: both keys changed."""
    names = ",".join(c.name for c in BINARY_CATALOGERS)
    before = (f"kept {filetree.DEFAULT_MAX_FILE} read {MAX_BINARY} spooled {MAX_SPOOLED} "
              f"budget {SPOOL_BUDGET} catalogers {names}")
    assert BinarySpec().fingerprint() != before
    kept = filetree.Analysis(globs=catalog.globs_for())
    assert filetree.Analysis(globs=catalog.globs_for(streamed=True)).fingerprint() != kept.fingerprint()
