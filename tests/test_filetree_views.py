"""Views of the file tree as of a layer, and lookups through links, in the corners the
mutation run of ``filetree/tree.py`` found unchecked: a path deleted after it was written
twice, a view before the last layer seeing a deletion, a link that is the very first entry,
a link with an empty target, a leading "//", files whose bytes were never looked for."""

from __future__ import annotations

from pathlib import Path

from hullcheck.filetree import GlobSet
from hullcheck.image.writer import directory, file, symlink, whiteout
from tests.fixtures.images import tree_of

ALL = ["/**"]


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
