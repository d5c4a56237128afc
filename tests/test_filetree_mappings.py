"""The file tree's lookups that catalogers and the secret scanner use besides views: the
final view and the history as mappings, the file a given layer wrote, the number of versions
(each checked on a real image with whiteouts, a replaced file, a directory and a link)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.filetree import FileTree
from hullcheck.image.writer import directory, file, symlink, whiteout
from tests.fixtures.images import tree_of


@pytest.fixture
def tree(tmp_path: Path) -> FileTree:
    return tree_of(
        tmp_path,
        [directory("etc"), file("etc/a", "one"), file("etc/gone", "g"), file("bin/x", "x1")],
        [file("etc/a", "two"), whiteout("etc/gone"), symlink("bin/y", "x"),
         directory("srv")],
        [file("srv/data", "d")],
        globs=["/**"])


def test_the_final_view_as_a_mapping(tree: FileTree) -> None:
    final = tree.final
    paths = sorted(final)
    # /bin was only implied by the files below it: no entry of its own.
    assert paths == ["/bin/x", "/bin/y", "/etc", "/etc/a", "/srv", "/srv/data"]
    assert len(final) == len(paths) == 6
    assert "/etc/a" in final and "/etc/gone" not in final and "/nowhere" not in final
    assert "/bin" not in final
    number: object = 7
    assert number not in final  # only paths are keys
    assert final["/etc/a"].content == b"two" and final["/etc/a"].layer == 1
    assert final.get("/etc/a") == final["/etc/a"]
    assert final.get("/etc/gone") is None
    sentinel = final["/bin/x"]
    assert final.get("/etc/gone", sentinel) is sentinel
    with pytest.raises(KeyError) as missing:
        final["/etc/gone"]
    assert missing.value.args == ("/etc/gone",)
    assert {p: e.path for p, e in final.items()} == {p: p for p in paths}


def test_the_history_as_a_mapping(tree: FileTree) -> None:
    versions = tree.versions
    number: object = 7
    assert "/etc/gone" in versions and "/nowhere" not in versions and number not in versions
    gone = versions["/etc/gone"]
    assert [(layer, e is not None) for layer, e in gone] == [(0, True), (1, False)]
    assert [(layer, e.content if e else None) for layer, e in versions["/etc/a"]] == \
        [(0, b"one"), (1, b"two")]
    assert versions.get("/nowhere") is None
    assert versions.get("/nowhere", []) == []
    with pytest.raises(KeyError) as missing:
        versions["/nowhere"]
    assert missing.value.args == ("/nowhere",)
    paths = sorted(versions)
    assert "/etc/gone" in paths and "/srv/data" in paths and len(versions) == len(paths)
    assert dict(versions.items()).keys() == set(paths)


def test_the_file_a_layer_wrote(tree: FileTree) -> None:
    first = tree.written_by("/etc/a", 0)
    second = tree.written_by("/etc/a", 1)
    assert first is not None and first.content == b"one" and first.layer == 0
    assert second is not None and second.content == b"two" and second.layer == 1
    assert tree.written_by("/etc/a", 2) is None  # layer 2 did not write it
    assert tree.written_by("/etc/gone", 1) is None  # a whiteout is no file
    assert tree.written_by("/bin/y", 1) is None  # nor a link
    assert tree.written_by("/srv", 1) is None  # nor a directory
    assert tree.written_by("/nowhere", 0) is None
    gone = tree.written_by("/etc/gone", 0)
    assert gone is not None and gone.content == b"g" and not tree.is_visible(gone)


def test_the_number_of_versions(tree: FileTree) -> None:
    # Every entry a layer wrote, not its whiteouts nor implied parents: layer 0 wrote 4
    # (etc, etc/a, etc/gone, bin/x), layer 1 three (etc/a, bin/y, srv), layer 2 one.
    assert tree.entry_count() == sum(1 for _ in tree.all_entries()) == 8


def test_the_first_entry_of_the_first_layer_is_found(tmp_path: Path) -> None:
    # Entry refs start at 0: the very first file the first layer wrote is a file like others.
    tree = tree_of(tmp_path, [file("first", "1"), file("etc/second", "2")],
                   [file("etc/third", "3")], globs=["/**"])
    first = tree.written_by("/first", 0)
    assert first is not None and first.content == b"1" and first.ref == 0
    assert tree.is_visible(first) and tree.deleted_at(first) is None
    assert "/first" in tree.final and tree.final["/first"] == first
    assert tree.view().lookup("/first") == first and tree.view().read("/first") == b"1"


def test_the_paths_of_the_regular_files_a_container_sees(tree: FileTree) -> None:
    # Not directories, links or what a later layer deleted; the root's files too.
    assert sorted(tree.file_paths()) == ["/bin/x", "/etc/a", "/srv/data"]


def test_a_file_at_the_root_is_listed_with_one_slash(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, [file("top", "t"), symlink("link", "top"), file("d/f", "f")],
                   globs=["/**"])
    assert sorted(tree.file_paths()) == ["/d/f", "/top"]
