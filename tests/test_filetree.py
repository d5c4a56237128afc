"""Whiteouts, opaque directories, links and the history of every file across layers."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.errors import ImageError, UnsafeLayer
from hullcheck.filetree import FileTree, Kind, compile_globs
from hullcheck.filetree.entries import FileEntry
from hullcheck.filetree.globset import GlobSet, glob_to_regex
from hullcheck.filetree.index import FILE, LayerIndex
from hullcheck.filetree.tar import normalise, read_tar
from hullcheck.filetree.tree import MAX_LAYERS
from hullcheck.image.writer import directory, file, hardlink, opaque, symlink, whiteout
from tests.fixtures.images import tree_of

ALL = ["/**"]


def test_whiteout_hides_a_file_but_keeps_its_history(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"etc/secret": "key", "etc/keep": "k"}, [whiteout("etc/secret")],
                   globs=ALL)
    view = tree.view()
    assert view.entry("/etc/secret") is None
    assert view.read("/etc/keep") == b"k"
    shipped = [e for e in tree.all_entries() if e.path == "/etc/secret"]
    assert len(shipped) == 1 and shipped[0].layer == 0 and shipped[0].content == b"key"
    assert not tree.is_visible(shipped[0])
    assert tree.deleted_at(shipped[0]) == 1
    assert tree.view(upto=0).read("/etc/secret") == b"key"


def test_whiteout_of_a_directory_removes_its_subtree(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"opt/app/a": "1", "opt/app/sub/b": "2", "opt/other": "3"},
                   [whiteout("opt/app")], globs=ALL)
    assert sorted(tree.final) == ["/opt/other"]


def test_opaque_directory_hides_lower_contents_only(tmp_path: Path) -> None:
    tree = tree_of(
        tmp_path,
        {"data/old1": "1", "data/sub/old2": "2"},
        [opaque("data"), file("data/new", "n")],
        globs=ALL,
    )
    assert sorted(p for p in tree.final if p.startswith("/data")) == ["/data/new"]
    assert {e.path for e in tree.all_entries()} >= {"/data/old1", "/data/sub/old2", "/data/new"}


def test_overwritten_file_keeps_both_versions(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"bin/x": "one"}, {"bin/x": "two"}, globs=ALL)
    versions = [(e.layer, e.content) for e in tree.all_entries() if e.path == "/bin/x"]
    assert versions == [(0, b"one"), (1, b"two")]
    old = next(e for e in tree.all_entries() if e.content == b"one")
    assert tree.deleted_at(old) == 1 and not tree.is_visible(old)


def test_symlinks_resolve_inside_the_root(tmp_path: Path) -> None:
    tree = tree_of(
        tmp_path,
        [
            file("usr/lib/os-release", "ID=x"),
            symlink("etc/os-release", "../usr/lib/os-release"),
            symlink("lib", "usr/lib"),
            symlink("etc/escape", "../../../../../../usr/lib/os-release"),
            symlink("etc/abs", "/usr/lib/os-release"),
            symlink("loop1", "loop2"),
            symlink("loop2", "loop1"),
        ],
        globs=ALL,
    )
    view = tree.view()
    assert view.read("/etc/os-release") == b"ID=x"
    assert view.read("/lib/os-release") == b"ID=x"
    assert view.read("/etc/escape") == b"ID=x"  # ".." stops at the image root
    assert view.read("/etc/abs") == b"ID=x"  # absolute targets are image paths
    assert view.resolve("/loop1") is None
    assert view.read("/loop1") is None


def test_hard_links_share_content(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [file("a/orig", "data"), hardlink("a/link", "a/orig")], globs=ALL)
    assert tree.view().read("/a/link") == b"data"


def test_only_wanted_files_keep_content(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"keep/me": "yes", "drop/me": "no"}, globs=["/keep/*"])
    view = tree.view()
    assert view.read("/keep/me") == b"yes"
    dropped = view.entry("/drop/me")
    assert dropped is not None and dropped.kind is Kind.FILE and dropped.content is None
    assert dropped.size == 2


def test_directory_entries_and_modes(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [directory("var/tmp", 0o1777), file("usr/bin/su", "", 0o4755)],
                   globs=ALL)
    assert tree.final["/var/tmp"].kind is Kind.DIR and tree.final["/var/tmp"].mode == 0o1777
    assert tree.final["/usr/bin/su"].mode == 0o4755


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("/var/lib/dpkg/status", "/var/lib/dpkg/status", True),
        ("/var/lib/dpkg/status.d/*", "/var/lib/dpkg/status.d/base", True),
        ("/var/lib/dpkg/status.d/*", "/var/lib/dpkg/status.d/a/b", False),
        ("/**/*.dist-info/METADATA", "/usr/lib/python3/dist-packages/x-1.dist-info/METADATA", True),
        ("/**/*.dist-info/METADATA", "/x-1.dist-info/METADATA", True),
        ("/**/*.dist-info/METADATA", "/x-1.dist-info/RECORD", False),
        ("/**/node_modules/*/package.json", "/app/node_modules/a/package.json", True),
    ],
)
def test_globs(pattern: str, path: str, hit: bool) -> None:
    rx = compile_globs([pattern])
    assert rx is not None
    assert bool(rx.match(path)) is hit, glob_to_regex(pattern)


def test_normalise_paths() -> None:
    assert normalise("./etc/passwd", what="t") == "/etc/passwd"
    assert normalise("var/X/", what="t") == "/var/X"
    assert normalise("a/./b/../c", what="t") == "/a/c"
    assert normalise("usr/bin/", what="t") == "/usr/bin"
    assert normalise("a/../b", what="t") == "/b"
    with pytest.raises(UnsafeLayer, match="escapes the image root"):
        normalise("a/../../b", what="layer 1")
    with pytest.raises(UnsafeLayer, match="absolute path"):
        normalise("/etc/passwd", what="layer 1")


def test_sink_sees_every_version_including_deleted_files(tmp_path: Path) -> None:
    import threading

    from hullcheck import filetree
    from hullcheck.image import open_image
    from tests.fixtures.images import build, write

    class Sink:
        def __init__(self) -> None:
            self.got: list[tuple[int, str, bytes]] = []
            self.lock = threading.Lock()

        def wants(self, path: str, size: int) -> bool:
            return path.startswith("/etc/") and size < 100

        def take(self, layer: int, path: str, data: bytes) -> None:
            with self.lock:
                self.got.append((layer, path, data))

    ref = write(build({"etc/key": "secret", "etc/big": "x" * 200, "usr/x": "no"},
                      [whiteout("etc/key")]), tmp_path)
    sink = Sink()
    tree = filetree.build(open_image(ref), [], sink=sink)
    assert sorted(sink.got) == [(0, "/etc/key", b"secret")]
    assert tree.view().entry("/etc/key") is None


def test_globset_agrees_with_one_regex_per_glob() -> None:
    """The indexed matcher must accept exactly what the plain translated globs accept."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hullcheck import catalog

    patterns = [*catalog.globs_for(), "/*", "/a/*b*.txt", "/x/**/lib*.so*", "/?/q"]
    globs = GlobSet(patterns)
    plain = [re.compile(glob_to_regex(p) + r"\Z") for p in patterns]
    parts = st.sampled_from(["usr", "lib", "bin", "a", "x", "q", "node_modules", "@s", "opt",
                             "site-packages", "x-1.dist-info", "METADATA", "package.json",
                             "libcrypto.so.3", "requirements-dev.txt", "b.jar", "status.d",
                             "var", "dpkg", "status", "specifications", "y.gemspec", "1b2.txt"])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(parts, min_size=1, max_size=6))
    def check(components: list[str]) -> None:
        path = "/" + "/".join(components)
        assert globs.match(path) == any(rx.match(path) for rx in plain), path

    check()


def test_switch_interval_is_restored_after_concurrent_builds(tmp_path: Path) -> None:
    import sys
    import threading

    from hullcheck import filetree
    from hullcheck.image import open_image
    from tests.fixtures.images import build, write

    ref = write(build({"a": "1"}, {"b": "2"}), tmp_path)
    before = sys.getswitchinterval()
    threads = [threading.Thread(target=filetree.build, args=(open_image(ref), ["/*"]))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("listed", [True, False], ids=["directory-listed", "directory-implied"])
def test_a_file_replacing_a_directory_hides_what_was_below_it(tmp_path: Path, listed: bool) -> None:
    """As containerd applies a layer: whatever was at the path goes, with what was below it,
    whether a lower layer listed the directory or only files inside it."""
    lower = [directory("opt/app")] if listed else []
    tree = tree_of(tmp_path, [*lower, file("opt/app/a", "1"), file("opt/app/sub/b", "2")],
                   {"opt/app": "now a file"}, globs=ALL)
    assert sorted(p for p in tree.final if p.startswith("/opt")) == ["/opt/app"]
    assert tree.view().read("/opt/app") == b"now a file"
    assert tree.view(upto=0).read("/opt/app/sub/b") == b"2"
    old = next(e for e in tree.all_entries() if e.path == "/opt/app/a")
    assert tree.deleted_at(old) == 1


def test_a_directory_listed_again_keeps_its_contents(tmp_path: Path) -> None:
    """Layers list a directory again when its mode changes; what lower layers put in it stays."""
    tree = tree_of(tmp_path, [directory("etc"), file("etc/keep", "k")], [directory("etc", 0o700)],
                   globs=ALL)
    assert tree.view().read("/etc/keep") == b"k"
    assert tree.final["/etc"].mode == 0o700


def test_an_overwritten_file_was_replaced_not_deleted(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"bin/x": "one"}, {"bin/x": "two"}, globs=ALL)
    assert [(layer, e is not None and e.content) for layer, e in tree.versions["/bin/x"]] == [
        (0, b"one"), (1, b"two")]


def test_opaque_directories_new_in_their_layer_and_at_the_root(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [opaque("new"), file("new/f", "n")], globs=ALL)
    assert tree.view().read("/new/f") == b"n"
    tree = tree_of(tmp_path / "root", {"etc/a": "1", "b": "2"},
                   [file(".wh..wh..opq", b""), file("c", "3")], globs=ALL)
    assert sorted(tree.final) == ["/c"]


def test_matching_versions_are_in_layer_then_path_order(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"etc/b": "0b", "etc/a": "0a"}, {"etc/c": "1c", "etc/a": "1a"},
                   globs=ALL)
    got = [(e.layer, e.path) for e in tree.matching_versions(GlobSet(["/etc/*"]))]
    assert got == [(0, "/etc/a"), (0, "/etc/b"), (1, "/etc/a"), (1, "/etc/c")]


def test_symlink_chains_of_forty_hops_resolve_and_longer_ones_do_not(tmp_path: Path) -> None:
    """Linux follows at most 40 links in one lookup (MAXSYMLINKS); so does the tree."""
    links = [symlink(f"l{i}", f"l{i + 1}") for i in range(41)]
    tree = tree_of(tmp_path, [file("l41", "end"), *links], globs=ALL)
    view = tree.view()
    assert view.resolve("/l1") == "/l41" and view.read("/l1") == b"end"  # 40 hops
    assert view.resolve("/l0") is None and view.read("/l0") is None  # 41 hops


def test_dot_components_are_skipped_in_paths_and_link_targets(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [file("usr/lib/os-release", "ID=x"),
                              symlink("etc/os-release", "./../usr/./lib/os-release")], globs=ALL)
    view = tree.view()
    assert view.read("/etc/os-release") == b"ID=x"
    assert view.read("/usr/./lib/./os-release") == b"ID=x"
    assert view.resolve("/./etc/os-release") == "/usr/lib/os-release"


def test_glob_lists_the_entries_of_each_view_by_path(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"etc/b.conf": "b", "etc/a.conf": "a", "etc/x.txt": "x"},
                   [whiteout("etc/b.conf"), file("etc/c.conf", "c")], globs=ALL)
    assert [e.path for e in tree.view().glob("/etc/*.conf")] == ["/etc/a.conf", "/etc/c.conf"]
    older = tree.view(upto=0).glob("/etc/*.conf")
    assert [(e.path, e.content) for e in older] == [("/etc/a.conf", b"a"), ("/etc/b.conf", b"b")]
    assert tree.view(upto=0).glob("/etc/*.con") == []  # the whole path must match


# -- views and lookups in the corners the mutation run of tree.py found unchecked: a path
# deleted after two writes, a deletion seen from an earlier view, a link that is ref 0,
# a link with an empty target, a leading "//", files whose bytes were never looked for --


def test_a_path_written_twice_then_deleted_is_gone_in_every_later_view(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, {"etc/a": "1", "etc/b": "b"}, {"etc/a": "2"}, [whiteout("etc/a")],
                   {"etc/c": "c"}, globs=ALL)
    assert [(layer, e.content if e else None) for layer, e in tree.versions["/etc/a"]] == [
        (0, b"1"), (1, b"2"), (2, None)]
    assert "/etc/a" not in tree.final and tree.view().lookup("/etc/a") is None
    second = tree.written_by("/etc/a", 1)
    assert second is not None and tree.deleted_at(second) == 2 and not tree.is_visible(second)
    # A view before the last layer: the deletion at layer 2 counts from layer 2 on.
    assert tree.view(upto=0).read("/etc/a") == b"1"
    assert tree.view(upto=1).read("/etc/a") == b"2"
    deleted = tree.view(upto=2)
    assert deleted.entry("/etc/a") is None and deleted.lookup("/etc/a") is None
    assert deleted.regular("/etc/a") is None and not deleted.exists("/etc/a")
    assert sorted(e.path for e in deleted.files()) == ["/etc/b"]


def test_a_link_that_is_the_first_entry_of_the_first_layer_is_followed(tmp_path: Path) -> None:
    """Merged-/usr images often begin with `lib -> usr/lib`: its ref is 0."""
    tree = tree_of(tmp_path, [symlink("lib", "usr/lib"), file("usr/lib/os-release", "ID=x")],
                   {"etc/x": "x"}, globs=ALL)
    link = tree.view().entry("/lib")
    assert link is not None and link.ref == 0 and link.link == "usr/lib"
    for view in (tree.view(), tree.view(upto=0)):
        assert view.resolve("/lib") == "/usr/lib"
        assert view.resolve("/lib/os-release") == "/usr/lib/os-release"
        assert view.read("/lib/os-release") == b"ID=x"
        assert view.resolve("/lib", follow_last=False) == "/lib"


def test_a_link_with_an_empty_target_leads_nowhere(tmp_path: Path) -> None:
    """Linux refuses to follow a symlink whose target is empty (ENOENT): it is not the
    directory it sits in."""
    tree = tree_of(tmp_path, [directory("x"), file("x/b", "b"), symlink("x/a", "")], globs=ALL)
    view = tree.view()
    link = view.entry("/x/a")
    assert link is not None and link.link == ""
    assert view.resolve("/x/a") is None and view.lookup("/x/a") is None
    assert view.resolve("/x/a/b") is None and view.read("/x/a/b") is None
    assert view.resolve("/x/a", follow_last=False) == "/x/a"
    assert view.read("/x/b") == b"b"


def test_a_leading_double_slash_resolves_to_the_normal_path(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [file("top", "t"), directory("etc"), file("etc/f", "f")], globs=ALL)
    view = tree.view()
    assert view.resolve("//top") == "/top" and view.resolve("//etc") == "/etc"
    assert view.resolve("//etc/f") == "/etc/f" and view.resolve("/etc//f") == "/etc/f"
    assert view.read("//top") == b"t"


def test_matching_versions_hands_out_only_files_whose_bytes_were_looked_for(
        tmp_path: Path) -> None:
    """Catalogers parse what ``matching_versions`` gives; a file the analysis did not keep
    (a pattern beyond its globs; a file a `dir:` source could not open) would reach them as
    empty bytes."""
    tree = tree_of(tmp_path, {"keep/a": "a", "drop/b": "b"}, {"keep/a": "a2", "drop/c": "c"},
                   globs=["/keep/*"])
    got = [(e.layer, e.path, e.content) for e in tree.matching_versions(GlobSet(ALL))]
    assert got == [(0, "/keep/a", b"a"), (1, "/keep/a", b"a2")]
    assert tree.matching_versions(GlobSet(["/drop/*"])) == []


def test_a_tree_holds_as_many_layers_as_a_ref_can_name_and_refuses_one_more() -> None:
    """A docker-archive's manifest.json can name one layer member 65,537 times within its
    4 MiB cap: the tree refuses it as a malformed image (exit 2), not an internal error."""
    top = LayerIndex()
    top.add("/etc/top", FILE, 1, 0o644, 0, 0, content=b"t")
    tree = FileTree.from_layers((), [*[LayerIndex()] * (MAX_LAYERS - 1), top])
    entry = tree.final["/etc/top"]
    assert entry.layer == MAX_LAYERS - 1 and entry.content == b"t"
    assert tree.written_by("/etc/top", MAX_LAYERS - 1) == entry
    with pytest.raises(ImageError) as refused:
        FileTree.from_layers((), [LayerIndex()] * (MAX_LAYERS + 1))
    assert str(refused.value) == "image has more than 65536 layers"

# -- one layer's tar: entries, whiteouts, kept bytes, what each kind of sink is handed --

TarMember = tuple[str, bytes | str, str]  # name, data or link target, tarfile type


def _tar(*members: TarMember) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind.encode()
            info.mode, info.uid, info.gid = 0o640, 7, 8
            if kind in ("1", "2"):
                info.linkname = str(data)
                tf.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _read_tar(data: bytes, *, wanted: list[str] | None = None, **kw: object) -> tuple[
        list[FileEntry], list[str], list[str]]:
    out = read_tar(iter([data]), index=3, what="layer 3", wanted=None if wanted is None
                   else GlobSet(wanted), **kw)  # type: ignore[arg-type]
    return list(out.entries(3)), out.whiteouts, out.opaque


def test_every_kind_of_entry_with_its_fields() -> None:
    entries, _, _ = _read_tar(_tar(("./", b"", "5"), ("etc", b"", "5"), ("etc/a", "A", "0"),
                               ("etc/l", "a", "2"), ("etc/h", "etc/a", "1"), ("dev/p", b"", "6")),
                          wanted=[])
    assert entries == [
        FileEntry("/etc", Kind.DIR, 0, 0o640, 3, "", None, False, 7, 8),
        FileEntry("/etc/a", Kind.FILE, 1, 0o640, 3, "", None, False, 7, 8),
        FileEntry("/etc/l", Kind.SYMLINK, 0, 0o640, 3, "a", None, False, 7, 8),
        FileEntry("/etc/h", Kind.HARDLINK, 0, 0o640, 3, "/etc/a", None, False, 7, 8),
        FileEntry("/dev/p", Kind.OTHER, 0, 0o640, 3, "", None, False, 7, 8),
    ]


def test_whiteouts_opaque_markers_and_aufs_metadata() -> None:
    _, whiteouts, opaque = _read_tar(_tar((".wh.top", b"", "0"), ("a/b/.wh.gone", b"", "0"),
                                      ("a/.wh..wh..opq", b"", "0"), (".wh..wh..opq", b"", "0"),
                                      (".wh..wh.plnk/1.2", b"", "0"), (".wh..wh.aufs", b"", "0")))
    assert whiteouts == ["/top", "/a/b/gone"]
    assert opaque == ["/a", "/"]


def test_wanted_files_keep_their_bytes_up_to_the_limit() -> None:
    entries, _, _ = _read_tar(_tar(("a/small", "12345", "0"), ("a/big", "123456", "0"),
                               ("b/other", "x", "0")), wanted=["/a/*"], max_file=5)
    got = {e.path: (e.content, e.too_large, e.size) for e in entries}
    assert got == {"/a/small": (b"12345", False, 5), "/a/big": (None, True, 6),
                   "/b/other": (None, False, 1)}


def test_a_hard_link_to_a_kept_file_is_that_file_when_its_own_path_is_wanted() -> None:
    entries, _, _ = _read_tar(_tar(("a/f", "data", "0"), ("a/link", "a/f", "1"),
                               ("b/link", "a/f", "1")), wanted=["/a/*"])
    assert entries[1:] == [
        FileEntry("/a/link", Kind.FILE, 4, 0o640, 3, "", b"data", False, 7, 8),
        FileEntry("/b/link", Kind.HARDLINK, 0, 0o640, 3, "/a/f", None, False, 7, 8),
    ]


def test_hard_links_out_of_the_root_are_refused() -> None:
    with pytest.raises(UnsafeLayer, match=r"layer 3 hard link /x: path '\.\./\.\./etc' escapes"):
        _read_tar(_tar(("x", "../../etc", "1")))


def test_more_entries_than_the_limit_are_refused() -> None:
    data = _tar(*[(f"f{i}", "", "0") for i in range(4)])
    assert len(_read_tar(data, max_entries=4)[0]) == 4
    with pytest.raises(UnsafeLayer, match=r"^layer 3: more than 3 entries$"):
        _read_tar(data, max_entries=3)


class Plain:
    def __init__(self) -> None:
        self.got: list[tuple[int, str, bytes]] = []

    def wants(self, path: str, size: int) -> bool:
        return path != "/skip"

    def take(self, layer: int, path: str, data: bytes) -> None:
        self.got.append((layer, path, data))


class Sniffer(Plain):
    head_size = 4

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[tuple[str, bytes]] = []

    def wants_head(self, path: str, head: bytes) -> bool:
        self.heads.append((path, head))
        return head.startswith(b"ELF")


class Streamer(Sniffer):
    def __init__(self) -> None:
        super().__init__()
        self.streams: list[tuple[int, str, int, bytes, bytes]] = []

    def take_stream(self, layer: int, path: str, size: int, head: bytes,
                    read: Callable[[int], bytes]) -> None:
        self.streams.append((layer, path, size, head, read(2) + b"|" + read(100)))


FILES = _tar(("skip", "ELF-no", "0"), ("k/elf", "ELF-kept", "0"), ("k/text", "plain", "0"),
             ("elf", "ELF-big", "0"), ("text", "plain text", "0"), ("ELF", "ELF", "0"))


def test_a_plain_sink_takes_every_file_it_wants_whole() -> None:
    sink = Plain()
    entries, _, _ = _read_tar(FILES, wanted=["/k/*"], sink=sink)
    assert sink.got == [(3, "/k/elf", b"ELF-kept"), (3, "/k/text", b"plain"),
                        (3, "/elf", b"ELF-big"), (3, "/text", b"plain text"), (3, "/ELF", b"ELF")]
    assert [e.content for e in entries[:3]] == [None, b"ELF-kept", b"plain"]


def test_a_sniffing_sink_sees_heads_and_takes_the_files_it_chooses() -> None:
    sink = Sniffer()
    _read_tar(FILES, wanted=["/k/*"], sink=sink)
    assert sink.heads == [("/k/elf", b"ELF-"), ("/k/text", b"plai"), ("/elf", b"ELF-"),
                          ("/text", b"plai"), ("/ELF", b"ELF")]
    assert sink.got == [(3, "/k/elf", b"ELF-kept"), (3, "/elf", b"ELF-big"), (3, "/ELF", b"ELF")]


def test_a_streaming_sink_reads_the_rest_itself_after_the_head() -> None:
    sink = Streamer()
    _read_tar(FILES, wanted=["/k/*"], sink=sink)
    assert sink.streams == [(3, "/elf", 7, b"ELF-", b"bi|g")]
    # Kept bytes are handed whole; a file no longer than its head needs no stream.
    assert sink.got == [(3, "/k/elf", b"ELF-kept"), (3, "/ELF", b"ELF")]


def test_bytes_a_sink_leaves_unread_are_skipped_to_the_next_member() -> None:
    class Lazy(Streamer):
        def take_stream(self, layer: int, path: str, size: int, head: bytes,
                        read: Callable[[int], bytes]) -> None:
            self.streams.append((layer, path, size, head, b""))

    sink = Lazy()
    entries, _, _ = _read_tar(FILES, wanted=["/text"], sink=sink)
    assert [e.path for e in entries][-2:] == ["/text", "/ELF"]
    assert entries[-2].content == b"plain text"


def test_layer_errors_name_the_layer() -> None:
    with pytest.raises(UnsafeLayer, match=r"^layer 3: absolute path '/etc' in layer$"):
        _read_tar(_tar(("/etc", "x", "0")))
    with pytest.raises(UnsafeLayer, match=r"^layer 3: truncated tar header$"):
        _read_tar(_tar(("a", "x", "0"))[:300])


def test_a_matching_sink_is_told_whether_the_globs_matched() -> None:
    class Matching(Plain):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[tuple[str, bool]] = []

        def wants_matched(self, path: str, size: int, matched: bool) -> bool:
            self.asked.append((path, matched))
            return False

    sink = Matching()
    _read_tar(_tar(("k/a", "1", "0"), ("b", "2", "0")), wanted=["/k/*"], sink=sink)
    assert sink.asked == [("/k/a", True), ("/b", False)] and sink.got == []


def test_regular_is_what_lookup_gives_for_a_file_right_there(tmp_path: Path) -> None:
    """``View.regular`` (RECORD checks' fast path) answers only where ``lookup`` would give
    the file at that very path; for anything else it says None and ``lookup`` decides."""
    tree = tree_of(
        tmp_path,
        [file("a/kept", "kept"), file("a/plain", "12345"), symlink("a/link", "plain"),
         hardlink("a/hard", "a/plain"), directory("a/dir"), symlink("b", "a"),
         file("a/gone", "x"), file("a/later", "old")],
        [whiteout("a/gone"), file("a/later", "newer")],
        globs=["/a/kept"],
    )
    final, first = tree.view(), tree.view(upto=0)
    assert final.regular("/a/kept") == (0, 4, b"kept")
    assert final.regular("/a/plain") == (0, 5, None)
    assert final.regular("/a/later") == (1, 5, None) and first.regular("/a/later") == (0, 3, None)
    assert final.regular("/a/gone") is None and first.regular("/a/gone") == (0, 1, None)
    for path in ("/a/link", "/a/hard", "/a/dir", "/b/plain", "/a/none", "/a"):
        assert final.regular(path) is None, path
    paths = ["/a/kept", "/a/plain", "/a/later", "/a/gone", "/a/link", "/a/hard", "/b/plain"]
    for view in (final, first):
        for path in paths:
            found, entry = view.regular(path), view.lookup(path)
            if found is not None:
                assert entry is not None and entry.path == path
                assert found == (entry.layer, entry.size, entry.content)
