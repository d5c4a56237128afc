"""A RECORD-listed file now a directory is ``record:modified`` whether the directory has an
entry of its own or only the files below it imply it (a container sees a directory either
way), and ``record:missing`` once a whiteout deleted it; ``View.below`` and
``View.file_layers``, which the check uses, against the tree's plain lookups."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from hullcheck import filetree
from hullcheck.catalog import python as py
from hullcheck.catalog.python import PythonInstalledCataloger
from hullcheck.catalog.streaming import RecordSpec
from hullcheck.cli.main import main
from hullcheck.filetree import FileTree, Kind
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, directory, file, hardlink, opaque, symlink, whiteout
from tests.fixtures.images import build, inventory_of, tree_of, write

SITE = "usr/lib/python3/dist-packages"
META = f"/{SITE}/x-1.dist-info"
X = f"/{SITE}/x/x.py"
CATS = (PythonInstalledCataloger(),)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _dist(*rows: str) -> list[Entry]:
    record = "\n".join([*rows, "x-1.dist-info/METADATA,,", "x-1.dist-info/RECORD,,", ""])
    return [file(f"{SITE}/x-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: x\nVersion: 1\n"),
            file(f"{SITE}/x-1.dist-info/RECORD", record)]


X_PY, Y_PY = b"x = 1\n", b"y = 1\n"
ROW = f"x/x.py,sha256={_b64(X_PY)},6"
OTHER = f"x/y.py,sha256={_b64(Y_PY)},6"  # a file that stays: the check goes on after


def _extras(tmp: Path, *layers: list[Entry]) -> dict[str, str]:
    (pkg,) = inventory_of(tmp, CATS, *layers, extra_globs=("/**/*.py",)).packages
    return {k: v for k, v in pkg.extras if k.startswith("record:")}


def _verdict() -> dict[str, str]:
    return {"record:checked": "2 files: 1 by hash, 0 by size only", "record:modified": f"1: {X}"}


MISSING = {"record:checked": "2 files: 1 by hash, 0 by size only", "record:missing": f"1: {X}"}
Y = file(f"{SITE}/x/y.py", "y = 1\n")


@pytest.mark.parametrize("shape", [
    # The tar has x/x.py/inner and no x/x.py/ entry: the runtime makes the directory.
    [Y, file(f"{SITE}/x/x.py/inner", "i")],
    # The same, deeper: only x/x.py/a/b/inner implies x/x.py.
    [Y, file(f"{SITE}/x/x.py/a/b/inner", "i")],
    # With a directory entry of its own.
    [Y, directory(f"{SITE}/x/x.py"), file(f"{SITE}/x/x.py/inner", "i")],
    # An empty directory with its entry.
    [Y, directory(f"{SITE}/x/x.py")],
])
def test_a_listed_file_that_is_a_directory_is_modified(tmp_path: Path, shape: list[Entry]) -> None:
    assert _extras(tmp_path, [*_dist(ROW, OTHER), *shape]) == _verdict()


def test_a_file_replaced_by_a_directory_only_files_below_imply_is_modified(tmp_path: Path) -> None:
    """A later layer deletes the file and writes below its name, no directory entry."""
    first = [*_dist(ROW, OTHER), Y, file(X[1:], "x = 1\n")]
    later = [whiteout(X[1:]), file(f"{X[1:]}/inner", "i")]
    assert _extras(tmp_path / "a", first) == {
        "record:checked": "2 files: 2 by hash, 0 by size only"}
    assert _extras(tmp_path / "b", first, later) == _verdict()


@pytest.mark.parametrize("later", [
    [whiteout(X[1:])],  # the implied directory deleted, and all below it
    [opaque(f"{SITE}/x"), Y],  # its parent made opaque: y.py written again, x.py/ gone
])
def test_a_deleted_directory_is_missing(tmp_path: Path, later: list[Entry]) -> None:
    first = [*_dist(ROW, OTHER), Y, file(f"{X[1:]}/a/inner", "i"), file(f"{X[1:]}/b", "b")]
    assert _extras(tmp_path, first, later) == MISSING


def test_an_implied_directory_behind_a_symlinked_parent_is_modified(tmp_path: Path) -> None:
    """The row's parent is a link: the directory is looked for where the link leads."""
    layers = [*_dist(ROW, OTHER), symlink(f"{SITE}/x", "/srv/x"), file("srv/x/y.py", "y = 1\n"),
              file("srv/x/x.py/inner", "i")]
    assert _extras(tmp_path, layers) == _verdict()


def test_each_view_says_what_it_sees_below(tmp_path: Path) -> None:
    """Layer 0 implies x.py/ by a file below it, layer 1 deletes it: as of layer 0 it is
    modified, in the final view missing, whichever is asked first (the answers are kept
    per layer)."""
    tree = tree_of(tmp_path, [*_dist(ROW, OTHER), Y, file(f"{X[1:]}/inner", "i")],
                   [whiteout(X[1:])], globs=(*PythonInstalledCataloger.needs, "/**/METADATA"))
    data = tree.view().read(f"{META}/RECORD")
    assert data is not None
    final = py.verify_record(data, META, tree.view())
    early = py.verify_record(data, META, tree.view(upto=0))
    assert (final.missing, final.modified) == ((X,), ())
    assert (early.missing, early.modified) == ((), (X,))
    again = py.verify_record(data, META, tree.view())
    assert again == final


def test_judged_rows_and_the_cli_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through ``sbom`` (its RECORDs judged in their layer): the implied directory is
    modified, and reported as an unknown too."""
    first = [*_dist(ROW, OTHER), Y, file(X[1:], "x = 1\n")]
    later = [whiteout(X[1:]), file(f"{X[1:]}/inner", "i")]
    ref = write(build(first, later), tmp_path / "img")
    image = open_image(ref)
    tree = filetree.build(image, PythonInstalledCataloger.needs, sinks=[RecordSpec()])
    digests = RecordSpec.merge(tree.results("record-digests"))
    view = tree.view()
    judged = py.judged_record(META, view, digests)
    assert judged is not None
    data = view.read(f"{META}/RECORD")
    assert data is not None
    check = py.verify_record(data, META, view, digests, judged)
    assert (check.by_hash, check.modified, check.missing) == (1, (X,), ())
    assert main(["sbom", ref, "-o", "json", "--cache-dir", str(tmp_path / "cache")]) == 0
    doc = json.loads(capsys.readouterr().out)
    (pkg,) = [p for p in doc["packages"] if p["name"] == "x"]
    assert dict(pkg["extras"])["record:modified"] == f"1: {X}"


# ---------------------------------------------------------------------------------------
# The tree's side

def _shapes() -> list[list[Entry]]:
    """Layers writing, deleting, implying and replacing directories, links and files."""
    return [
        [file("f", "0"), file("a/b/c", "1"), directory("d"), file("d/e", "2"),
         file("a/bc/x", "3"), file("p/q/r/s", "4"), symlink("l", "a/b"), file("g/h", "5"),
         file("t/u", "6"), hardlink("hl", "f"), file("k/m/n", "7"), file("r", "13")],
        [whiteout("a/b"), file("a/bc/y", "8"), file("p/q/r/s", "9"), whiteout("t/u"),
         file("f2", "10"), whiteout("k/m"), file("r", "14")],  # r: written twice, still there
        [opaque("g"), file("w/v", "11"), file("a/b/c2", "12"),
         directory("t/u"), whiteout("p/q")],
    ]


def _every_path(tree: FileTree) -> list[str]:
    out = {p for p, _ in tree._walk()} | set(tree._dirs)
    out |= {p + suffix for p in list(out) for suffix in ("/nothing", "x")}
    return sorted(out | {"/", "/nowhere/at/all", "/f/under-a-file"})


def test_file_layers_gives_regulars_layer_in_every_view_and_order(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, *_shapes(), globs=())
    paths = _every_path(tree)
    shuffled = paths[:]
    random.Random(7).shuffle(shuffled)
    for upto in (0, 1, 2):
        view = tree.view(upto=upto)
        for order in (paths, shuffled, sorted(paths, key=lambda p: p[::-1])):
            layer_of = view.file_layers()
            got = [layer_of(p) for p in order]
            want = [r[0] if (r := view.regular(p)) is not None else -1 for p in order]
            assert got == want
    # It looked at real answers: files of each layer, and -1 for the rest.
    layer_of = tree.view().file_layers()
    assert [layer_of(p) for p in ("/f", "/a/bc/x", "/a/bc/y", "/a/b/c2", "/w/v", "/l", "/d",
                                  "/hl", "/t/u", "/a/b/c", "/nowhere", "/r")] == \
        [0, 0, 1, 2, 2, -1, -1, -1, -1, -1, -1, 1]


def test_below_is_whether_any_path_under_it_is_there(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, *_shapes(), globs=())
    paths = _every_path(tree)
    for upto in (2, 0, 1, 2):  # the final view first and again: kept answers per layer
        view = tree.view(upto=upto)
        for d in paths:
            prefix = "/" if d == "/" else d + "/"
            want = any(view.entry(p) is not None for p in paths
                       if p.startswith(prefix) and p != d)
            assert view.below(d) is want, (upto, d)
    final, first = tree.view(), tree.view(upto=0)
    assert [final.below(p) for p in ("/a/b", "/k", "/k/m", "/t", "/t/u", "/p", "/g", "/f")] == \
        [True, False, False, True, False, False, False, False]
    assert [first.below(p) for p in ("/a/b", "/k", "/k/m", "/t", "/p/q", "/g")] == \
        [True, True, True, True, True, True]


def test_a_layer_applied_after_a_question_is_seen(tmp_path: Path) -> None:
    """The kept answers are the tree's as it was: a layer merged later is seen."""
    done = tree_of(tmp_path, [file("a/b/c", "1")], [whiteout("a/b")], globs=())
    tree = FileTree(done.layers)
    tree._apply(done._indexes[0])
    assert tree.view().below("/a/b") and tree.view().below("/a")
    tree._apply(done._indexes[1])
    assert not tree.view().below("/a/b")
    assert not tree.view().below("/a")
    assert tree.view(upto=0).below("/a/b")


def test_the_first_entry_of_the_first_layer_counts(tmp_path: Path) -> None:
    """Its ref is 0 (row 0, layer 0): visible all the same, below and to ``file_layers``."""
    tree = tree_of(tmp_path, [file("a/only", "1")], [file("b", "2")], globs=())
    assert tree.view().file_layers()("/a/only") == 0
    for view in (tree.view(), tree.view(upto=0)):
        assert view.below("/a") and view.below("/")
        assert not view.below("/a/only") and not view.below("/b")


def test_written_by_gives_a_hard_link_only_when_asked(tmp_path: Path) -> None:
    """(The runner asks for the hard links a layer wrote under the binary globs; the RECORD
    digests' mapping asks for files only.)"""
    tree = tree_of(tmp_path, *_shapes(), globs=())
    assert tree.written_by("/hl", 0) is None
    link = tree.written_by("/hl", 0, links=True)
    assert link is not None and (link.path, link.kind, link.link) == ("/hl", Kind.HARDLINK, "/f")
    for links in (False, True):
        found = tree.written_by("/f", 0, links=links)
        assert found is not None and found.kind is Kind.FILE
        assert tree.written_by("/r", 0, links=links) is not None
        assert tree.written_by("/l", 0, links=links) is None  # a symlink is neither
