"""Entries written below a symlinked parent land where a runtime puts them.

containerd (``archive.applyNaive``: ``fs.RootPath`` of each member's parent) and umoci
(``securejoin`` of the parent) resolve an entry's parent directory through the symlinks
present when the entry is applied (lower layers, and the same layer so far), inside the
root. A layer writing ``x/ld.so.preload`` below ``x -> /etc`` writes ``/etc/ld.so.preload``:
the tree must say so, or an image hides the file from every glob and cataloger. ``umoci
unpack`` of the same images is the oracle.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hullcheck import catalog, filetree, secrets
from hullcheck.catalog.dpkg import DpkgCataloger
from hullcheck.cli.main import main
from hullcheck.errors import ImageError
from hullcheck.filetree import FileTree, Kind
from hullcheck.filetree import tree as tree_module
from hullcheck.filetree.index import FILE, HARDLINK, OTHER, SYMLINK, LayerIndex
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, directory, file, hardlink, opaque, symlink, whiteout
from hullcheck.model import ImageSource
from tests.fixtures.images import build, tree_of, write
from tests.fixtures.tools import need_command
from tests.secrets.fakes import aws_key_id, aws_secret

ALL = ["/**"]
PRELOAD = "/etc/ld.so.preload"
BASE = [directory("etc"), file("etc/hostname", "box\n")]


def _final(tree: FileTree) -> dict[str, tuple[Kind, str]]:
    return {e.path: (e.kind, e.link) for e in tree.view().files()}


def test_a_lower_layers_symlink_moves_an_upper_layers_file_to_its_target(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc")], [file("x/ld.so.preload", "/evil.so")],
                   globs=[PRELOAD])  # the glob names the real path only
    view = tree.view()
    entry = view.entry(PRELOAD)
    assert entry is not None and entry.path == PRELOAD and entry.layer == 1
    assert entry.content == b"/evil.so"  # read again: the layer's tar names /x/...
    assert view.entry("/x/ld.so.preload") is None  # nothing at the path the tar names
    assert view.resolve("/x/ld.so.preload") == PRELOAD and view.read("/x/ld.so.preload") == b"/evil.so"
    assert view.lookup("/x") is not None and view.lookup("/x").kind is Kind.DIR  # type: ignore[union-attr]
    assert view.entry("/x").kind is Kind.SYMLINK  # type: ignore[union-attr]
    assert [e.path for e in tree.matching_versions(filetree.compile_globs([PRELOAD]))] == [PRELOAD]  # type: ignore[arg-type]
    assert "/etc/ld.so.preload" in set(tree.file_paths())
    assert tree.view(upto=0).entry(PRELOAD) is None  # not there before layer 1
    assert tree.written_by("/x/ld.so.preload", 1) == entry  # as the layer's tar names it
    assert tree.written_by(PRELOAD, 1) == entry
    assert tree.is_visible(entry)


@pytest.mark.parametrize("target", ["/etc", "../etc", "etc", "/../../etc", "./etc/", "/etc/../etc"])
def test_every_spelling_of_a_target_resolves_inside_the_root(tmp_path: Path, target: str) -> None:
    tree = tree_of(tmp_path, [*BASE, symlink("x", target)], [file("x/ld.so.preload", "p")],
                   globs=ALL)
    assert tree.view().read(PRELOAD) == b"p"
    assert "/x/ld.so.preload" not in tree.final


def test_the_same_layers_symlink_counts_from_where_it_stands(tmp_path: Path) -> None:
    """x/a before the symlink is x/a (then hidden: the symlink replaces the directory);
    x/b after it is /etc/b; a directory entry x/ replacing the symlink ends it for x/c."""
    tree = tree_of(tmp_path, BASE, [file("x/a", "a"), symlink("x", "/etc"), file("x/b", "b"),
                                    directory("x"), file("x/c", "c")], globs=ALL)
    final = _final(tree)
    assert "/x/a" not in final and tree.versions["/x/a"][-1] == (1, None)
    assert final["/etc/b"] == (Kind.FILE, "") and "/x/b" not in final
    assert final["/x"] == (Kind.DIR, "") and final["/x/c"] == (Kind.FILE, "")
    assert "/etc/c" not in final


def test_a_directory_entry_replacing_the_lower_symlink_keeps_files_at_their_path(
        tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc")], [directory("x"), file("x/f", "f")],
                   globs=ALL)
    assert tree.view().read("/x/f") == b"f" and "/etc/f" not in tree.final


def test_a_chain_of_symlinks_is_followed(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, symlink("a", "b"), symlink("b", "/etc")],
                   [file("a/ld.so.preload", "p")], globs=ALL)
    assert tree.view().entry(PRELOAD).content == b"p"  # type: ignore[union-attr]


def test_a_symlink_deeper_in_the_parent_is_followed_and_a_dangling_one_made(
        tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, directory("usr"), symlink("usr/cfg", "../etc"),
                              symlink("usr/abs", "/etc"), symlink("gone", "/nowhere/deep")],
                   [file("usr/cfg/a/b", "ab"), file("usr/abs/c", "c"), file("gone/f", "f")],
                   globs=ALL)
    final = _final(tree)
    assert "/etc/a/b" in final and "/usr/cfg/a/b" not in final
    assert "/etc/c" in final and "/usr/etc/c" not in final  # absolute: from the root
    assert "/nowhere/deep/f" in final  # containerd and umoci make the missing directories


def test_a_whiteout_below_a_symlinked_parent_deletes_the_real_file(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, file(PRELOAD[1:], "p"), symlink("x", "/etc")],
                   [whiteout("x/ld.so.preload")], globs=ALL)
    assert PRELOAD not in tree.final and "/etc/hostname" in tree.final
    assert tree.versions[PRELOAD] == [(0, tree.view(0).entry(PRELOAD)), (1, None)]


def test_a_whiteout_of_the_symlink_itself_ends_it_for_what_follows(tmp_path: Path) -> None:
    """x/.wh.a deletes /etc/a through x; .wh.x then deletes the symlink, so x/c makes a
    directory x (as containerd and umoci apply them, in order)."""
    tree = tree_of(tmp_path, [*BASE, file("etc/a", "a"), symlink("x", "/etc"),
                              symlink("y", "/etc")],
                   [whiteout("x/a"), whiteout("x"), file("x/c", "c"), file("y/d", "d")], globs=ALL)
    final = _final(tree)
    assert "/etc/a" not in final and "/etc/d" in final
    assert "/x/c" in final and "/etc/c" not in final


def test_a_file_replacing_a_directory_ends_the_symlinks_below_it(tmp_path: Path) -> None:
    """d/x/f1 lands at /etc/f1; the file d deletes d/x, so d/x/f2 is below a file: refused
    (umoci: mkdir d, not a directory), not written at /etc/f2."""
    layers = ([*BASE, directory("d"), symlink("d/x", "/etc")], [file("d/x/f1", "1")])
    assert "/etc/f1" in tree_of(tmp_path, *layers, globs=ALL).final
    with pytest.raises(ImageError) as err:
        tree_of(tmp_path / "b", layers[0], [*layers[1], file("d", "now a file"),
                                            file("d/x/f2", "2")], globs=ALL)
    assert str(err.value).partition(": ")[2] == (
        "/d/x/f2: /d is not a directory (layer 1 made it a file)")


def test_an_opaque_marker_below_a_symlinked_parent_empties_the_real_directory(
        tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, file("etc/passwd", "root"), symlink("x", "/etc")],
                   [opaque("x"), file("x/new", "n")], globs=ALL)
    assert sorted(p for p in tree.final if p.startswith("/etc/")) == ["/etc/new"]
    assert "/x" in tree.final  # the symlink itself stays


def test_a_hard_link_through_a_symlinked_parent_links_the_real_file(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, file("etc/shadow", "root:x"), symlink("x", "/etc")],
                   [hardlink("h", "x/shadow"), hardlink("x/h2", "x/shadow")], globs=["/etc/shadow"])
    view = tree.view()
    h = view.entry("/h")
    assert h is not None and h.kind is Kind.HARDLINK and h.link == "/etc/shadow"
    assert view.read("/h") == b"root:x"
    h2 = view.entry("/etc/h2")
    assert h2 is not None and h2.link == "/etc/shadow" and view.read("/etc/h2") == b"root:x"


def test_a_hard_link_to_a_symlink_keeps_the_symlink(tmp_path: Path) -> None:
    """containerd and umoci resolve the target's parent, not its last component."""
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc"), symlink("etc/l", "hostname")],
                   [hardlink("h", "x/l")], globs=ALL)
    assert tree.view().entry("/h").link == "/etc/l"  # type: ignore[union-attr]
    assert tree.view().lookup("/h").kind is Kind.SYMLINK  # type: ignore[union-attr]


LOOP = "more than 255 symbolic links in its parent directory (a loop?)"


@pytest.mark.parametrize(("layers", "said"), [
    (([symlink("a", "b"), symlink("b", "a")], [file("a/f", "f")]), f"/a/f: {LOOP}"),
    (([symlink("a", "a")], [file("a/f", "f")]), f"/a/f: {LOOP}"),
    (([symlink("a", "")], [file("a/f", "f")]),
     "/a/f: its parent /a is a symbolic link with an empty target"),
    (([symlink("a", "/x/.."), symlink("x", "/a")], [whiteout("a/f")]), f"/a/.wh.f: {LOOP}"),
    (([symlink("a", "a")], [opaque("a")]), f"/a/.wh..wh..opq: {LOOP}"),
    (([symlink("a", "a")], [hardlink("h", "a/f")]), f"/h: {LOOP}"),
], ids=["loop", "self", "empty", "whiteout", "opaque", "hard link"])
def test_a_parent_that_cannot_be_resolved_refuses_the_layer(
        tmp_path: Path, layers: tuple[list[Entry], list[Entry]], said: str) -> None:
    with pytest.raises(ImageError) as err:
        tree_of(tmp_path, *layers, globs=ALL)
    layer, _, rest = str(err.value).partition(": ")
    assert layer.startswith("layer 1 (sha256:") and rest == said
    assert err.value.hint == "container runtimes refuse to unpack this layer too"


@pytest.mark.parametrize(("kind", "said"), [(HARDLINK, "a hard link"), (OTHER, "a device or FIFO")])
def test_a_hard_link_or_a_device_in_the_way_is_named(kind: int, said: str) -> None:
    lower, upper = LayerIndex(), LayerIndex()
    lower.add("/t", FILE, 1, 0o644, 0, 0)
    lower.add("/a", kind, 0, 0o644, 0, 0, "/t" if kind == HARDLINK else "")
    upper.add("/a/b", FILE, 1, 0o644, 0, 0)
    with pytest.raises(ImageError) as err:
        FileTree.from_layers((), [lower, upper])
    assert str(err.value) == f"layer 1: /a/b: /a is not a directory (layer 0 made it {said})"


def test_a_tree_of_an_unpacked_directory_names_the_layer_by_its_number() -> None:
    index = LayerIndex()
    index.add("/a", SYMLINK, 0, 0o777, 0, 0, "a")
    index.add("/a/f", FILE, 1, 0o644, 0, 0)
    with pytest.raises(ImageError) as err:
        FileTree.from_layers((), [index])
    assert str(err.value) == f"layer 0: /a/f: {LOOP}"


def test_the_cli_names_the_layer_in_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(build([symlink("a", "b"), symlink("b", "a")], [file("a/f", "f")]), tmp_path)
    assert main(["sbom", ref]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "layer 1 (sha256:" in err[0] and "/a/f" in err[0]


def test_up_to_255_links_place_an_entry_where_a_lookup_gives_up_after_40(tmp_path: Path) -> None:
    """Placing follows up to 255 links (containerd, umoci); the kernel, reading, 40."""
    links = [*(symlink(f"l{i}", f"l{i + 1}") for i in range(254)), symlink("l254", "/etc")]
    tree = tree_of(tmp_path, links, [file("l0/f", "f")], globs=ALL)
    assert "/etc/f" in tree.final and tree.view().resolve("/l0/f") is None
    with pytest.raises(ImageError, match="more than 255 symbolic links"):
        tree_of(tmp_path / "b", [*links, symlink("m", "l0")], [file("m/f", "f")], globs=ALL)


def test_placing_a_layer_walks_a_bounded_number_of_components(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layers = ([symlink("x", "/a/b/c/d/e/f/g")], [file("x/1", "1"), directory("a/b"),
                                                 symlink("x/l", "1"), file("x/2", "2"),
                                                 file("x/3", "3")])
    # x, then a..g: once for all of x/* (a symlink landing where no walk went changes none,
    # nor does a directory written where one went); then a, for a/b
    monkeypatch.setattr(tree_module, "MAX_PLACE_STEPS", 9)
    assert {"/a/b/c/d/e/f/g/1", "/a/b/c/d/e/f/g/3"} <= set(tree_of(tmp_path, *layers,
                                                                  globs=ALL).final)
    monkeypatch.setattr(tree_module, "MAX_PLACE_STEPS", 7)
    with pytest.raises(ImageError) as err:
        tree_of(tmp_path / "b", *layers, globs=ALL)
    assert str(err.value).partition(": ")[2] == (
        "/x/1: more than 7 path components to resolve through symbolic links")


def test_a_hidden_dpkg_database_is_still_catalogued(tmp_path: Path) -> None:
    status = ("Package: evil\nStatus: install ok installed\nVersion: 1.0\n"
              "Architecture: amd64\nMaintainer: M <m@example.org>\nDescription: d\n")
    cats = (DpkgCataloger(),)
    tree = tree_of(tmp_path, [file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
                              directory("var"), directory("var/lib"), directory("var/lib/dpkg"),
                              symlink("d", "/var/lib/dpkg")],
                   [file("d/status", status)], globs=catalog.globs_for(cats))
    inv = catalog.run(tree, ImageSource(kind="oci", name="test"), catalogers=cats)
    [pkg] = inv.packages
    assert pkg.name == "evil" and pkg.locations[0].path == "/var/lib/dpkg/status"
    assert pkg.locations[0].layer == 1


def test_a_symlink_a_symlinked_parent_moved_redirects_what_follows(tmp_path: Path) -> None:
    """x/d/f1 makes /etc/d (through x); the symlink x/d lands at /etc/d, so x/d/f2 and,
    a layer later, etc/d/g go to /srv."""
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc"), directory("srv")],
                   [file("x/d/f1", "1"), symlink("x/d", "/srv"), file("x/d/f2", "2")],
                   [file("etc/d/g", "g")], globs=ALL)
    final = _final(tree)
    assert final["/etc/d"] == (Kind.SYMLINK, "/srv")
    assert "/srv/f2" in final and "/srv/g" in final
    assert "/etc/d/f2" not in final and "/etc/d/g" not in final


def test_a_symlink_landing_where_a_hard_links_target_was_looked_for_redirects_what_follows(
        tmp_path: Path) -> None:
    """Resolving h's target walked /etc/d (nothing there); the symlink x/d lands at /etc/d,
    so x/d/f goes to /srv."""
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc"), directory("srv")],
                   [hardlink("h", "x/d/t"), symlink("x/d", "/srv"), file("x/d/f", "f")],
                   globs=ALL)
    assert tree.view().entry("/h").link == "/etc/d/t"  # type: ignore[union-attr]
    assert "/srv/f" in tree.final and "/etc/d/f" not in tree.final


def test_a_layer_below_symlinks_keeps_every_version_and_what_was_looked_for(
        tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [*BASE, symlink("x", "/etc")],
                   [directory("etc"), file("etc/motd", "m"), file("x/hostname", "two\n"),
                    file("x/hostname", "three\n"), file("x/other", "o"),
                    file("x/ld.so.preload", "p")],
                   globs=["/etc/motd", "/etc/hostname", PRELOAD])
    assert [(layer, e and e.content) for layer, e in tree.versions["/etc/hostname"]] == [
        (0, b"box\n"), (1, b"two\n"), (1, b"three\n")]
    everything = filetree.compile_globs(ALL)
    assert everything is not None
    assert sorted({e.path for e in tree.matching_versions(everything)}) == [
        "/etc/hostname", PRELOAD, "/etc/motd"]
    other = tree.view().entry("/etc/other")
    assert other is not None and other.content is None and not other.too_large
    assert tree.view().regular(PRELOAD) == (1, 1, b"p")


def test_bytes_read_again_go_to_the_entry_of_that_tar_path_only(tmp_path: Path) -> None:
    """x/a* moved to /etc is read again by the glob /x/a? (a glob cannot say "*" itself),
    which also matches x/ab, written before x became a symlink: that one stays as it was."""
    tree = tree_of(tmp_path, [*BASE], [file("x/ab", "1"), symlink("x", "/etc"),
                                       file("x/a*", "2")], globs=["/etc/*"])
    assert tree.view().read("/etc/a*") == b"2"
    assert [(layer, e and e.content) for layer, e in tree.versions["/x/ab"]] == [
        (1, None), (1, None)]


def test_a_too_large_moved_file_is_marked_too_large(tmp_path: Path) -> None:
    ref = write(build([symlink("x", "/etc")], [file("x/ld.so.preload", "0123456789")]), tmp_path)
    tree = filetree.build(open_image(ref), [PRELOAD], max_file=4)
    [entry] = tree.matching_versions(filetree.compile_globs([PRELOAD]))  # type: ignore[arg-type]
    assert entry.path == PRELOAD and entry.too_large and entry.content is None


def test_a_secret_below_a_symlinked_parent_is_reported_at_its_real_path(tmp_path: Path) -> None:
    creds = f"[default]\naws_access_key_id = {aws_key_id(3)}\naws_secret_access_key = {aws_secret(3)}\n"
    ref = write(build([directory("root"), symlink("x", "/root")],
                      [file("x/.aws/credentials", creds)]), tmp_path)
    report, _ = secrets.scan_image(open_image(ref))
    paths = {f.path for f in report.findings}
    assert paths == {"/root/.aws/credentials"}
    assert all(f.visible for f in report.findings)


def test_a_layer_without_symlinked_parents_takes_the_fast_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links everywhere, none a parent of what a layer writes: no layer is placed entry
    by entry (the fast loop costs nothing per entry), and nothing moves."""
    placed: list[int] = []
    place = FileTree._place

    def spy(self: FileTree, index: LayerIndex, i: int, placing: object) -> None:
        placed.append(i)
        place(self, index, i, placing)  # type: ignore[arg-type]

    monkeypatch.setattr(FileTree, "_place", spy)
    tree = tree_of(tmp_path, [*BASE, symlink("lib", "usr/lib"), symlink("etc/l", "hostname"),
                              symlink("d", "/etc")],
                   [file("usr/lib/f", "f"), symlink("usr/lib/g", "f"), hardlink("h", "etc/hostname"),
                    whiteout("etc/l"), opaque("usr"), file("libx/f", "f"), directory("d"),
                    file("usr/share/f", "f")],
                   [file("usr/lib/f2", "f"), file("d/f", "f")], globs=ALL)
    assert placed == [] and tree._moved == {} and tree._placed == {}
    assert "/d/f" in tree.final and "/etc/f" not in tree.final
    assert tree.view().read("/lib/g") == b"f"
    tree_of(tmp_path / "b", [*BASE, symlink("lib", "usr/lib")], [file("lib/f", "f")], globs=ALL)
    assert placed == [1]


# -- umoci as the oracle -----------------------------------------------------------------
ORACLE = (
    [*BASE, file("etc/passwd", "root"), file("etc/shadow", "s"), directory("usr"),
     directory("usr/lib"), symlink("x", "/etc"), symlink("rel", "../usr/lib"),
     symlink("a", "b"), symlink("b", "/etc"), symlink("up", "/../../usr"),
     file("usr/lib/old", "old")],
    [file("x/ld.so.preload", "p"), file("rel/libevil.so", "e"), file("a/from-chain", "c"),
     file("up/lib/deep", "d"), hardlink("hl", "x/shadow"), whiteout("rel/old"),
     whiteout("x/passwd"), directory("y"), file("y/keep", "k"), symlink("y2", "/usr/lib"),
     file("y2/same", "s2"), file("z/a", "a"), symlink("z", "/etc"), file("z/b", "b")],
    [opaque("a"), file("a/after", "n")],
    [whiteout("b/hostname"), whiteout("b"), directory("b"), file("b/c", "c"), file("y2/more", "m")],
)


def _unpacked(rootfs: Path) -> dict[str, tuple[str, str, bytes]]:
    out: dict[str, tuple[str, str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            path = "/" + str(full.relative_to(rootfs))
            if full.is_symlink():
                out[path] = ("symlink", os.readlink(full), b"")
            elif full.is_dir():
                out[path] = ("dir", "", b"")
            else:
                out[path] = ("file", "", full.read_bytes())
    return out


KINDS = {Kind.DIR: "dir", Kind.FILE: "file", Kind.HARDLINK: "file", Kind.SYMLINK: "symlink"}


@pytest.mark.parametrize("upto", range(len(ORACLE)))
def test_each_view_agrees_with_umoci_unpack(tmp_path: Path, upto: int) -> None:
    umoci = need_command("umoci", "umoci")
    ref = write(build(*ORACLE[:upto + 1]), tmp_path)
    bundle = tmp_path / "bundle"
    subprocess.run([umoci, "unpack", "--image", ref.removeprefix("oci:"), str(bundle)],
                   check=True, capture_output=True)
    view = filetree.build(open_image(ref), ALL).view()
    mine = {e.path: (KINDS[e.kind], e.link if e.kind is Kind.SYMLINK else "",
                     view.read(e.path) or b"" if e.kind in (Kind.FILE, Kind.HARDLINK) else b"")
            for e in view.files()}
    assert mine == _unpacked(bundle / "rootfs")


# -- entries below a file ----------------------------------------------------------------
# Each: the layers, and the refusal's entry and reason (None: the image unpacks). umoci's
# mkdir of the parent (or link(2)) fails with ENOTDIR exactly where the tree refuses.
NOT_A_DIR = "/a is not a directory (layer {} made it a file)"
BELOW_A_FILE: dict[str, tuple[tuple[list[Entry], ...], str | None]] = {
    "same layer": (([file("a", "x"), file("a/b", "y")],), "/a/b: " + NOT_A_DIR.format(0)),
    "lower layer": (([file("a", "x")], [file("a/b", "y")]), "/a/b: " + NOT_A_DIR.format(0)),
    "deeper": (([file("a", "x")], [file("a/b/c", "y")]), "/a/b/c: " + NOT_A_DIR.format(0)),
    "deeper still": (([directory("d"), file("d/a", "x")], [file("d/a/b/c/e", "y")]),
                     "/d/a/b/c/e: /d/a is not a directory (layer 0 made it a file)"),
    "a directory": (([file("a", "x")], [directory("a/b")]), "/a/b: " + NOT_A_DIR.format(0)),
    "a symlink": (([file("a", "x")], [symlink("a/l", "/")]), "/a/l: " + NOT_A_DIR.format(0)),
    "a hard link": (([file("a", "x"), file("t", "t")], [hardlink("a/h", "t")]),
                    "/a/h: " + NOT_A_DIR.format(0)),
    "a hard link's target": (([file("a", "x")], [hardlink("h", "a/t")]),
                             "/h: " + NOT_A_DIR.format(0)),
    "below a hard link": (([file("t", "t"), hardlink("a", "t")], [file("a/b", "y")]),
                          "/a/b: " + NOT_A_DIR.format(0)),  # kept: the reader made it a file
    "through a symlink": (([file("a", "x"), symlink("l", "/a")], [file("l/b", "y")]),
                          "/l/b: " + NOT_A_DIR.format(0)),
    "through a dangling symlink": (([file("a", "x"), symlink("l", "/a/g")], [file("l/b", "y")]),
                                   "/l/b: " + NOT_A_DIR.format(0)),
    "after its directory": (([file("a/b", "y"), file("a", "x"), file("a/c", "z")],),
                            "/a/c: " + NOT_A_DIR.format(0)),
    "after a symlink": (([symlink("l", "/a"), file("a", "x"), file("l/b", "y")],),
                        "/l/b: " + NOT_A_DIR.format(0)),
    "replacing a lower directory": (([directory("a"), file("a/x", "x")], [file("a", "x")],
                                     [file("a/b", "y")]), "/a/b: " + NOT_A_DIR.format(1)),
    "replacing a lower directory in a placed layer": (
        ([directory("a"), file("a/x", "x")], [symlink("l", "/"), file("l/a", "x")],
         [file("a/b", "y")]), "/a/b: " + NOT_A_DIR.format(1)),
    "replacing a lower directory, placed": (([directory("a"), file("a/x", "x")],
                                             [symlink("l", "/a"), file("a", "x")],
                                             [file("l/b", "y")]), "/l/b: " + NOT_A_DIR.format(1)),
    "upper layer's file": (([directory("a")], [file("a", "x"), file("a/b", "y")]),
                           "/a/b: " + NOT_A_DIR.format(1)),
    # fine: the file deleted or replaced first, or nothing made below it
    "whited out": (([file("a", "x")], [whiteout("a"), file("a/b", "y")]), None),
    "whited out below": (([file("a", "x")], [whiteout("a")], [file("a/b", "y")]), None),
    "replaced by a directory": (([file("a", "x")], [directory("a"), file("a/b", "y")]), None),
    "replaced in one layer": (([file("a", "x"), directory("a"), file("a/b", "y")],), None),
    "emptied by an opaque parent": (([directory("d"), file("d/a", "x")],
                                     [opaque("d"), file("d/a/b", "y")]), None),
    "replacing its directory": (([file("a/b", "y"), file("a", "x")],), None),
    "a whiteout below it": (([file("a", "x")], [whiteout("a/b")]), None),
    "an opaque marker on it": (([file("a", "x")], [opaque("a")]), None),
    "a whiteout through a symlink": (([file("a", "x"), symlink("l", "/a")], [whiteout("l/b")]),
                                     None),
    "'..' past it": (([file("a", "x"), symlink("l", "/a/..")], [file("l/b", "y")]), None),
}


@pytest.mark.parametrize("case", BELOW_A_FILE)
def test_an_entry_below_a_file_refuses_the_layer_as_umoci_does(tmp_path: Path, case: str) -> None:
    layers, said = BELOW_A_FILE[case]
    umoci = need_command("umoci", "umoci")
    ref = write(build(*layers), tmp_path)
    bundle = tmp_path / "bundle"
    unpacked = subprocess.run([umoci, "unpack", "--rootless", "--image", ref.removeprefix("oci:"),
                               str(bundle)], capture_output=True, text=True, check=False)
    if said is None:
        assert unpacked.returncode == 0, unpacked.stderr
        view = filetree.build(open_image(ref), ALL).view()
        mine = {e.path: KINDS[e.kind] for e in view.files()}
        theirs = {p: kind for p, (kind, _, _) in _unpacked(bundle / "rootfs").items()}
        implied = {p for p, kind in theirs.items() if kind == "dir" and p not in mine}
        assert mine == {p: kind for p, kind in theirs.items() if p not in implied}
        assert all(view.lookup(p) is None and any(q.startswith(p + "/") for q in mine)
                   for p in implied)  # a parent no layer listed: umoci makes it
        return
    assert unpacked.returncode != 0 and "not a directory" in unpacked.stderr
    with pytest.raises(ImageError) as err:
        filetree.build(open_image(ref), ALL)
    layer, _, rest = str(err.value).partition(": ")
    assert layer == f"layer {len(layers) - 1} ({build(*layers).layers[-1].digest})"
    assert rest == said and err.value.hint == "container runtimes refuse to unpack this layer too"


def test_a_file_where_a_layer_makes_directories_takes_the_ordered_loop_from_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files replacing lower files, or a lower directory the layer writes nothing in, keep
    the fast loop; a file at a path the layer writes below is placed in order from it."""
    starts: list[int] = []
    place = FileTree._place

    def spy(self: FileTree, index: LayerIndex, i: int, placing: object, start: int = 0) -> None:
        starts.append(start)
        place(self, index, i, placing, start)  # type: ignore[arg-type]

    monkeypatch.setattr(FileTree, "_place", spy)
    tree = tree_of(tmp_path, [*BASE, directory("opt"), file("opt/x/y", "y")],
                   [file("etc/hostname", "new"), file("opt/x", "x"), file("etc/motd", "m")],
                   globs=ALL)
    assert starts == [] and tree.view().read("/opt/x") == b"x" and "/opt/x/y" not in tree.final
    tree = tree_of(tmp_path / "b", BASE, [file("etc/a", "a"), file("u/v/w", "w"),
                                          file("u", "u"), file("etc/z", "z")], globs=ALL)
    assert starts == [2]
    assert {p for p in tree.final if p != "/etc/hostname"} == {"/etc", "/etc/a", "/u", "/etc/z"}


def test_a_tar_path_written_twice_is_the_last_member_where_that_one_landed(
        tmp_path: Path) -> None:
    """x/f moved to /etc/f, then written again once x is a directory: the layer's last
    member named x/f is at /x/f (what a sink found in "x/f" is about that one)."""
    tree = tree_of(tmp_path, BASE, [symlink("x", "/etc"), file("x/f", "1"), directory("x"),
                                    file("x/f", "2")], globs=ALL)
    entry = tree.written_by("/x/f", 1)
    assert entry is not None and entry.path == "/x/f" and entry.content == b"2"
    assert tree.landed(1, "/x/f") == ("/x/f", True)
    assert tree.view().read("/etc/f") == b"1"


def test_where_a_tar_path_landed_and_whether_a_later_entry_of_its_layer_landed_on_it(
        tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [symlink("x", "/etc"), file("x/f", "1"), file("x/g", "1"),
                              file("etc/g", "2")], [file("etc/f", "3")], globs=ALL)
    assert tree.landed(0, "/x/f") == ("/etc/f", True)  # layer 1 wrote there later: not layer 0
    assert tree.landed(0, "/x/g") == ("/etc/g", False)  # its own etc/g landed on it
    assert tree.landed(0, "/etc/g") == ("/etc/g", True)
    assert tree.landed(1, "/etc/f") == ("/etc/f", True)
    assert tree.landed(0, "/never/written") == ("/never/written", True)
